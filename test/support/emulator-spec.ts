/**
 * Shared setup of the specs that talk to a WechatEmulator over HTTP (the emulator's own specs and the WeChat API
 * client's): one emulator per spec file, serving on a loopback port, with a clean slate before every test.
 */
import { afterAll, beforeAll, beforeEach } from '@jest/globals';
import type { WechatEmulator } from 'nestjs-wechat-auth-emulator';

/** What a spec learns from, and adds to, {@link serveEmulatorToSpecFile}. */
export interface EmulatorSpecHooks {
  /** Called with the emulator's origin (http://127.0.0.1:<port>) once it listens. */
  listening(origin: string): void;
  /** Runs before each test after the reset, e.g. to set the spec's clock back to its start. */
  beforeEachTest?(): void;
}

/**
 * Serves `emulator` to the spec file that calls this at its top level: it listens before the file's tests and closes
 * after them, and before each test it forgets every code, token, counter, fault and latency (`reset()`) and then
 * runs `hooks.beforeEachTest`.
 */
export function serveEmulatorToSpecFile(emulator: WechatEmulator, hooks: EmulatorSpecHooks): void {
  beforeAll(async () => {
    hooks.listening(await emulator.listen());
  });

  afterAll(async () => {
    await emulator.close();
  });

  beforeEach(() => {
    emulator.reset();
    hooks.beforeEachTest?.();
  });
}

/**
 * A query-string builder over `defaults` (an authorize or QR-login request as an app sends it): `overrides` replace
 * or add parameters, and `order` picks and orders the keys (WeChat matches the parameter order). Values are
 * percent-encoded.
 */
export function queryWithDefaults(defaults: Record<string, string>): (overrides?: Record<string, string>, order?: string[]) => string {
  return (overrides = {}, order) => {
    const params: Record<string, string> = { ...defaults, ...overrides };
    const keys = order ?? Object.keys(params);
    return keys.map((key) => `${key}=${encodeURIComponent(params[key] as string)}`).join('&');
  };
}
