// A separate Node process running one CodeExchangeService, driven over IPC by
// test/code-exchange-multiprocess.e2e-spec.ts. It imports the library compiled by that test (plain JS under
// node_modules/.cache), so it needs no TypeScript loader. Settings arrive in WXAUTH_WORKER (JSON).
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(process.env.WXAUTH_WORKER ?? '{}');
const load = (path) => import(pathToFileURL(`${config.libDir}/${path}`).href);
const { CodeExchangeService } = await load('code-exchange/code-exchange.service.js');
const { WechatApiError } = await load('errors/wechat-auth.errors.js');

let cache;
if (config.mode === 'portable-keyv') {
  const { createCache } = await import('cache-manager');
  const { Keyv } = await import('keyv');
  const { default: KeyvRedis } = await import('@keyv/redis');
  cache = createCache({ stores: [new Keyv({ store: new KeyvRedis(config.redisUrl) })] });
}

const send = (message) => process.connected && process.send(message);
const logger = {
  log() {},
  debug() {},
  verbose() {},
  error(message) {
    send({ type: 'log', level: 'error', message: String(message) });
  },
  warn(message) {
    send({ type: 'log', level: 'warn', message: String(message) });
  },
};

const service = new CodeExchangeService(
  {
    keySecret: config.keySecret,
    keyPrefix: config.prefix,
    redis: config.redisUrl,
    redisFastPath: config.mode === 'fast',
    lockTtlMs: config.lockTtlMs,
    pollIntervalMs: 250,
  },
  cache,
  logger,
);
await service.onModuleInit();

let exchangeCalls = 0;

async function handleExchange(message) {
  const exchange = async () => {
    exchangeCalls++;
    send({ type: 'exchange-started', id: message.id });
    if (message.behaviour === 'hang') return new Promise(() => undefined);
    await sleep(message.delayMs ?? 0);
    if (message.behaviour === 'error') {
      throw new WechatApiError(message.errcode, 'simulated', '/sns/oauth2/access_token');
    }
    return { openid: message.openid, exchangedBy: process.pid };
  };
  try {
    const value = await service.exchange({ appId: config.appId, code: message.code, binding: message.binding, exchange });
    send({ type: 'result', id: message.id, ok: true, value });
  } catch (error) {
    send({
      type: 'result',
      id: message.id,
      ok: false,
      error: { name: error?.name, kind: error?.kind, errcode: error?.errcode },
    });
  }
}

process.on('message', (message) => {
  if (message.type === 'exchange') void handleExchange(message);
  else if (message.type === 'stats') send({ type: 'stats', id: message.id, stats: service.stats(), exchangeCalls });
  else if (message.type === 'close') {
    void (async () => {
      await service.onModuleDestroy();
      await cache?.disconnect();
      send({ type: 'closed', id: message.id });
      process.disconnect();
    })();
  }
});

send({ type: 'ready', health: service.health() });
