/**
 * `npm run bench -- --coordination-cost`: the CPU that `CodeExchangeService.exchange()` costs per login, in one
 * process, against the physical floor of what it must do, measured side by side in the same run.
 *
 * The throughput phase of the full benchmark measures the whole stack (Nest, Express, HTTP, the emulator, the load
 * generator) on a shared machine: its ratios move by ±0.1 from slice to slice, too coarse to tell whether a change to
 * the coordination saved 10 µs. Here one process drives exchanges at a fixed concurrency against the real Redis, with
 * an upstream call that is a 2 ms timer, and reads its own CPU time (`process.cpuUsage()`): no HTTP, no other
 * process on the measured side. The variants run interleaved, in rounds, so that the machine's drift hits them alike:
 *
 * - *upstream only*: the harness and the 2 ms timer, nothing coordinated (what every row below includes);
 * - *floor*: the least any cross-instance design does per login: two round trips to Redis (take a lock before the
 *   exchange, store the outcome after it, with an outcome-sized payload) on a bare socket that writes each command
 *   at once and counts one-line replies;
 * - *hand-written minimum*: what a team would write by hand for the same guarantees, on node-redis, with none of the
 *   library's failure handling: an in-process single-flight map, one Lua script to read the outcome or take the lock,
 *   the exchange, one script to store the outcome and release; with the outcome *sealed* to the browser (an HMAC key
 *   id, an HMAC-derived key, AES-256-GCM: what the library does) or stored *in plain JSON* under the raw code (what
 *   the polling-lock baselines of the full benchmark do, which is why a replayed code signs in there). The gap
 *   between the library and the sealed minimum is what its own structure costs; the gap between the two minimums,
 *   the sealing and the key id;
 * - the library: `redisFastPath`, without a CacheModule (both given the Redis URL), with the README's CacheModule
 *   (a cache-manager cache over @keyv/redis, beside the URL), and in process (no Redis).
 *
 * Figures are CPU µs per exchange: the median over rounds, with the range. Each round runs the variants in a new
 * order, and before each one the previous one's leftovers (expiring outcomes, garbage) are let go. `--quick` runs 3
 * rounds instead of 7.
 *
 * `--upstream-ms 80 --concurrency 192` gives each exchange the benchmark's 80 ms and its concurrency: the objects of
 * a login then live through young-generation collections and the event loop wakes up for fewer callbacks at a time,
 * and every variant costs more per exchange (measured: the fast path about 100-120 µs instead of 75-105). The
 * default keeps the loop busy, which isolates the coordination's own work.
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { createClient } from 'redis';
import { CodeExchangeService } from 'nestjs-wechat-auth';
import { redisAddress } from './orchestrator/environment.js';

interface Variant {
  id: string;
  label: string;
  /** Throws when the variant no longer measures what it claims (the library fell back to in-process coordination). */
  check?(): void;
  /** Runs one login's coordinated exchange (or the floor's equivalent). */
  exchange(code: string, binding: string): Promise<unknown>;
  close(): Promise<void>;
}

const SILENT_LOGGER = { log() {}, warn() {}, error() {}, debug() {}, verbose() {} };
/** What WeChat's token endpoint returns, as the library's exchange callback would resolve it. */
const TOKEN = { access_token: 'A'.repeat(88), expires_in: 7200, refresh_token: 'R'.repeat(88), openid: 'o'.repeat(28), scope: 'snsapi_base' };
/** How long the stand-in upstream call takes (`--upstream-ms`, default 2). */
let upstreamMs = 2;

function upstream(): Promise<typeof TOKEN> {
  return new Promise((resolve) => setTimeout(() => resolve(TOKEN), upstreamMs));
}

