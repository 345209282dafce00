import { type DynamicModule, Global, type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { Server } from 'node:http';
import { WechatAuthModule, type WechatAuthOptions } from 'nestjs-wechat-auth';
import type { WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { AuthController } from './auth/auth.controller.js';
import { WEB_STRATEGY, WebAuthController } from './auth/web-auth.controller.js';
import { WEB_CALLBACK_PATH, type SampleConfig } from './config/sample-config.js';
import { SAMPLE_CONFIG } from './config/sample-config.tokens.js';
import { DemoCountersService } from './demo/demo-counters.service.js';
import { DemoController } from './demo/demo.controller.js';
import { DEMO_EMULATOR } from './demo/demo.tokens.js';
import { CallbackCounterMiddleware, SampleStats } from './demo/sample-stats.service.js';
import { HealthController } from './health/health.controller.js';
import { HttpErrorFilter } from './http/http-error.filter.js';
import { PagesController } from './pages/pages.controller.js';
import { GracefulShutdown, SAMPLE_HTTP_SERVER } from './server/graceful-shutdown.service.js';
import { SessionGuard } from './session/session.guard.js';
import { SessionService } from './session/session.service.js';

/** What the app is started with: the resolved settings, the demo emulator (or null) and the server it listens on. */
export interface SampleRuntime {
  config: SampleConfig;
  emulator: WechatEmulator | null;
  server: Server;
}

/** Makes the runtime injectable everywhere, including into `WechatAuthModule.forRootAsync`'s factory. */
@Global()
@Module({})
class SampleRuntimeModule {
  static register(runtime: SampleRuntime): DynamicModule {
    return {
      module: SampleRuntimeModule,
      providers: [
        { provide: SAMPLE_CONFIG, useValue: runtime.config },
        { provide: DEMO_EMULATOR, useValue: runtime.emulator },
        { provide: SAMPLE_HTTP_SERVER, useValue: runtime.server },
      ],
      exports: [SAMPLE_CONFIG, DEMO_EMULATOR, SAMPLE_HTTP_SERVER],
    };
  }
}

/** What both WeChat apps share: WeChat's origins, the timeout, where a login lands, the code-exchange coordination and result TTL. */
function sharedWechatOptions(config: SampleConfig): Partial<WechatAuthOptions> {
  return {
    oauthBaseURL: config.oauthBaseURL,
    apiBaseURL: config.apiBaseURL,
    ...(config.httpTimeoutMs ? { httpTimeoutMs: config.httpTimeoutMs } : {}),
    defaultReturnTo: '/profile',
    codeExchange: {
      ...(config.redisURL ? { redis: config.redisURL } : {}),
      ...(config.redisKeyPrefix ? { keyPrefix: config.redisKeyPrefix } : {}),
      ...(config.resultTtlMs ? { resultTtlMs: config.resultTtlMs } : {}),
    },
  };
}

/** The sample app: WeChat login through the library's guard, the app's own stateless session, a page and an API. */
@Module({})
export class AppModule implements NestModule {
  static register(runtime: SampleRuntime): DynamicModule {
    const withWebsiteApp = runtime.config.web !== undefined;
    return {
      module: AppModule,
      imports: [
        SampleRuntimeModule.register(runtime),
        // The Official Account: the login inside WeChat (strategy "wechat").
        WechatAuthModule.forRootAsync({
          inject: [SAMPLE_CONFIG],
          useFactory: (config: SampleConfig): WechatAuthOptions => ({
            appId: config.appId,
            appSecret: config.appSecret,
            callbackURL: config.callbackURL,
            scope: config.scope,
            ...sharedWechatOptions(config),
          }),
        }),
        // The Open Platform website app: the QR login on desktop browsers (strategy "wechat-web"), side by side.
        ...(withWebsiteApp
          ? [
              WechatAuthModule.forRootAsync({
                inject: [SAMPLE_CONFIG],
                useFactory: (config: SampleConfig): WechatAuthOptions => ({
                  flow: 'website-qr',
                  strategyName: WEB_STRATEGY,
                  appId: config.web!.appId,
                  appSecret: config.web!.appSecret,
                  callbackURL: config.web!.callbackURL,
                  ...sharedWechatOptions(config),
                }),
              }),
            ]
          : []),
      ],
      controllers: [
        PagesController,
        AuthController,
        ...(withWebsiteApp ? [WebAuthController] : []),
        HealthController,
        ...(runtime.config.mode === 'demo' ? [DemoController] : []),
      ],
      providers: [
        { provide: APP_FILTER, useClass: HttpErrorFilter },
        SessionService,
        SessionGuard,
        SampleStats,
        DemoCountersService,
        GracefulShutdown,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(CallbackCounterMiddleware).forRoutes(
      { path: 'auth/wechat/callback', method: RequestMethod.GET },
      { path: WEB_CALLBACK_PATH.slice(1), method: RequestMethod.GET },
    );
  }
}
