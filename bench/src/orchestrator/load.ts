import { performance } from 'node:perf_hooks';
import { HIT_HEADER, SESSION_COOKIE, type StrategyId } from '../shared/strategies.js';
import { RequestAbortedError, send, type HttpAnswer, type PendingRequest } from './http-client.js';
import type { Rng } from './rng.js';

/** What one simulated browser will do; generated once from the seed and replayed for every strategy. */
export interface BrowserPlan {
  index: number;
  /** Index into the calibrated users (its nickname and expected openid). */
  user: number;
  arriveAtMs: number;
  loginInstance: number;
  pattern: 'android' | 'storm';
  /** Callback hits: when (after the first) and to which instance. Each new hit aborts the previous one if pending. */
  hits: Array<{ offsetMs: number; instance: number }>;
  /** An attacker replays this browser's code with its own login, this long after the first hit. */
  replay?: { offsetMs: number; loginInstance: number; instance: number };
}

/** Hit index that marks an attacker's replay in the hit header and the records. */
export const REPLAY_HIT = 99;

export interface PlanSettings {
  browsers: number;
  arrivalsPerSecond: number;
  instances: number;
  androidShare: number;
  replayShare: number;
  androidGapMs: number;
  stormMaxHits: number;
  stormSpreadMs: number;
}

export function planBrowsers(settings: PlanSettings, rng: Rng): BrowserPlan[] {
  const plans: BrowserPlan[] = [];
  for (let index = 0; index < settings.browsers; index++) {
    const arriveAtMs = (index + rng.next()) * (1000 / settings.arrivalsPerSecond);
    const android = rng.next() < settings.androidShare;
    const offsets = [0];
    if (android) {
      offsets.push(rng.uniform(0, settings.androidGapMs));
    } else {
      const count = rng.int(2, settings.stormMaxHits);
      for (let k = 1; k < count; k++) offsets.push(rng.uniform(0, settings.stormSpreadMs));
      offsets.sort((a, b) => a - b);
    }
    const plan: BrowserPlan = {
      index,
      user: index,
      arriveAtMs,
      loginInstance: rng.int(0, settings.instances - 1),
      pattern: android ? 'android' : 'storm',
      hits: offsets.map((offsetMs) => ({ offsetMs, instance: rng.int(0, settings.instances - 1) })),
    };
    if (rng.next() < settings.replayShare) {
      plan.replay = {
        offsetMs: rng.uniform(50, 250),
        loginInstance: rng.int(0, settings.instances - 1),
        instance: rng.int(0, settings.instances - 1),
      };
    }
    plans.push(plan);
  }
  return plans;
}

/** A cookie jar for one host (all instances sit behind one public origin). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  header(): string | undefined {
    return this.cookies.size === 0 ? undefined : [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(answer: HttpAnswer): void {
    const raw = answer.headers['set-cookie'];
    for (const line of raw ?? []) {
      const pair = line.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      if (/;\s*max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }

  has(name: string): boolean {
    return this.cookies.has(name);
  }
}

/** One callback hit as the browser saw it. */
export interface HitOutcome {
  hit: number;
  instance: number;
  sentAt: number;
  endedAt: number;
  aborted: boolean;
  status?: number;
  openid?: string;
  setSession: boolean;
  error?: string;
}

export interface BrowserOutcome {
  index: number;
  user: number;
  pattern: BrowserPlan['pattern'];
  code?: string;
  loginError?: string;
  hits: HitOutcome[];
  /** The attacker's replay of this browser's code, if planned. */
  replay?: HitOutcome;
}

