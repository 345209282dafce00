import 'reflect-metadata';
import { type INestApplication, Logger, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Express, NextFunction, Request, Response } from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEMO_APP, DEMO_WEB_APP, WechatEmulator } from 'nestjs-wechat-auth-emulator';
import { AppModule } from './app.module.js';
import {
  DEMO_EMULATOR_BASE_PATH,
  loadSampleConfig,
  resolveSampleConfig,
  type SampleConfig,
  type SampleEnvConfig,
} from './config/sample-config.js';

/** Options of {@link startSampleApp}. */
export interface StartSampleAppOptions {
  /** The environment to read the settings from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The interface to bind. Default: all interfaces (what a container or a load balancer needs). */
  host?: string;
  /** Nest's logger, or `false` to silence it. Default: Nest's console logger without debug output. */
  logger?: LoggerService | LogLevel[] | false;
}

/** A running sample app. */
export interface SampleApp {
  app: INestApplication;
  /** The server the app listens on. */
  server: Server;
  /** The settings it runs with (secrets included: do not log this object). */
  config: SampleConfig;
  /** `http://localhost:<port>`: what a person opens (the callback's origin when WECHAT_CALLBACK_URL is unset). */
  url: string;
  /** The in-process emulator in demo mode, else null. */
  emulator: WechatEmulator | null;
  /** Graceful stop: drain requests, close Redis, close the emulator. */
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string | undefined): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** The address this process uses to reach itself (the demo app calls its own emulator over HTTP, like WeChat). */
function loopbackHostFor(address: AddressInfo): string {
  if (address.address === '::' || address.address === '0.0.0.0') return '127.0.0.1';
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}

/** Answers 503 until the app is initialized: the port is bound first so that demo mode knows its own URL. */
function startupGate(isReady: () => boolean) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    if (isReady()) return next();
    res.setHeader('Retry-After', '1');
    res.setHeader('Connection', 'close');
    res.status(503).json({ statusCode: 503, error: 'Service Unavailable', message: 'The app is starting; retry shortly.' });
  };
}

/**
 * Starts the sample app: reads and validates the settings, binds the port, mounts the emulator in demo mode (on the
 * same server, before Nest's routes), and initializes Nest. Used by `main.ts` and by the e2e tests alike.
 *
 * The port is bound before Nest is created because in demo mode the WeChat origins the library is configured with
 * are this server's own address, which is only known once bound when PORT is 0. Requests arriving in between get 503.
 */
export async function startSampleApp(options: StartSampleAppOptions = {}): Promise<SampleApp> {
  const envConfig: SampleEnvConfig = loadSampleConfig(options.env ?? process.env, DEMO_APP, DEMO_WEB_APP);

  const adapter = new ExpressAdapter();
  const express = adapter.getInstance<Express>();
  express.disable('x-powered-by');
  if (envConfig.trustProxy !== undefined) express.set('trust proxy', envConfig.trustProxy);
  let ready = false;
  express.use(startupGate(() => ready));

  const emulator =
    envConfig.mode === 'demo'
      ? new WechatEmulator({ basePath: DEMO_EMULATOR_BASE_PATH, duplicateCallback: { enabled: false, abortAfterMs: 15 } })
      : null;
  if (emulator) {
    // Mounted without a path so the emulator sees the full URL (it routes under its own basePath) and answers
    // before any of Nest's middleware or routes.
    express.use((req: Request, res: Response, next: NextFunction) => emulator.handle(req, res, next));
  }

  const server = createServer(express);
  let app: INestApplication | undefined;
  try {
    const address = await listen(server, envConfig.port, options.host);
    const config = resolveSampleConfig(envConfig, { port: address.port, loopbackHost: loopbackHostFor(address) });

    app = await NestFactory.create(AppModule.register({ config, emulator, server }), adapter, {
      // Demo mode keeps the terminal to the one line that matters; production logs what operators expect.
      logger: options.logger ?? (envConfig.mode === 'demo' ? ['warn', 'error', 'fatal'] : ['log', 'warn', 'error', 'fatal']),
      // Throw instead of exiting the process, so that main.ts prints one clear message and tests can assert.
      abortOnError: false,
      // During shutdown, requests on kept-alive connections get 503 + Connection: close instead of a dead socket.
      return503OnClosing: true,
    });
    // The adapter created a server of its own; it never listens. Hand it ours so app.close() closes the right one.
    adapter.setHttpServer(server);
    app.useSecurityHeaders({
      contentSecurityPolicy: {
        directives: {
          // Pages are self-contained: inline CSS, no scripts; avatars are https (WeChat) or data: (the emulator).
          defaultSrc: ["'self'"],
          imgSrc: ["'self'", 'data:', 'https:'],
          scriptSrc: ["'none'"],
          // Over plain http (demo, localhost) upgrading would break every link and form.
          upgradeInsecureRequests: config.secureCookies ? true : null,
        },
      },
      // No Referer anywhere: a callback URL carries the one-time code.
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: config.secureCookies,
    });
    // Refuses cross-site state-changing requests (POST /auth/logout) by Sec-Fetch-Site / Origin.
    app.enableCsrfProtection();
    await app.init();
    ready = true;

    const url = config.publicOrigin;
    const logger = new Logger('Sample');
    if (config.mode === 'demo') {
      if (options.logger !== false) {
        // Plain console output: the newcomer's one line to read, whatever Nest's log level.
        console.log(
          `\nDemo mode: open ${url}\n` +
            `  WeChat is played by the built-in emulator at ${config.oauthBaseURL} (no Official Account needed):\n` +
            '  the Official Account login inside WeChat, and the website QR login for desktop browsers.\n' +
            '  Set WECHAT_APP_ID, WECHAT_APP_SECRET and SESSION_SECRET to use a real Official Account. Ctrl-C stops.\n',
        );
      }
    } else {
      logger.log(
        `Listening on port ${config.port}; WeChat callback ${config.callbackURL}; ` +
          `${config.web ? `website QR login callback ${config.web.callbackURL}; ` : ''}` +
          `code exchange ${config.redisURL ? 'shared through Redis' : 'in-memory (single instance)'}`,
      );
    }
    const started = app;
    return { app: started, server, config, url, emulator, close: () => started.close() };
  } catch (error) {
    await app?.close().catch(() => undefined);
    if (server.listening) await new Promise((resolve) => server.close(resolve));
    await emulator?.close();
    throw error;
  }
}
