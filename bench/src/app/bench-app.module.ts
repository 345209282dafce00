import {
  Catch,
  Controller,
  Get,
  HttpException,
  HttpStatus,
  Inject,
  Module,
  NotFoundException,
  Param,
  Query,
  Req,
  Res,
  UseGuards,
  type ArgumentsHost,
  type DynamicModule,
  type ExceptionFilter,
  type OnApplicationShutdown,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CacheModule } from '@nestjs/cache-manager';
import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import type { Request, Response } from 'express';
import { createClient } from 'redis';
import {
  CodeExchangeService,
  WechatApiClient,
  type CodeExchangeRedisClient,
  type CodeExchangeRequest,
  WechatAuth,
  WechatAuthGuard,
  WechatAuthModule,
  WechatUser,
  type WechatAuthUser,
} from 'nestjs-wechat-auth';
import { preciseNow, type InstanceStats } from '../shared/protocol.js';
import { keyPrefixFor, PUBLIC_ORIGIN, type StrategyId } from '../shared/strategies.js';
import { DroppedCallbackError, LockNotAcquiredError, type BaselineStrategy } from './baselines/baseline.js';
import { DictionaryBaseline } from './baselines/dictionary.baseline.js';
import { DropDuplicateBaseline } from './baselines/drop-duplicate.baseline.js';
import { NaiveBaseline } from './baselines/naive.baseline.js';
import { naivePassportController, naivePassportStrategy } from './baselines/naive-passport.baseline.js';
import {
  PollingLockBaseline,
  REDIS_SEMAPHORE_DEFAULTS,
  REDLOCK_DEFAULTS,
  type RedisCommands,
} from './baselines/polling-lock.baseline.js';
import { BenchCookies } from './bench-cookies.js';
import { currentHit, HitRecorder } from './hit-recorder.js';
import { CpuProfiler } from './cpu-profiler.js';
import { GcProbe } from './gc-probe.js';
import { RedisProbe } from './redis-probe.js';
import { describeFailure, instrumentCodeExchange, profileCodeExchange } from './library-probe.js';

/** What an instance runs with (from its environment, set by the orchestrator). */
export interface BenchInstanceConfig {
  instance: string;
  runId: string;
  emulatorOrigin: string;
  redisUrl: string;
  appId: string;
  appSecret: string;
  resultTtlMs: number;
  /** Time the library's internal steps per hit (diagnostics). */
  profile: boolean;
  /** Where CPU profiles of throughput slices go (diagnostics). */
  cpuProfileDir?: string;
  /** Write sampled heap-allocation profiles there instead of CPU profiles. */
  heapProfile: boolean;
}

export const BENCH_CONFIG = Symbol('BENCH_CONFIG');
export const BASELINES = Symbol('BASELINES');
const LIBRARY_GAUGES = new Map<StrategyId, CodeExchangeService>();

/** Set by main.ts before the module is created (the recorder is also an Express middleware). */
export const HOOKS: { recorder: HitRecorder } = { recorder: new HitRecorder('unset') };

/** The library's routes, as an app writes them, for one registration (strategy name) of WechatAuthModule. */
function libraryController(id: StrategyId, strategyName: string): Type<unknown> {
  @Controller(`s/${id}`)
  class LibraryController {
    constructor(private readonly cookies: BenchCookies) {}

    @Get('login')
    @UseGuards(WechatAuthGuard)
    @WechatAuth({ strategy: strategyName })
    login(): void {}

    @Get('callback')
    @UseGuards(WechatAuthGuard)
    @WechatAuth({ strategy: strategyName })
    callback(@WechatUser() user: WechatAuthUser, @Res({ passthrough: true }) res: Response): { ok: true; openid: string } {
      const record = currentHit.getStore();
      if (record) {
        record.ok = true;
        record.openid = user.openid;
        recorder().settle(record);
      }
      return this.cookies.signIn(res, user.openid);
    }
  }
  return LibraryController;
}