/** A bare RESP connection: each command written at once, one reply per line (the floor only sends SET). */
class BareRedis {
  private readonly waiting: Array<() => void> = [];
  private head = 0;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) {
        const resolve = this.waiting[this.head];
        this.waiting[this.head++] = undefined as unknown as () => void;
        if (this.head > 4096) {
          this.waiting.splice(0, this.head);
          this.head = 0;
        }
        resolve?.();
      }
    });
  }

  static open(url: string): Promise<BareRedis> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(port || 6379) });
      socket.setNoDelay(true);
      socket.once('error', reject);
      socket.once('connect', () => resolve(new BareRedis(socket)));
    });
  }

  send(args: string[]): Promise<void> {
    let out = `*${args.length}\r\n`;
    for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(out);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Read the outcome, or take the lock: {1, outcome} | {2} (taken) | {3} (held by another). KEYS: result, lock. */
const MINIMAL_CLAIM = `local stored = redis.call('GET', KEYS[1])
if stored then return {1, stored} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {3}`;
/** Store the outcome unless one is stored, release the lock if still ours. KEYS: result, lock. */
const MINIMAL_COMPLETE = `redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1`;

/**
 * The hand-written minimum (see the header): one login's coordinated exchange with nothing but the essentials. Only
 * the path every code takes here is written (each code is new, so the claim always takes the lock); any other answer
 * throws, so that the variant cannot silently measure something else.
 */
class MinimalCoordination {
  private readonly flights = new Map<string, Promise<unknown>>();
  private readonly idKey = createHmac('sha256', 'bench-coordination-cost-secret').update('id').digest();
  private readonly sealKey = createHmac('sha256', 'bench-coordination-cost-secret').update('seal').digest();

  private constructor(
    private readonly redis: ReturnType<typeof createClient>,
    private readonly prefix: string,
    private readonly sealed: boolean,
    private readonly claimSha: string,
    private readonly completeSha: string,
  ) {}

  static async open(redisUrl: string, prefix: string, sealed: boolean): Promise<MinimalCoordination> {
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    const [claimSha, completeSha] = await Promise.all([redis.scriptLoad(MINIMAL_CLAIM), redis.scriptLoad(MINIMAL_COMPLETE)]);
    return new MinimalCoordination(redis, prefix, sealed, claimSha, completeSha);
  }

  exchange(code: string, binding: string): Promise<unknown> {
    const id = this.sealed ? createHmac('sha256', this.idKey).update(`wxbenchcoordination:${code}`).digest('base64url') : code;
    const running = this.flights.get(id);
    if (running) return running;
    const flight = this.lead(id, binding).finally(() => this.flights.delete(id));
    this.flights.set(id, flight);
    return flight;
  }

  close(): Promise<void> {
    return this.redis.close();
  }

  private async lead(id: string, binding: string): Promise<unknown> {
    const resultKey = `${this.prefix}:{${id}}:result`;
    const lockKey = `${this.prefix}:{${id}}:lock`;
    const token = randomBytes(16).toString('base64url');
    const claim = (await this.redis.sendCommand(['EVALSHA', this.claimSha, '2', resultKey, lockKey, token, '10000'])) as [number];
    if (Number(claim[0]) !== 2) throw new Error('the hand-written minimum met a code that was not new: its figure would be wrong');
    const value = await upstream();
    const plaintext = JSON.stringify({ v: value });
    let stored = plaintext;
    if (this.sealed) {
      const iv = randomBytes(12);
      const key = createHmac('sha256', this.sealKey).update(`${id}.${binding}`).digest();
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(id));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      stored = Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
    }
    // Not awaited, like the library's: the user need not wait for the store.
    void this.redis.sendCommand(['EVALSHA', this.completeSha, '2', resultKey, lockKey, token, stored, '1000']).catch(() => undefined);
    // Duplicates would get the outcome as stored: the winner gets the same (JSON) value.
    return (JSON.parse(plaintext) as { v: unknown }).v;
  }
}

