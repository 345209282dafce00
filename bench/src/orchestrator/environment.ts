import { closeSync, constants as fsConstants, openSync, writeSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import type { InstanceStats } from '../shared/protocol.js';
import { getJson, postJson, send } from './http-client.js';

/** The benchmark's Redis connection (counting and cleaning the run's keys). */
export type BenchRedis = ReturnType<typeof createClient>;

/** Where a Redis URL points, for messages: host and port only (a URL may carry a password). */
export function redisAddress(url: string): string {
  try {
    return new URL(url).host || url.replace(/\/\/.*@/, '//');
  } catch {
    return 'an unparsable REDIS_URL';
  }
}

export async function connectRedis(url: string): Promise<BenchRedis> {
  const client = createClient({ url, socket: { connectTimeout: 3000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    await client.destroy();
    throw new Error(
      `Redis is not reachable at ${redisAddress(url)} (${(error as Error).message}). The benchmark needs a real Redis: start one or set REDIS_URL.`,
    );
  }
  return client;
}

/** Keys containing a prefix, at the start or after a store's own namespace (keyv writes `keyv:<key>`). SCAN, bounded. */
export async function countKeys(redis: BenchRedis, prefix: string): Promise<number> {
  let cursor = '0';
  let total = 0;
  for (let i = 0; i < 100_000; i++) {
    const reply = (await redis.sendCommand(['SCAN', cursor, 'MATCH', `*${prefix}*`, 'COUNT', '1000'])) as [string, string[]];
    total += reply[1].length;
    cursor = reply[0];
    if (cursor === '0') break;
  }
  return total;
}

/** Deletes every key containing a prefix (the run's own keys only, whatever namespace a store adds). */
export async function deleteKeys(redis: BenchRedis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  for (let i = 0; i < 100_000; i++) {
    const reply = (await redis.sendCommand(['SCAN', cursor, 'MATCH', `*${prefix}*`, 'COUNT', '1000'])) as [string, string[]];
    if (reply[1].length > 0) deleted += Number(await redis.sendCommand(['UNLINK', ...reply[1]]));
    cursor = reply[0];
    if (cursor === '0') break;
  }
  return deleted;
}

/**
 * Offset of an instance's clock from ours (instance minus orchestrator, ms), NTP-style from the sample with the
 * smallest round trip. Both sides use `timeOrigin + performance.now()`.
 */
export async function measureClockOffset(origin: string, samples = 25): Promise<{ offsetMs: number; rttMs: number }> {
  let best = { offsetMs: 0, rttMs: Number.POSITIVE_INFINITY };
  for (let i = 0; i < samples; i++) {
    const t0 = performance.timeOrigin + performance.now();
    const { now } = await getJson<{ now: number }>(`${origin}/bench/clock`, 5000);
    const t1 = performance.timeOrigin + performance.now();
    if (t1 - t0 < best.rttMs) best = { offsetMs: now - (t0 + t1) / 2, rttMs: t1 - t0 };
  }
  return best;
}

export async function instanceStats(origins: readonly string[], gc: boolean): Promise<InstanceStats[]> {
  return Promise.all(origins.map((origin) => getJson<InstanceStats>(`${origin}/bench/stats${gc ? '?gc=1' : ''}`, 10_000)));
}

export async function setRecording(origins: readonly string[], on: boolean): Promise<void> {
  await Promise.all(origins.map((origin) => getJson(`${origin}/bench/recording?on=${on ? 1 : 0}`)));
}

/** WeChat latency on the token endpoint. */
export async function setExchangeLatency(emulator: string, fixedMs: number, jitterMs: number): Promise<void> {
  await postJson(`${emulator}/__emulator/latency`, { endpoint: 'access_token', fixedMs, jitterMs });
}

export async function resetEmulator(emulator: string): Promise<void> {
  await postJson(`${emulator}/__emulator/reset`, {});
}

/** Exchange calls per code since the last reset. */
export async function exchangeCounters(emulator: string): Promise<Map<string, number>> {
  const counters = await getJson<{ exchangeByCode: Record<string, { calls: number }> }>(`${emulator}/__emulator/counters`, 30_000);
  return new Map(Object.entries(counters.exchangeByCode).map(([code, c]) => [code, c.calls]));
}

/**
 * A bare exchange straight from the load generator to WeChat (the emulator): the reference the winner's overhead is
 * compared with, and the way to learn each bench user's openid (to detect wrong-user sessions).
 */
export async function bareExchange(
  emulator: string,
  appId: string,
  appSecret: string,
  code: string,
): Promise<{ openid: string; ms: number }> {
  const started = performance.now();
  const answer = await send(
    'GET',
    `${emulator}/sns/oauth2/access_token?appid=${appId}&secret=${appSecret}&code=${encodeURIComponent(code)}&grant_type=authorization_code`,
    { timeoutMs: 10_000 },
  ).done;
  const ms = performance.now() - started;
  const json = JSON.parse(answer.body) as { openid?: string; errcode?: number };
  if (!json.openid) throw new Error(`calibration exchange failed (errcode ${json.errcode})`);
  return { openid: json.openid, ms };
}

/** CPU time of the whole machine (all cores), to report how busy it was during a phase. */
export interface MachineCpu {
  busyMs: number;
  totalMs: number;
}

export function machineCpu(): MachineCpu {
  let busy = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const t = cpu.times;
    const sum = t.user + t.nice + t.sys + t.idle + t.irq;
    total += sum;
    busy += sum - t.idle;
  }
  return { busyMs: busy, totalMs: total };
}

/** Share of the machine's CPU that was busy between two readings (0..1). */
export function busyShare(from: MachineCpu, to: MachineCpu): number {
  const total = to.totalMs - from.totalMs;
  return total > 0 ? (to.busyMs - from.busyMs) / total : Number.NaN;
}

/** CPU seconds the Redis server has used (INFO cpu). */
export async function redisCpuSeconds(redis: BenchRedis): Promise<number> {
  const info = String(await redis.sendCommand(['INFO', 'cpu']));
  const field = (name: string) => {
    const match = new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info);
    return match ? Number(match[1]) : Number.NaN;
  };
  return field('used_cpu_user') + field('used_cpu_sys');
}

export async function setProbe(origins: readonly string[], on: boolean): Promise<void> {
  await Promise.all(origins.map((origin) => getJson(`${origin}/bench/probe?on=${on ? 1 : 0}`)));
}

/** Whether the run kept the CPUs out of deep idle states, and how to stop doing so. */
export interface WakeLatencyHold {
  held: boolean;
  /** Why not, when not held. */
  reason?: string;
  release(): void;
}

/**
 * Asks the kernel to keep every CPU out of idle states slower than 0 µs to leave, for as long as the run holds the
 * request open: the PM QoS interface (`/dev/cpu_dma_latency`) that tuned's latency-performance profile and
 * cyclictest use. Without it, an idle virtual CPU halts between requests and waking it adds up to a few
 * milliseconds to a round trip (measured here: an idle loopback Redis PING p99 2.7 ms, 0.5 ms with the hold), which
 * buries every strategy's tail in the machine's wake-up time. It applies to all strategies alike; the report says
 * whether it was held. Needs write access to the device (root on most systems).
 */
export function holdLowCpuWakeLatency(): WakeLatencyHold {
  const path = '/dev/cpu_dma_latency';
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_WRONLY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return { held: false, reason: `${path} not writable (${code})`, release: () => undefined };
  }
  try {
    const request = Buffer.alloc(4);
    request.writeInt32LE(0);
    writeSync(fd, request);
  } catch (error) {
    closeSync(fd);
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return { held: false, reason: `${path} refused the request (${code})`, release: () => undefined };
  }
  let open = true;
  return {
    held: true,
    release: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