function recorder(): HitRecorder {
  return HOOKS.recorder;
}

/** One WechatAuthModule registration plus the harness's measurement hooks on its CodeExchangeService. */
function libraryModule(
  id: StrategyId,
  strategyName: string,
  config: BenchInstanceConfig,
  variant: 'portable-cache' | 'portable' | 'fast-path' | 'uncoordinated',
  /** The app's connected node-redis client, given instead of the URL (the library duplicates it, never closes it). */
  appRedisClient?: CodeExchangeRedisClient,
): DynamicModule {
  @Module({})
  class LibraryHooks implements OnModuleInit {
    constructor(@Inject(CodeExchangeService) private readonly service: CodeExchangeService) {}

    onModuleInit(): void {
      if (variant === 'uncoordinated') {
        // Diagnostic only: every callback runs its own upstream exchange, as if the service were not there.
        const direct = <T>(request: CodeExchangeRequest<T>): Promise<T> => request.exchange(new AbortController().signal);
        (this.service as { exchange: typeof direct }).exchange = direct;
      } else {
        LIBRARY_GAUGES.set(id, this.service);
      }
      instrumentCodeExchange(id, this.service, HOOKS.recorder);
      if (config.profile) profileCodeExchange(id, this.service);
    }
  }
  const options = {
    appId: config.appId,
    appSecret: config.appSecret,
    callbackURL: `${PUBLIC_ORIGIN}/s/${id}/callback`,
    scope: 'snsapi_base' as const,
    apiBaseURL: config.emulatorOrigin,
    oauthBaseURL: config.emulatorOrigin,
    strategyName,
    codeExchange:
      variant === 'uncoordinated'
        ? { resultTtlMs: config.resultTtlMs }
        : {
            redis: appRedisClient ?? config.redisUrl,
            keyPrefix: keyPrefixFor(config.runId, id),
            resultTtlMs: config.resultTtlMs,
            redisFastPath: variant === 'fast-path',
          },
  };
  return {
    module: LibraryHooks,
    imports: [
      variant === 'portable-cache'
        ? // The README's multi-instance set-up: the app's CacheModule with @keyv/redis. Imported by this registration
          // only (the README registers it globally), so that the other variants run without it.
          WechatAuthModule.forRootAsync({
            imports: [CacheModule.register({ stores: [new Keyv({ store: new KeyvRedis(config.redisUrl) })] })],
            useFactory: () => options,
          })
        : WechatAuthModule.forRoot(options),
    ],
    controllers: [libraryController(id, strategyName)],
  };
}


/** Routes of the baselines: same login start, same state cookie, same "login success", different coordination. */
@Controller('b')
class BaselineController {
  private readonly byId: Map<StrategyId, BaselineStrategy>;

  constructor(
    @Inject(BASELINES) baselines: BaselineStrategy[],
    private readonly cookies: BenchCookies,
    private readonly client: WechatApiClient,
  ) {
    this.byId = new Map(baselines.map((b) => [b.id, b]));
  }

  @Get(':strategy/login')
  login(@Param('strategy') strategy: string, @Res() res: Response): void {
    const baseline = this.find(strategy);
    const { state, setCookie } = this.cookies.issueState();
    baseline.onLoginStart?.(state);
    res.setHeader('Set-Cookie', setCookie);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(
      302,
      this.client.buildAuthorizeUrl({ redirectUri: `${PUBLIC_ORIGIN}/b/${strategy}/callback`, scope: 'snsapi_base', state }),
    );
  }