async function variants(redisUrl: string, prefix: string): Promise<Variant[]> {
  const service = (id: string, extra: Record<string, unknown>, cache?: ConstructorParameters<typeof CodeExchangeService>[1]) =>
    new CodeExchangeService({ keySecret: 'bench-coordination-cost-secret', keyPrefix: `${prefix}:${id}`, resultTtlMs: 1_000, ...extra }, cache, SILENT_LOGGER);
  const fast = service('fast', { redis: redisUrl, redisFastPath: true });
  const portable = service('portable', { redis: redisUrl });
  // The README's multi-instance set-up: what CacheModule.register({ stores: [new Keyv({ store: new KeyvRedis(url) })] })
  // provides as CACHE_MANAGER (a cache-manager 7 cache over that Keyv).
  const keyv = new Keyv({ store: new KeyvRedis(redisUrl) });
  const withCache = service('cache', { redis: redisUrl }, createCache({ stores: [keyv] }));
  const local = service('local', {});
  await Promise.all([fast.onModuleInit(), portable.onModuleInit(), withCache.onModuleInit(), local.onModuleInit()]);
  for (const s of [fast, portable, withCache]) {
    if (s.health() !== 'up') throw new Error(`The library could not reach Redis at ${redisAddress(redisUrl)}: start one or set REDIS_URL.`);
  }
  const bare = await BareRedis.open(redisUrl);
  const minimalPlain = await MinimalCoordination.open(redisUrl, `${prefix}:minplain`, false);
  const minimalSealed = await MinimalCoordination.open(redisUrl, `${prefix}:minsealed`, true);
  // An outcome as the library stores it is ~0.6 KB of base64url: the floor stores as much.
  const envelope = `v2.${randomBytes(450).toString('base64url')}`;
  const viaLibrary = (s: CodeExchangeService) => (code: string, binding: string) =>
    s.exchange({ appId: 'wxbenchcoordination', code, binding, exchange: upstream });
  const stillOnRedis = (s: CodeExchangeService, label: string) => () => {
    if (s.health() !== 'up') throw new Error(`${label} lost Redis during the measurement and coordinated in process: its figure would be wrong.`);
  };
  return [
    { id: 'upstream', label: 'upstream only (no coordination)', exchange: () => upstream(), close: async () => undefined },
    {
      id: 'floor',
      label: 'floor: two round trips on a bare socket',
      exchange: async (code) => {
        await bare.send(['SET', `${prefix}:floor:{${code}}:lock`, 'token', 'NX', 'PX', '10000']);
        const value = await upstream();
        void bare.send(['SET', `${prefix}:floor:{${code}}:result`, envelope, 'PX', '1000']);
        return value;
      },
      close: async () => bare.close(),
    },
    {
      id: 'minimal-plain',
      label: 'hand-written minimum, outcome in plain JSON',
      exchange: (code, binding) => minimalPlain.exchange(code, binding),
      close: () => minimalPlain.close(),
    },
    {
      id: 'minimal-sealed',
      label: 'hand-written minimum, outcome sealed to the browser',
      exchange: (code, binding) => minimalSealed.exchange(code, binding),
      close: () => minimalSealed.close(),
    },
    {
      id: 'fast',
      label: 'nestjs-wechat-auth (fast path)',
      exchange: viaLibrary(fast),
      check: stillOnRedis(fast, 'The fast path'),
      close: () => fast.onModuleDestroy(),
    },
    {
      id: 'portable',
      label: 'nestjs-wechat-auth (no CacheModule)',
      exchange: viaLibrary(portable),
      check: stillOnRedis(portable, 'The variant without a CacheModule'),
      close: () => portable.onModuleDestroy(),
    },
    {
      id: 'cache',
      label: 'nestjs-wechat-auth (CacheModule with @keyv/redis)',
      exchange: viaLibrary(withCache),
      check: stillOnRedis(withCache, 'The variant with a CacheModule'),
      close: async () => {
        await withCache.onModuleDestroy();
        await keyv.disconnect();
      },
    },
    { id: 'local', label: 'nestjs-wechat-auth (in process, no Redis)', exchange: viaLibrary(local), close: () => local.onModuleDestroy() },
  ];
}

/** CPU µs per exchange over `count` exchanges at `concurrency`. */
async function measure(variant: Variant, count: number, concurrency: number, tag: string): Promise<number> {
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        // Codes and bindings of the shape the library sees, made without the CPU of a random generator per call.
        await variant.exchange(`${tag}${i.toString(16).padStart(24, '0')}`, `${tag}${i.toString(36).padStart(35, '0')}`);
      }
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

