import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  REDIS_URL,
  connectTestRedis,
  deleteKeys,
  eventually,
  uniquePrefix,
  type TestRedisClient,
} from '../../../../test/support/code-exchange.harness.js';
import {
  DirectRedisConnection,
  RespErrorReply,
  RespReader,
  encodeCommand,
  parseRedisUrl,
  type RespReply,
} from './direct-redis.connection.js';

describe('RespReader', () => {
  const wire =
    '+OK\r\n' +
    '-NOSCRIPT No matching script\r\n' +
    ':42\r\n' +
    ':-7\r\n' +
    '$11\r\nline\r\nbreak\r\n' +
    '$-1\r\n' +
    '$0\r\n\r\n' +
    '$6\r\n微信\r\n' +
    '*3\r\n$1\r\na\r\n:2\r\n*2\r\n$-1\r\n+nested\r\n' +
    '*-1\r\n' +
    '*0\r\n';
  const expected: Array<RespReply | string> = [
    'OK',
    'error: NOSCRIPT No matching script',
    42,
    -7,
    'line\r\nbreak',
    null,
    '',
    '微信',
    ['a', 2, [null, 'nested']],
    null,
    [],
  ];
  const read = (chunks: Buffer[]): Array<RespReply | string> => {
    const replies: Array<RespReply | string> = [];
    const reader = new RespReader((reply) => replies.push(reply instanceof RespErrorReply ? `error: ${reply.message}` : reply));
    for (const chunk of chunks) reader.feed(chunk);
    return replies;
  };

  it('reads every RESP2 type the library meets, in order', () => {
    expect(read([Buffer.from(wire)])).toEqual(expected);
  });

  it('reads the same replies whatever the chunk boundaries (one byte at a time, inside CRLF and UTF-8)', () => {
    const bytes = Buffer.from(wire);
    expect(read([...bytes].map((byte) => Buffer.from([byte])))).toEqual(expected);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(read([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(expected);
    }
  });

  it('refuses a byte that starts no RESP2 reply', () => {
    const reader = new RespReader(() => undefined);
    expect(() => reader.feed(Buffer.from('?what\r\n'))).toThrow(/Unexpected RESP type byte 0x3f/);
  });

  it.each([
    ['a length that is not an integer', '$abc\r\nhello\r\n'],
    ['a length in exponent form', '$1e12\r\n'],
    ['an integer reply that is not one', ':Infinity\r\n'],
    ['an empty length', '*\r\n'],
    ['bulk data without its CRLF', '$2\r\nabXY+A\r\n'],
    ['a CR without LF', '+OK\rX\n'],
    ['a negative length other than -1', '$-2\r\n'],
    ['an array longer than any reply the library asks for', '*2000\r\n'],
    ['a bulk string longer than 16 MiB', `$${16 * 1024 * 1024 + 1}\r\n`],
  ])('throws on %s, rather than handing a wrong reply to the next command', (_case, wire) => {
    const replies: unknown[] = [];
    const reader = new RespReader((reply) => replies.push(reply));
    expect(() => reader.feed(Buffer.from(wire))).toThrow(/RESP/);
    expect(replies).toEqual([]);
  });
});

describe('encodeCommand', () => {
  it('writes bulk lengths in bytes, not characters', () => {
    expect(encodeCommand(['SET', 'k', '微信']).toString('utf8')).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\n微信\r\n');
  });

  it('writes every length in decimal, across digit counts', () => {
    const args = ['', 'x', 'y'.repeat(9), 'z'.repeat(10), 'w'.repeat(99), 'v'.repeat(100), 'u'.repeat(12_345)];
    const expected = `*${args.length}\r\n` + args.map((arg) => `$${arg.length}\r\n${arg}\r\n`).join('');
    expect(encodeCommand(args).toString('utf8')).toBe(expected);
  });
});

describe('parseRedisUrl', () => {
  it('reads host, port, TLS, credentials and database', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380')).toEqual({ tls: false, host: '127.0.0.1', port: 6380, handshake: [] });
    expect(parseRedisUrl('rediss://cache.example.com')).toEqual({ tls: true, host: 'cache.example.com', port: 6379, handshake: [] });
    expect(parseRedisUrl('redis://:p%40ss@[::1]:6379/2').handshake).toEqual([['AUTH', 'p@ss'], ['SELECT', '2']]);
    expect(parseRedisUrl('redis://[::1]:6379').host).toBe('::1');
    expect(parseRedisUrl('redis://app:secret@h/0').handshake).toEqual([['AUTH', 'app', 'secret']]);
    // As node-redis reads it: a user name alone authenticates as that user with an empty password.
    expect(parseRedisUrl('redis://app@h').handshake).toEqual([['AUTH', 'app', '']]);
  });

  it('refuses other schemes and a database that is not a number', () => {
    expect(() => parseRedisUrl('http://h:6379')).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => parseRedisUrl('redis://h/cache')).toThrow(/must be a number/);
  });
});

