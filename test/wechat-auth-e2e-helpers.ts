/**
 * Shared pieces of the WechatAuthModule e2e tests: a tiny Nest app with login and callback routes, a cookie-keeping
 * "browser" over real HTTP (fetch, manual redirects), and helpers to walk the emulator's consent page.
 */
import 'reflect-metadata';
import { Controller, Get, Module, Redirect, Res, UseGuards } from '@nestjs/common';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Response } from 'express';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WechatAuth, WechatAuthGuard, WechatAuthModule, WechatReturnTo, WechatUser } from 'nestjs-wechat-auth';
import type { WechatAuthOptions, WechatAuthUser } from 'nestjs-wechat-auth';
import { DEMO_APP } from 'nestjs-wechat-auth-emulator';
import { unescapeHtml } from './support/html-text.js';

/**
 * A second Official Account, bound to the same Open Platform account as DEMO_APP (the emulator knows it when its
 * `apps` include it): the "mp-b" of the tests with two apps in one Nest app.
 */
export const SECOND_APP = { appId: 'wx00112233445566ff', appSecret: 'SecondAppSecret0123456789abcdefX', openPlatformBound: true };

/** A free loopback port, so that callbackURL can name the app's port before the app is built. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** What the test callback exposes about the signed-in user (the app would set its session here). */
export interface SignedInUser extends WechatAuthUser {
  hasAccessToken: boolean;
  hasRefreshToken: boolean;
}

/** Puts the signed-in user in an `X-Test-User` header of the callback's answer, where {@link Answer.user} reads it. */
export function exposeUser(res: Response, user: WechatAuthUser): void {
  const exposed: SignedInUser = { ...user, hasAccessToken: user.token.accessToken.length > 0, hasRefreshToken: user.token.refreshToken.length > 0 };
  res.setHeader('X-Test-User', Buffer.from(JSON.stringify(exposed), 'utf8').toString('base64url'));
}

/** Login and callback routes as an app writes them, for the default strategy. */
@Controller('auth/wechat')
export class DefaultAuthController {
  @Get()
  @UseGuards(WechatAuthGuard)
  login(): void {}

  @Get('base')
  @UseGuards(WechatAuthGuard)
  @WechatAuth({ scope: 'snsapi_base', returnTo: '/base-landing' })
  loginBase(): void {}

  @Get('popup')
  @UseGuards(WechatAuthGuard)
  @WechatAuth({ forcePopup: true })
  loginPopup(): void {}

  @Get('callback')
  @UseGuards(WechatAuthGuard)
  @Redirect()
  callback(
    @WechatUser() user: WechatAuthUser,
    @WechatReturnTo() returnTo: string,
    @Res({ passthrough: true }) res: Response,
  ): { url: string } {
    exposeUser(res, user);
    return { url: returnTo };
  }
}

/** Routes for two apps in one Nest app: strategies "mp-a" and "mp-b". */
@Controller('two')
export class TwoAppsController {
  @Get('a')
  @UseGuards(WechatAuthGuard)
  @WechatAuth({ strategy: 'mp-a' })
  loginA(): void {}

  @Get('b')
  @UseGuards(WechatAuthGuard)
  @WechatAuth({ strategy: 'mp-b', scope: 'snsapi_base' })
  loginB(): void {}

  @Get('a/callback')
  @UseGuards(WechatAuthGuard)
  @WechatAuth({ strategy: 'mp-a' })
  @Redirect()
  callbackA(@WechatUser() user: WechatAuthUser, @WechatReturnTo() returnTo: string, @Res({ passthrough: true }) res: Response) {
    exposeUser(res, user);
    return { url: returnTo };
  }

  @Get('b/callback')
  @UseGuards(WechatAuthGuard)
  @WechatAuth({ strategy: 'mp-b' })
  @Redirect()
  callbackB(@WechatUser() user: WechatAuthUser, @WechatReturnTo() returnTo: string, @Res({ passthrough: true }) res: Response) {
    exposeUser(res, user);
    return { url: returnTo };
  }
}

/** A running test app. */
export interface TestApp {
  app: INestApplication;
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  close(): Promise<void>;
}

/**
 * Builds and starts a Nest app importing `imports` (typically WechatAuthModule.forRoot...) with the given
 * controllers, on `port` (from {@link freePort}) or a random one.
 */
