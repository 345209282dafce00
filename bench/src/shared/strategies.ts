/**
 * The strategies compared by the benchmark, in display order. The orchestrator and the app instances share this
 * list, so that a route, a key prefix and a row of the report always mean the same thing.
 */
export type StrategyId =
  | 'library'
  | 'library-nocache'
  | 'library-fastpath'
  | 'library-fastpath-client'
  | 'naive'
  | 'naive-passport'
  | 'drop-duplicate'
  | 'dictionary'
  | 'redis-lock-redlock'
  | 'redis-lock-semaphore'
  | 'library-uncoordinated';

export interface StrategyInfo {
  id: StrategyId;
  /** Short label for tables and the chart legend. */
  label: string;
  /** This library (targets apply), a baseline written in the bench harness, or a diagnostic variant. */
  kind: 'library' | 'baseline' | 'diagnostic';
  /** What it is, and which published approach a baseline models. */
  models: string;
  /** First segment of its routes: `s` (library), `b` (hand-written baselines), `p` (passport baseline). */
  routePrefix: 's' | 'b' | 'p';
  /** Runs only when named in `--strategies` (a comparison the full run does not need every time). */
  optIn?: true;
}

export const STRATEGIES: readonly StrategyInfo[] = [
  {
    id: 'library',
    label: 'nestjs-wechat-auth',
    kind: 'library',
    models:
      'This library, as the README configures it for several instances: WechatAuthGuard, a CacheModule with @keyv/redis ' +
      '(results in the cache-manager cache: the portable default) and codeExchange.redis (the Redis lock, waiters woken by pub/sub).',
    routePrefix: 's',
  },
  {
    id: 'library-nocache',
    label: 'nestjs-wechat-auth (no CacheModule)',
    kind: 'library',
    models:
      'This library with codeExchange.redis and no CacheModule: the same portable protocol, results kept in Redis on the ' +
      "library's own connection, so claim and completion each take one round trip.",
    routePrefix: 's',
  },
  {
    id: 'library-fastpath',
    label: 'nestjs-wechat-auth (fast path)',
    kind: 'library',
    models: 'This library with codeExchange.redisFastPath: true (one Lua script to claim, one to complete and wake).',
    routePrefix: 's',
  },
  {
    id: 'library-fastpath-client',
    label: "nestjs-wechat-auth (fast path, app's node-redis client)",
    kind: 'library',
    models:
      'The fast path given the app\'s connected node-redis client instead of a URL: commands go through node-redis, which ' +
      'writes them at the end of the event loop\'s turn, rather than through the library\'s own connection. Opt-in ' +
      '(--strategies), to compare the two in one run.',
    routePrefix: 's',
    optIn: true,
  },
  {
    id: 'naive',
    label: 'naive',
    kind: 'baseline',
    models:
      'Exchange on every callback, as passport-oauth2-style strategies do (verify state, then call /sns/oauth2/access_token). ' +
      'Written lean by hand: a plain controller, no passport.',
    routePrefix: 'b',
  },
  {
    id: 'naive-passport',
    label: 'naive (passport-oauth2)',
    kind: 'baseline',
    models:
      'The same naive exchange as an app writes it with passport-oauth2 and @nestjs/passport (like passport-wechat): an ' +
      'OAuth2Strategy through PassportStrategy, AuthGuard on both routes, the state in the same signed cookie through ' +
      "passport-oauth2's state-store interface, the token call overridden to WeChat's GET with the same client call.",
    routePrefix: 'p',
  },
  {
    id: 'drop-duplicate',
    label: 'drop duplicate (state token)',
    kind: 'baseline',
    models:
      'The common blog fix (再谈微信公众号网页授权的40163错误): one global random token per process, set at login start, ' +
      'compared with the callback state and swapped on first use; a callback whose state no longer matches is dropped. ' +
      'Modelled per instance in-process, as the blog does with a Django global.',
    routePrefix: 'b',
  },
  {
    id: 'dictionary',
    label: 'dictionary + lock',
    kind: 'baseline',
    models:
      'The Senparc.Weixin (C#) fix (OAuth 40029 article): a static Dictionary code → result behind a lock, check-then-act: ' +
      'check, insert null, exchange outside the lock, insert the result; on 40029/40163 read the dictionary again. ' +
      'In-process only, nothing expires.',
    routePrefix: 'b',
  },
  {
    id: 'redis-lock-redlock',
    label: 'Redis lock, polling (redlock defaults)',
    kind: 'baseline',
    models:
      'A Redis lock per code with polling waiters, using redlock\'s defaults (retryCount 10, retryDelay 200 ms, ' +
      'retryJitter 100 ms: each retry waits 200 ± 100 ms). Written here with SET NX PX + compare-and-delete; the holder ' +
      'stores the result with a TTL, a waiter that gets the lock reads it first.',
    routePrefix: 'b',
  },
  {
    id: 'redis-lock-semaphore',
    label: 'Redis lock, polling (redis-semaphore defaults)',
    kind: 'baseline',
    models:
      'The same lock with redis-semaphore Mutex defaults (retryInterval 10 ms, acquireTimeout 10 s, lockTimeout 10 s). ' +
      'Written here with SET NX PX + compare-and-delete.',
    routePrefix: 'b',
  },
];

/**
 * Not compared, measured only for throughput and the unloaded floor: the library's full stack (guard, passport,
 * state cookie, query validation) with the code exchange NOT coordinated, to split the library's cost between its
 * coordination and the rest.
 */
export const DIAGNOSTICS: readonly StrategyInfo[] = [
  {
    id: 'library-uncoordinated',
    label: 'nestjs-wechat-auth, coordination bypassed',
    kind: 'diagnostic',
    models:
      'Diagnostic, not a strategy: this library\'s routes and guard with CodeExchangeService.exchange() replaced by a direct ' +
      'call of the upstream exchange (the harness patches the instance). It fails on duplicates like naive; it shows what ' +
      'the rest of the stack costs.',
    routePrefix: 's',
  },
];

/** What a run compares unless `--strategies` says otherwise. */
export const STRATEGY_IDS: readonly StrategyId[] = STRATEGIES.filter((s) => !s.optIn).map((s) => s.id);
/** Every strategy `--strategies` accepts, in display order. */
export const ALL_STRATEGY_IDS: readonly StrategyId[] = STRATEGIES.map((s) => s.id);

export function isStrategyId(value: unknown): value is StrategyId {
  return typeof value === 'string' && [...STRATEGIES, ...DIAGNOSTICS].some((s) => s.id === value);
}

export function strategyInfo(id: StrategyId): StrategyInfo {
  const info = [...STRATEGIES, ...DIAGNOSTICS].find((s) => s.id === id);
  if (!info) throw new Error(`unknown strategy ${id}`);
  return info;
}

/** Where a strategy's login and callback routes live on every instance. */
export function routeOf(id: StrategyId, route: 'login' | 'callback'): string {
  return `/${strategyInfo(id).routePrefix}/${id}/${route}`;
}

/** Header the load generator sets on every callback hit: `<browser>.<hit>.<last ? 1 : 0>`. */
export const HIT_HEADER = 'x-bench-hit';
/** The session cookie every strategy sets on a successful login. */
export const SESSION_COOKIE = 'bench_session';
/** The public callback origin, as a load balancer in front of the instances would expose it. */
export const PUBLIC_ORIGIN = 'http://bench.loadbalancer.test';

/** The Redis key prefix of one strategy in one run (letters, digits, `_ . : -` only: the library checks it). */
export function keyPrefixFor(runId: string, strategy: StrategyId): string {
  return `wxbench:${runId}:${strategy}`;
}