describe('DirectRedisConnection against a real Redis', () => {
  const prefix = uniquePrefix('direct');
  const opened: DirectRedisConnection[] = [];
  let admin: TestRedisClient;

  const open = (url = REDIS_URL, errors: Error[] = [], replyTimeoutMs = 10_000): DirectRedisConnection => {
    const connection = new DirectRedisConnection({
      url,
      connectTimeoutMs: 1_000,
      reconnectDelayMs: () => 20,
      onError: (error) => errors.push(error),
      replyTimeoutMs,
    });
    opened.push(connection);
    return connection;
  };

  beforeAll(async () => {
    admin = await connectTestRedis();
  });

  afterEach(() => {
    for (const connection of opened.splice(0)) connection.close();
  });

  afterAll(async () => {
    await deleteKeys(admin, prefix);
    await admin.close();
  });

  it('answers commands sent together in the order they were sent', async () => {
    const connection = open();
    expect(await connection.connect()).toBe(true);
    const key = `${prefix}:counter`;
    const replies = await Promise.all(Array.from({ length: 500 }, () => connection.send(['INCR', key])));
    expect(replies).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(await connection.send(['SET', `${prefix}:s`, '微信 ok', 'PX', '10000'])).toBe('OK');
    expect(await connection.send(['GET', `${prefix}:s`])).toBe('微信 ok');
    expect(await connection.send(['GET', `${prefix}:missing`])).toBeNull();
  });

  it('writes a command on an idle connection in a microtask, and batches to the end of the turn while replies are outstanding', async () => {
    const connection = open();
    await connection.connect();
    const first = connection.send(['PING']);
    expect(connection.writeWaitsForEndOfTurn).toBe(false);
    await Promise.resolve();
    // Written by now (before any I/O of this turn could run); its reply is outstanding.
    const second = connection.send(['ECHO', 'batched']);
    const third = connection.send(['ECHO', 'too']);
    expect(connection.writeWaitsForEndOfTurn).toBe(true);
    expect(await Promise.all([first, second, third])).toEqual(['PONG', 'batched', 'too']);
    expect(connection.writeWaitsForEndOfTurn).toBe(false);
  });

  it('rejects an error reply with the server message (NOSCRIPT is how scripts get loaded)', async () => {
    const connection = open();
    await connection.connect();
    const error = await connection.send(['EVALSHA', 'f'.repeat(40), '0']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RespErrorReply);
    expect((error as Error).message).toMatch(/^NOSCRIPT/);
    // The connection goes on after an error reply.
    expect(await connection.send(['PING'])).toBe('PONG');
  });

  it('rejects a command at once while not connected, and pending commands when closed', async () => {
    const connection = open();
    await expect(connection.send(['PING'])).rejects.toThrow('not ready');
    await connection.connect();
    // BLPOP on a missing key answers only after its timeout: written, and still pending when the connection closes.
    const blocked = connection.send(['BLPOP', `${prefix}:never`, '5']);
    await new Promise((resolve) => setImmediate(resolve));
    connection.close();
    await expect(blocked).rejects.toThrow('closed');
    await expect(connection.send(['PING'])).rejects.toThrow('not ready');
    expect(await connection.connect()).toBe(false);
  });

  it('reports a lost connection, fails what was pending, and reconnects by itself', async () => {
    const errors: Error[] = [];
    const connection = open(REDIS_URL, errors);
    await connection.connect();
    const id = await connection.send(['CLIENT', 'ID']);
    const blocked = connection.send(['BLPOP', `${prefix}:never`, '5']);
    expect(await admin.sendCommand(['CLIENT', 'KILL', 'ID', String(id)])).toBe(1);
    await expect(blocked).rejects.toThrow(/closed|lost|reset/i);
    expect(errors.length).toBeGreaterThan(0);
    await eventually(() => connection.isReady, 5_000);
    expect(await connection.send(['PING'])).toBe('PONG');
  });

  it('drains: waits for the replies of commands sent, but no longer than it is given', async () => {
    const connection = open();
    await connection.connect();
    const quick = connection.send(['BLPOP', `${prefix}:never`, '0.2']);
    let started = performance.now();
    await connection.drain(5_000);
    expect(await quick).toBeNull();
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    void connection.send(['BLPOP', `${prefix}:never`, '5']).catch(() => undefined);
    started = performance.now();
    await connection.drain(100);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('is not ready until the server has answered: a peer that accepts and stays silent times out', async () => {
    const errors: Error[] = [];
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const connection = new DirectRedisConnection({
      url: `redis://127.0.0.1:${port}`,
      connectTimeoutMs: 150,
      reconnectDelayMs: () => 20,
      onError: (error) => errors.push(error),
      replyTimeoutMs: 10_000,
    });
    opened.push(connection);
    void connection.connect();
    try {
      await eventually(() => errors.length >= 2, 5_000);
      expect(connection.isReady).toBe(false);
      expect(errors[0]?.message).toBe('connection timeout');
    } finally {
      connection.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('keeps trying an address where nothing listens, reporting each failure, until closed', async () => {
    const errors: Error[] = [];
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const connection = open(`redis://127.0.0.1:${port}`, errors);
    const connecting = connection.connect();
    await eventually(() => errors.length >= 3, 5_000);
    expect(connection.isReady).toBe(false);
    connection.close();
    expect(await connecting).toBe(false);
  });

  it('reports a refused AUTH without the password in the message, and is never ready', async () => {
    const errors: Error[] = [];
    const wrong = new URL(REDIS_URL);
    wrong.password = 'not-the-password-4711';
    const connection = open(wrong.toString(), errors);
    void connection.connect();
    await eventually(() => errors.length >= 1, 5_000);
    expect(connection.isReady).toBe(false);
    for (const error of errors) expect(error.message).not.toContain('not-the-password-4711');
  });

  /**
   * A stand-in server that answers every PING with PONG after `delayMs`, or not at all while `silent`: a server that
   * vanished without closing the connection cannot be made from a real Redis (a paused one still acknowledges).
   */
  async function pongServer(): Promise<{ url: string; connections: number; silent: boolean; delayMs: number; stop(): Promise<void> }> {
    const sockets: Socket[] = [];
    const state = {
      url: '',
      connections: 0,
      silent: false,
      delayMs: 0,
      stop: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
    const server: Server = createServer((socket) => {
      state.connections++;
      sockets.push(socket);
      socket.on('data', (chunk: Buffer) => {
        if (state.silent) return;
        const pings = chunk.toString('latin1').split('PING').length - 1;
        setTimeout(() => socket.write('+PONG\r\n'.repeat(pings)), state.delayMs);
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.url = `redis://127.0.0.1:${(server.address() as { port: number }).port}`;
    return state;
  }

  it('replaces a connection whose server stops answering, failing what was pending, and reconnects', async () => {
    const server = await pongServer();
    const errors: Error[] = [];
    const connection = open(server.url, errors, 200);
    try {
      expect(await connection.connect()).toBe(true);
      expect(await connection.send(['PING'])).toBe('PONG');
      server.silent = true;
      const started = performance.now();
      const unanswered = connection.send(['PING']);
      const also = connection.send(['PING']);
      await expect(unanswered).rejects.toThrow('no reply for 200 ms');
      await expect(also).rejects.toThrow('no reply for 200 ms');
      const waited = performance.now() - started;
      // Never before the whole timeout, and soon after it (checks run every quarter of it).
      expect(waited).toBeGreaterThanOrEqual(195);
      expect(waited).toBeLessThan(1_000);
      expect(errors.map((e) => e.message)).toContain('connection lost: no reply for 200 ms');
      server.silent = false;
      await eventually(() => connection.isReady, 5_000);
      expect(await connection.send(['PING'])).toBe('PONG');
      expect(server.connections).toBe(2);
    } finally {
      connection.close();
      await server.stop();
    }
  });

  it('keeps a connection whose server is slow but answers within the reply timeout, and one that is idle', async () => {
    const server = await pongServer();
    const errors: Error[] = [];
    const connection = open(server.url, errors, 300);
    try {
      expect(await connection.connect()).toBe(true);
      server.delayMs = 150;
      // Outstanding replies for about 900 ms in all, but never 300 ms without one arriving.
      for (let i = 0; i < 6; i++) expect(await connection.send(['PING'])).toBe('PONG');
      server.delayMs = 0;
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(await connection.send(['PING'])).toBe('PONG');
      expect({ errors: errors.map((e) => e.message), connections: server.connections, ready: connection.isReady }).toEqual({
        errors: [],
        connections: 1,
        ready: true,
      });
    } finally {
      connection.close();
      await server.stop();
    }
  });
});