  @Get(':strategy/callback')
  async callback(
    @Param('strategy') strategy: string,
    @Query('code') code: unknown,
    @Query('state') state: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ ok: true; openid: string }> {
    const baseline = this.find(strategy);
    if (typeof code !== 'string' || typeof state !== 'string' || code === '' || !/^[A-Za-z0-9]{1,128}$/.test(state)) {
      throw new HttpException({ error: 'bad callback' }, HttpStatus.BAD_REQUEST);
    }
    if (!this.cookies.verifyState(req.headers.cookie, state)) {
      throw new HttpException({ error: 'state mismatch' }, HttpStatus.FORBIDDEN);
    }
    const record = currentHit.getStore();
    if (record) record.exchangeStartedAt = preciseNow();
    let openid: string;
    try {
      ({ openid } = await baseline.exchange(code, state));
    } catch (error) {
      if (record) {
        record.exchangeEndedAt = preciseNow();
        if (error instanceof DroppedCallbackError) {
          record.role = 'dropped';
          record.failure = `dropped (${error.reason})`;
        } else {
          record.failure = error instanceof LockNotAcquiredError ? 'lock not acquired' : describeFailure(error);
        }
      }
      throw new HttpException({ error: 'login failed' }, error instanceof DroppedCallbackError ? HttpStatus.CONFLICT : HttpStatus.UNAUTHORIZED);
    }
    if (record) {
      record.exchangeEndedAt = preciseNow();
      if (record.upstreamMs === undefined) record.role = 'shared';
      record.ok = true;
      record.openid = openid;
      recorder().settle(record);
    }
    return this.cookies.signIn(res, openid);
  }

  private find(strategy: string): BaselineStrategy {
    const baseline = this.byId.get(strategy as StrategyId);
    if (!baseline) throw new NotFoundException();
    return baseline;
  }
}

/** The harness's own routes: stats (after a forced GC), records, clock. Loopback only, like everything here. */
@Controller('bench')
class BenchController {
  constructor(
    @Inject(BENCH_CONFIG) private readonly config: BenchInstanceConfig,
    @Inject(BASELINES) private readonly baselines: BaselineStrategy[],
    private readonly probe: RedisProbe,
    private readonly gcProbe: GcProbe,
    private readonly profiler: CpuProfiler,
  ) {}

  @Get('cpu-profile/start')
  async startProfile(): Promise<{ started: boolean }> {
    return { started: await this.profiler.start() };
  }

  @Get('cpu-profile/stop')
  async stopProfile(@Query('name') name: unknown): Promise<{ file?: string }> {
    const file = await this.profiler.stop(`${typeof name === 'string' ? name : 'profile'}-${this.config.instance}`);
    return file === undefined ? {} : { file };
  }

  @Get('probe')
  setProbe(@Query('on') on: unknown): { probing: boolean } {
    this.probe.set(on === '1');
    this.gcProbe.set(on === '1');
    return { probing: on === '1' };
  }

  @Get('clock')
  clock(): { now: number } {
    return { now: preciseNow() };
  }

  @Get('stats')
  stats(@Query('gc') gc: unknown): InstanceStats {
    if (gc === '1') collectGarbage();
    const memory = process.memoryUsage();
    const entries: InstanceStats['entries'] = {};
    const library: NonNullable<InstanceStats['library']> = {};
    for (const [id, service] of LIBRARY_GAUGES) {
      const stats = service.stats();
      entries[id] = stats.localEntries + stats.inFlight;
      library[id] = stats as unknown as Record<string, unknown>;
    }
    for (const baseline of this.baselines) entries[baseline.id] = baseline.entries();
    const cpu = process.cpuUsage();
    return {
      instance: this.config.instance,
      heapUsed: memory.heapUsed,
      rss: memory.rss,
      entries,
      library,
      cpuUserMicros: cpu.user,
      cpuSystemMicros: cpu.system,
      redisRoundTrips: this.probe.take(),
      gcPauses: this.gcProbe.take(),
    };
  }

