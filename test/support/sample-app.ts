/**
 * The sample app booted in-process for e2e tests, through the same `startSampleApp` that main.ts uses: in demo mode
 * (the emulator mounted in-process), or production-style with WeChat played by an emulator on its own port.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from '@jest/globals';
import { DEMO_APP, WechatEmulator, type WechatEmulatorOptions } from 'nestjs-wechat-auth-emulator';
import { startSampleApp, type SampleApp } from '../../apps/sample/src/bootstrap.js';
import type { DemoCounters } from '../../apps/sample/src/demo/demo-counters.service.js';

/** A running sample app and the origin the tests send their requests to. */
export interface RunningSampleApp {
  sample: SampleApp;
  /** `http://127.0.0.1:<port>` for an app bound to loopback; `http://localhost:<port>` (its own URL) in demo mode. */
  base: string;
}

/**
 * The environment of a production-style sample app: the demo app's credentials, a fresh session secret, an OS-chosen
 * port, and WeChat's origins pointing at `wechatOrigin` (an emulator). `extra` adds or overrides variables.
 */
export function productionSampleEnv(wechatOrigin: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    WECHAT_APP_ID: DEMO_APP.appId,
    WECHAT_APP_SECRET: DEMO_APP.appSecret,
    WECHAT_OAUTH_BASE_URL: wechatOrigin,
    WECHAT_API_BASE_URL: wechatOrigin,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    ...extra,
  };
}

/** Boots the sample app with `env`, bound to 127.0.0.1 and with Nest's logger silenced. */
export async function startSampleOnLoopback(env: Record<string, string>): Promise<RunningSampleApp> {
  const sample = await startSampleApp({ env, host: '127.0.0.1', logger: false });
  return { sample, base: `http://127.0.0.1:${sample.config.port}` };
}

/** The error the sample app refuses to boot with for `env`; fails the test when it boots (and closes it). */
export async function sampleBootError(env: Record<string, string>): Promise<Error> {
  return startSampleApp({ env, host: '127.0.0.1', logger: false }).then(
    async (started) => {
      await started.close();
      throw new Error('the app booted with an invalid configuration');
    },
    (caught: unknown) => caught as Error,
  );
}

/** A production-style sample app and the emulator on its own port that plays WeChat for it. */
export interface SampleAgainstEmulator extends RunningSampleApp {
  emulator: WechatEmulator;
  /** Closes the app, then the emulator. */
  close(): Promise<void>;
}

/**
 * Starts an emulator (with `emulatorOptions`) on its own port and a production-style sample app against it
 * ({@link productionSampleEnv} plus `extraEnv`), bound to 127.0.0.1. The emulator is closed again if the app fails
 * to boot.
 */
export async function startSampleAgainstEmulator(
  extraEnv: Record<string, string> = {},
  emulatorOptions: WechatEmulatorOptions = {},
): Promise<SampleAgainstEmulator> {
  const emulator = new WechatEmulator(emulatorOptions);
  try {
    const { sample, base } = await startSampleOnLoopback(productionSampleEnv(await emulator.listen(), extraEnv));
    return {
      emulator,
      sample,
      base,
      close: async () => {
        await sample.close();
        await emulator.close();
      },
    };
  } catch (error) {
    await emulator.close();
    throw error;
  }
}

/**
 * Boots the sample app in demo mode before the tests of the describe block (or file) that calls this, and closes it
 * after them. The returned object's fields are set once the block's `beforeAll` hooks have run: read them inside
 * hooks and tests, not at collection time.
 */
export function useDemoSampleApp(): RunningSampleApp {
  const running = {} as RunningSampleApp;
  beforeAll(async () => {
    running.sample = await startSampleApp({ env: { PORT: '0' }, logger: false });
    running.base = `http://localhost:${running.sample.config.port}`;
  });
  afterAll(async () => {
    await running.sample?.close();
  });
  return running;
}

/** The demo page's counters (`GET /demo/counters`) of a sample app in demo mode. */
export async function demoCounters(sample: SampleApp): Promise<DemoCounters> {
  const res = await fetch(`http://127.0.0.1:${sample.config.port}/demo/counters`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as DemoCounters;
}