/** Where the load goes. */
export interface Target {
  instances: readonly string[];
  emulator: string;
  loginPath(strategy: StrategyId): string;
  callbackPath(strategy: StrategyId): string;
  nickname(user: number): string;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Starts a login like a browser: GET the login route, keep the state cookie, read `state` from the redirect. */
export async function startLogin(target: Target, strategy: StrategyId, instance: number, jar: CookieJar): Promise<string> {
  const answer = await send('GET', `${target.instances[instance]}${target.loginPath(strategy)}`, { timeoutMs: 10_000 }).done;
  jar.store(answer);
  const location = answer.headers.location;
  if (answer.status !== 302 || !location) throw new Error(`login answered ${answer.status}: ${answer.body.slice(0, 120)}`);
  const state = new URL(location).searchParams.get('state');
  if (!state) throw new Error('login redirect carries no state');
  return state;
}

/** The user presses "Allow": the emulator mints the code WeChat would put in the callback. */
export async function mintCode(target: Target, user: number): Promise<string> {
  const answer = await send('POST', `${target.emulator}/__emulator/mint`, {
    body: JSON.stringify({ nickname: target.nickname(user), scope: 'snsapi_base' }),
    timeoutMs: 10_000,
  }).done;
  if (answer.status !== 200) throw new Error(`mint answered ${answer.status}`);
  return (JSON.parse(answer.body) as { code: string }).code;
}

function readOutcome(answer: HttpAnswer): { openid?: string; setSession: boolean } {
  let openid: string | undefined;
  if (answer.status === 200) {
    try {
      openid = (JSON.parse(answer.body) as { openid?: string }).openid;
    } catch {
      openid = undefined;
    }
  }
  const setSession = (answer.headers['set-cookie'] ?? []).some((line) => line.startsWith(`${SESSION_COOKIE}=`));
  return { ...(openid === undefined ? {} : { openid }), setSession };
}

/** One browser of the duplicate phase: login, consent, then its callback hits (Android double hit or a storm). */
export async function runBrowser(target: Target, strategy: StrategyId, plan: BrowserPlan): Promise<BrowserOutcome> {
  const jar = new CookieJar();
  const outcome: BrowserOutcome = { index: plan.index, user: plan.user, pattern: plan.pattern, hits: [] };
  let state: string;
  try {
    state = await startLogin(target, strategy, plan.loginInstance, jar);
    outcome.code = await mintCode(target, plan.user);
  } catch (error) {
    outcome.loginError = (error as Error).message;
    return outcome;
  }
  const query = `?code=${encodeURIComponent(outcome.code)}&state=${encodeURIComponent(state)}`;
  const started = performance.now();
  const inFlight: Array<Promise<void>> = [];
  let previous: PendingRequest | undefined;
  for (let k = 0; k < plan.hits.length; k++) {
    const { offsetMs, instance } = plan.hits[k] as { offsetMs: number; instance: number };
    await delay(started + offsetMs - performance.now());
    // A new navigation replaces the one still loading: the browser aborts it and its answer is never seen.
    previous?.abort();
    const last = k === plan.hits.length - 1;
    const cookie = jar.header();
    const hit: HitOutcome = { hit: k, instance, sentAt: performance.now(), endedAt: Number.NaN, aborted: false, setSession: false };
    outcome.hits.push(hit);
    const pending = send('GET', `${target.instances[instance]}${target.callbackPath(strategy)}${query}`, {
      headers: { [HIT_HEADER]: `${plan.index}.${k}.${last ? 1 : 0}`, ...(cookie === undefined ? {} : { cookie }) },
      timeoutMs: 20_000,
    });
    previous = pending;
    inFlight.push(
      pending.done.then(
        (answer) => {
          hit.endedAt = performance.now();
          hit.status = answer.status;
          Object.assign(hit, readOutcome(answer));
          jar.store(answer);
        },
        (error: unknown) => {
          hit.endedAt = performance.now();
          if (error instanceof RequestAbortedError) hit.aborted = true;
          else hit.error = (error as Error).message;
        },
      ),
    );
  }
  if (plan.replay) inFlight.push(replayCode(target, strategy, plan, outcome, started));
  await Promise.all(inFlight);
  return outcome;
}

/**
 * The attacker: a browser of its own that starts its own login (so its state checks out) and sends the victim's
 * code with it. Any login it gets is someone else's: a wrong-user session.
 */
async function replayCode(target: Target, strategy: StrategyId, plan: BrowserPlan, outcome: BrowserOutcome, started: number): Promise<void> {
  const replay = plan.replay as NonNullable<BrowserPlan['replay']>;
  const jar = new CookieJar();
  const hit: HitOutcome = { hit: REPLAY_HIT, instance: replay.instance, sentAt: Number.NaN, endedAt: Number.NaN, aborted: false, setSession: false };
  outcome.replay = hit;
  try {
    const state = await startLogin(target, strategy, replay.loginInstance, jar);
    await delay(started + replay.offsetMs - performance.now());
    const cookie = jar.header();
    hit.sentAt = performance.now();
    const answer = await send(
      'GET',
      `${target.instances[replay.instance]}${target.callbackPath(strategy)}?code=${encodeURIComponent(outcome.code ?? '')}&state=${state}`,
      { headers: { [HIT_HEADER]: `${plan.index}.${REPLAY_HIT}.0`, ...(cookie === undefined ? {} : { cookie }) }, timeoutMs: 20_000 },
    ).done;
    hit.endedAt = performance.now();
    hit.status = answer.status;
    Object.assign(hit, readOutcome(answer));
  } catch (error) {
    hit.endedAt = performance.now();
    hit.error = (error as Error).message;
  }
}

/** The duplicate phase of one strategy: every browser starts at its planned time; resolves when all are done. */
export async function runDuplicatePhase(target: Target, strategy: StrategyId, plans: readonly BrowserPlan[]): Promise<BrowserOutcome[]> {
  const phaseStart = performance.now();
  return Promise.all(
    plans.map(async (plan) => {
      await delay(phaseStart + plan.arriveAtMs - performance.now());
      return runBrowser(target, strategy, plan);
    }),
  );
}

export interface ThroughputSlice {
  completed: number;
  failed: number;
  seconds: number;
  callbackLatencies: number[];
}

/**
 * Closed loop at saturation: `concurrency` browsers each log in again and again (login, consent, one callback) for
 * `seconds`; only logins completed inside the window count.
 */
export async function runThroughputSlice(
  target: Target,
  strategy: StrategyId,
  concurrency: number,
  seconds: number,
  users: number,
  expectedOpenid: (user: number) => string,
  rng: Rng,
): Promise<ThroughputSlice> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const slice: ThroughputSlice = { completed: 0, failed: 0, seconds, callbackLatencies: [] };
  const worker = async (w: number) => {
    for (let i = 0; performance.now() < deadline && i < 1_000_000; i++) {
      const user = (w * 7919 + i) % users;
      const jar = new CookieJar();
      try {
        const state = await startLogin(target, strategy, rng.int(0, target.instances.length - 1), jar);
        const code = await mintCode(target, user);
        const cookie = jar.header();
        const sentAt = performance.now();
        const answer = await send(
          'GET',
          `${target.instances[rng.int(0, target.instances.length - 1)]}${target.callbackPath(strategy)}?code=${code}&state=${state}`,
          { headers: cookie === undefined ? {} : { cookie }, timeoutMs: 20_000 },
        ).done;
        const endedAt = performance.now();
        if (endedAt > deadline) break;
        const { openid } = readOutcome(answer);
        if (answer.status === 200 && openid === expectedOpenid(user)) {
          slice.completed++;
          slice.callbackLatencies.push(endedAt - sentAt);
        } else {
          slice.failed++;
        }
      } catch {
        if (performance.now() <= deadline) slice.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return slice;
}

/**
 * One login at a time (login, consent, a single callback), each from a fresh browser: the unloaded floor of every
 * cost, for comparison with the same figures under load.
 */
export async function runSequential(target: Target, strategy: StrategyId, logins: number, users: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < logins; i++) {
    const jar = new CookieJar();
    const instance = i % target.instances.length;
    const state = await startLogin(target, strategy, instance, jar);
    const user = i % users;
    const code = await mintCode(target, user);
    const cookie = jar.header();
    const answer = await send('GET', `${target.instances[(i + 1) % target.instances.length]}${target.callbackPath(strategy)}?code=${code}&state=${state}`, {
      headers: { [HIT_HEADER]: `${i}.0.1`, ...(cookie === undefined ? {} : { cookie }) },
      timeoutMs: 20_000,
    }).done;
    if (answer.status === 200) ok++;
  }
  return ok;
}