export async function startApp(
  imports: Array<DynamicModule | Type<unknown>>,
  options: { controllers?: Type<unknown>[]; port?: number } = {},
): Promise<TestApp> {
  @Module({ imports, controllers: options.controllers ?? [DefaultAuthController] })
  class TestAppModule {}

  const moduleRef = await Test.createTestingModule({ imports: [TestAppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(options.port ?? 0, '127.0.0.1');
  const url = await app.getUrl();
  const origin = url.replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  return { app, origin, close: () => app.close() };
}

/**
 * Options of the demo Official Account (DEMO_APP) whose WeChat is the emulator at `emulatorOrigin`, with its callback
 * at `/auth/wechat/callback` of the app on `port` (the {@link DefaultAuthController}'s route). `extra` overrides.
 */
export function demoAppOptions(emulatorOrigin: string, port: number, extra: Partial<WechatAuthOptions> = {}): WechatAuthOptions {
  return {
    appId: DEMO_APP.appId,
    appSecret: DEMO_APP.appSecret,
    callbackURL: `http://127.0.0.1:${port}/auth/wechat/callback`,
    apiBaseURL: emulatorOrigin,
    oauthBaseURL: emulatorOrigin,
    ...extra,
  };
}

/**
 * Starts one Nest app with two Official Accounts registered side by side: DEMO_APP as strategy "mp-a" and
 * {@link SECOND_APP} as "mp-b", each with its own callback under {@link TwoAppsController}'s routes. `extra` applies
 * to both registrations.
 */
export async function startTwoAppsApp(emulatorOrigin: string, extra: Partial<WechatAuthOptions> = {}): Promise<TestApp> {
  const port = await freePort();
  return startApp(
    [
      WechatAuthModule.forRoot({
        ...demoAppOptions(emulatorOrigin, port, extra),
        strategyName: 'mp-a',
        callbackURL: `http://127.0.0.1:${port}/two/a/callback`,
      }),
      WechatAuthModule.forRoot({
        ...demoAppOptions(emulatorOrigin, port, extra),
        appId: SECOND_APP.appId,
        appSecret: SECOND_APP.appSecret,
        strategyName: 'mp-b',
        callbackURL: `http://127.0.0.1:${port}/two/b/callback`,
      }),
    ],
    { port, controllers: [TwoAppsController] },
  );
}

/** One HTTP answer as a browser sees it (redirects are not followed). */
export interface Answer {
  status: number;
  headers: Headers;
  location?: string;
  setCookies: string[];
  text: string;
  json<T = Record<string, unknown>>(): T;
  user(): SignedInUser;
}

/** A browser: keeps cookies per name (one host in these tests), never follows redirects. */
export class Browser {
  readonly cookies = new Map<string, string>();

  cookieHeader(): string | undefined {
    return this.cookies.size === 0 ? undefined : [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async get(url: string, extraHeaders: Record<string, string> = {}): Promise<Answer> {
    const cookie = this.cookieHeader();
    const response = await fetch(url, {
      redirect: 'manual',
      headers: { ...(cookie === undefined ? {} : { cookie }), ...extraHeaders },
    });
    return this.record(response);
  }

  async postForm(url: string, fields: Array<[string, string]>): Promise<Answer> {
    const response = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    return this.record(response);
  }

  private async record(response: globalThis.Response): Promise<Answer> {
    const setCookies = response.headers.getSetCookie();
    for (const header of setCookies) {
      const [pair] = header.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/;\s*Max-Age=0/i.test(header)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    const location = response.headers.get('location') ?? undefined;
    return {
      status: response.status,
      headers: response.headers,
      ...(location === undefined ? {} : { location }),
      setCookies,
      text,
      json: <T>() => JSON.parse(text) as T,
      user: () => {
        const header = response.headers.get('x-test-user');
        if (!header) throw new Error(`no signed-in user in this answer (HTTP ${response.status}: ${text.slice(0, 200)})`);
        return JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as SignedInUser;
      },
    };
  }
}

/** The parts of an authorize URL, checked strictly by the tests. */
export function authorizeParams(location: string): URLSearchParams {
  return new URL(location).searchParams;
}

/** The `state` of an authorize URL. */
export function stateOf(location: string): string {
  const state = authorizeParams(location).get('state');
  if (!state) throw new Error(`no state in ${location}`);
  return state;
}

/**
 * Walks the emulator's consent page like a user: GET the authorize URL (the emulator validates it as WeChat does),
 * then submit the page's form with "Allow" (or "Deny"). Returns the emulator's redirect to the callback.
 */
export async function consent(
  authorizeUrl: string,
  choice: { action: 'allow' | 'deny'; user?: string; snapshot?: boolean } = { action: 'allow' },
): Promise<string> {
  const browser = new Browser();
  const page = await browser.get(authorizeUrl.replace(/#wechat_redirect$/, ''));
  if (page.status !== 200) throw new Error(`authorize page answered ${page.status}: ${page.text.slice(0, 300)}`);
  const action = /<form[^>]*action="([^"]+)"/.exec(page.text)?.[1];
  if (!action) throw new Error('no form on the consent page');
  const fields: Array<[string, string]> = [];
  for (const match of page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields.push([unescapeHtml(match[1]!), unescapeHtml(match[2]!)]);
  }
  fields.push(['user', choice.user ?? 'panda'], ['action', choice.action]);
  if (choice.snapshot) fields.push(['snapshot', 'on']);
  const answer = await browser.postForm(new URL(unescapeHtml(action), authorizeUrl).toString(), fields);
  if (answer.status !== 302 || !answer.location) throw new Error(`consent answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  return answer.location;
}

/** The path + query of a URL on the app (the emulator redirects to the configured callbackURL). */
export function onApp(origin: string, url: string): string {
  const parsed = new URL(url);
  return `${origin}${parsed.pathname}${parsed.search}`;
}