  @Get('records')
  async records(@Query('waitMs') waitMs: unknown) {
    const rec = recorder();
    const deadline = Date.now() + Math.min(Number(waitMs) || 0, 15_000);
    while (rec.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return rec.drain();
  }

  @Get('recording')
  recording(@Query('on') on: unknown): { enabled: boolean } {
    recorder().enabled = on === '1';
    // Off (throughput phase): also remove AsyncLocalStorage's promise hooks, so no strategy pays for the recorder.
    if (on !== '1') currentHit.disable();
    return { enabled: recorder().enabled };
  }
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  // Two passes: the first may only queue finalizers.
  gc();
  gc();
}

/** Records failures the guard or a controller threw, then answers as Nest's default filter would (status + JSON). */
@Catch()
class RecordingExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    const record = currentHit.getStore();
    if (record) {
      record.failure ??= exception instanceof HttpException ? `HTTP ${status}` : describeFailure(exception);
      recorder().settle(record);
    }
    if (res.headersSent || res.destroyed) return;
    const body = exception instanceof HttpException ? exception.getResponse() : { statusCode: 500, message: 'Internal server error' };
    res.status(status).json(typeof body === 'string' ? { statusCode: status, message: body } : body);
  }
}

/** Owns the baselines and their Redis client. */
class BaselineLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly baselines: BaselineStrategy[],
    private readonly redis: { close(): Promise<void> },
  ) {}

  async onApplicationShutdown(): Promise<void> {
    for (const baseline of this.baselines) await baseline.close?.();
    await this.redis.close().catch(() => undefined);
  }
}

/** The bench app: the library's routes (two registrations) and the baselines' routes, on one Nest app per instance. */
export async function createBenchAppModule(config: BenchInstanceConfig): Promise<DynamicModule> {
  const client = new WechatApiClient({
    appId: config.appId,
    appSecret: config.appSecret,
    apiBaseURL: config.emulatorOrigin,
    oauthBaseURL: config.emulatorOrigin,
    timeoutMs: 5000,
  });
  const redis = createClient({ url: config.redisUrl });
  redis.on('error', () => undefined);
  await redis.connect();
  const commands = redis as unknown as RedisCommands;
  const baselines: BaselineStrategy[] = [
    new NaiveBaseline(client),
    new DropDuplicateBaseline(client),
    new DictionaryBaseline(client),
    new PollingLockBaseline(
      'redis-lock-redlock',
      client,
      commands,
      keyPrefixFor(config.runId, 'redis-lock-redlock'),
      config.resultTtlMs,
      REDLOCK_DEFAULTS,
    ),
    new PollingLockBaseline(
      'redis-lock-semaphore',
      client,
      commands,
      keyPrefixFor(config.runId, 'redis-lock-semaphore'),
      config.resultTtlMs,
      REDIS_SEMAPHORE_DEFAULTS,
    ),
  ];
  const cookieSecret = `${config.appSecret}:${config.runId}`;

  @Module({
    imports: [
      libraryModule('library', 'lib', config, 'portable-cache'),
      libraryModule('library-nocache', 'libnocache', config, 'portable'),
      libraryModule('library-fastpath', 'libfast', config, 'fast-path'),
      libraryModule('library-fastpath-client', 'libfastclient', config, 'fast-path', redis as unknown as CodeExchangeRedisClient),
      libraryModule('library-uncoordinated', 'libnocoord', config, 'uncoordinated'),
    ],
    controllers: [BaselineController, BenchController, naivePassportController(recorder)],
    providers: [
      naivePassportStrategy(config.emulatorOrigin, config.appId),
      { provide: BENCH_CONFIG, useValue: config },
      { provide: BASELINES, useValue: baselines },
      { provide: WechatApiClient, useValue: client },
      { provide: BenchCookies, useValue: new BenchCookies(cookieSecret) },
      { provide: BaselineLifecycle, useValue: new BaselineLifecycle(baselines, redis) },
      { provide: RedisProbe, useValue: new RedisProbe(commands) },
      { provide: GcProbe, useValue: new GcProbe() },
      { provide: CpuProfiler, useValue: new CpuProfiler(config.cpuProfileDir, config.heapProfile ? 'heap' : 'cpu') },
      { provide: APP_FILTER, useClass: RecordingExceptionFilter },
    ],
    exports: [BenchCookies],
  })
  class BenchAppModule {}

  return { module: BenchAppModule, global: true, exports: [BenchCookies] };
}