/**
 * Lets the previous variant's leftovers go before the next is measured, so that they are not billed to it: its stored
 * outcomes expire (1 s) and are swept from its in-process table (every 0.5 s), the floor's last replies arrive, and
 * the garbage of it all is collected (with --expose-gc, which `npm run bench` passes).
 */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1_700));
  (globalThis as { gc?: () => void }).gc?.();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--coordination-cost');
  const takeValue = (name: string): string | undefined => {
    const at = args.indexOf(name);
    if (at === -1) return undefined;
    const value = args[at + 1];
    if (value === undefined || value.startsWith('--')) throw new TypeError(`${name} needs a value`);
    args.splice(at, 2);
    return value;
  };
  const intOf = (name: string, fallback: number, min: number, max: number): number => {
    const raw = takeValue(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new TypeError(`${name} must be an integer in ${min}..${max}`);
    return Number(raw);
  };
  const outDir = takeValue('--out') ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
  upstreamMs = intOf('--upstream-ms', 2, 1, 1_000);
  const concurrency = intOf('--concurrency', 64, 1, 4_096);
  const unknown = args.filter((a) => a !== '--quick' && a !== '--tiny');
  if (unknown.length > 0) {
    throw new TypeError(
      `unknown option ${unknown[0]} (--coordination-cost takes --quick or --tiny, --upstream-ms N, --concurrency N and --out DIR)`,
    );
  }
  const size = args.includes('--tiny') ? 'tiny' : args.includes('--quick') ? 'quick' : 'full';
  // tiny: the smoke test's (it checks that the measurement runs, not its figures).
  const rounds = { tiny: 1, quick: 3, full: 7 }[size];
  const perRound = { tiny: 300, quick: 4_000, full: 15_000 }[size];
  const warmup = size === 'tiny' ? 200 : 1_500;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `wxbench:cc${randomBytes(3).toString('hex')}`;
  const all = await variants(redisUrl, prefix);
  const started = performance.now();
  process.stdout.write(
    `CPU per exchange, one process, ${concurrency} concurrent exchanges, upstream a ${upstreamMs} ms timer, ` +
      `${rounds} interleaved rounds of ${perRound}; Redis at ${redisAddress(redisUrl)}\n`,
  );
  try {
    for (const variant of all) {
      await measure(variant, warmup, concurrency, `w${variant.id}`); // JIT, connections, scripts
      variant.check?.();
    }
    const samples = new Map<string, number[]>(all.map((v) => [v.id, []]));
    let seed = 0x2545f491;
    const random = () => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
    for (let round = 0; round < rounds; round++) {
      // A new order each round, so that no variant always follows the same one.
      const order = [...all];
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j] as Variant, order[i] as Variant];
      }
      for (const variant of order) {
        await settle();
        // A forced collection may drop compiled code that has not run for a while: warm the variant again first.
        await measure(variant, warmup, concurrency, `r${round}w${variant.id}`);
        samples.get(variant.id)?.push(await measure(variant, perRound, concurrency, `r${round}${variant.id}`));
        variant.check?.();
      }
    }
    const base = median(samples.get('upstream') ?? []);
    const floor = median(samples.get('floor') ?? []) - base;
    const rows = all.map((v) => {
      const own = samples.get(v.id) ?? [];
      const cost = median(own) - base;
      return [
        v.label,
        `${median(own).toFixed(1)} (${Math.min(...own).toFixed(1)}–${Math.max(...own).toFixed(1)})`,
        v.id === 'upstream' ? '–' : cost.toFixed(1),
        v.id === 'upstream' || v.id === 'floor' ? '–' : `${(cost / floor).toFixed(2)} x`,
      ];
    });
    const head = ['variant', 'CPU µs/exchange, median (range)', 'coordination µs (minus upstream only)', 'x floor'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
    process.stdout.write(`${[line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')}\n`);
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`(${seconds.toFixed(0)} s)\n`);
    // The tiny run is the smoke test's: it never replaces a real measurement.
    if (size !== 'tiny') {
      const file = join(outDir, 'coordination-cost.md');
      const markdown = [
        '# Coordination cost: CPU per exchange',
        '',
        `Generated ${new Date().toISOString()} by \`npm run bench -- --coordination-cost${size === 'quick' ? ' --quick' : ''}\` in ` +
          `${seconds.toFixed(0)} s (Node ${process.versions.node}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}).`,
        '',
        `One process, ${concurrency} concurrent exchanges, the upstream call a ${upstreamMs} ms timer, ${rounds} rounds of ` +
          `${perRound} exchanges per variant in a new order each round; Redis at ${redisAddress(redisUrl)}. CPU time of the ` +
          'process (`process.cpuUsage()`), median over the rounds (range in brackets). See bench/src/coordination-cost.ts.',
        '',
        `| ${head.join(' | ')} |`,
        `| ${head.map(() => '---').join(' | ')} |`,
        ...rows.map((r) => `| ${r.join(' | ')} |`),
        '',
      ].join('\n');
      await mkdir(outDir, { recursive: true });
      await writeFile(file, markdown);
      process.stdout.write(`wrote ${file}\n`);
    }
  } finally {
    for (const variant of all) await variant.close().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[bench] coordination cost failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
