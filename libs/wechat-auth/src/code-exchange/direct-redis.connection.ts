import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/** A RESP2 reply as the library reads it: strings, integers, nil, and arrays of them. */
export type RespReply = string | number | null | RespReply[];

/** An error reply from the server (`-ERR …`, `-NOSCRIPT …`): the message is the server's. */
export class RespErrorReply extends Error {
  override readonly name = 'RespErrorReply';
}

const CR = 0x0d;
const LF = 0x0a;
/** Far above any reply the library asks for (a sealed outcome is a few KB); beyond it the stream is not trusted. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;
const MAX_ARRAY_ITEMS = 1_024;
const INTEGER = /^-?\d{1,15}$/;

/** A length or integer line: digits only (a `Number()` would take "", "1e12" or "Infinity"). */
function integerOf(line: string): number {
  if (!INTEGER.test(line)) throw new Error('Malformed RESP integer');
  return Number(line);
}

/**
 * Incremental RESP2 reader: feed it the socket's chunks, it calls `onReply` once per complete top-level reply, in
 * order. Bulk strings are read as UTF-8. Replies split across chunks (anywhere, even inside `\r\n`) are kept until
 * they are complete. Anything malformed (a length that is not an integer, a missing CRLF, a reply larger than
 * 16 MiB or an array of more than 1,024 items) throws: replies can no longer be matched to commands, and the
 * connection must be dropped.
 */
export class RespReader {
  private pending?: Buffer;

  constructor(private readonly onReply: (reply: RespReply | RespErrorReply) => void) {}

  feed(chunk: Buffer): void {
    const buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let offset = 0;
    while (offset < buffer.length) {
      const read = this.readValue(buffer, offset);
      if (read === undefined) break;
      offset = read.end;
      this.onReply(read.value);
    }
    if (offset < buffer.length) {
      if (buffer.length - offset > MAX_REPLY_BYTES) throw new Error('RESP reply too large');
      this.pending = buffer.subarray(offset);
    }
  }

  /** Drops a partial reply (the connection it came from is gone). */
  reset(): void {
    this.pending = undefined;
  }

  /** The value at `offset`, and where it ends; undefined when the buffer does not hold all of it yet. */
  private readValue(buffer: Buffer, offset: number): { value: RespReply | RespErrorReply; end: number } | undefined {
    const lineEnd = buffer.indexOf(CR, offset + 1);
    if (lineEnd === -1 || lineEnd + 1 >= buffer.length) return undefined;
    if (buffer[lineEnd + 1] !== LF) throw new Error('Malformed RESP line');
    const type = buffer[offset];
    const line = buffer.toString('utf8', offset + 1, lineEnd);
    const afterLine = lineEnd + 2;
    switch (type) {
      case 0x2b: // '+' simple string
        return { value: line, end: afterLine };
      case 0x2d: // '-' error
        return { value: new RespErrorReply(line), end: afterLine };
      case 0x3a: // ':' integer
        return { value: integerOf(line), end: afterLine };
      case 0x24: {
        // '$' bulk string
        const length = integerOf(line);
        if (length === -1) return { value: null, end: afterLine };
        if (length < 0 || length > MAX_REPLY_BYTES) throw new Error('Malformed RESP bulk length');
        const end = afterLine + length + 2;
        if (end > buffer.length) return undefined;
        if (buffer[end - 2] !== CR || buffer[end - 1] !== LF) throw new Error('Malformed RESP bulk string');
        return { value: buffer.toString('utf8', afterLine, afterLine + length), end };
      }
      case 0x2a: {
        // '*' array
        const count = integerOf(line);
        if (count === -1) return { value: null, end: afterLine };
        if (count < 0 || count > MAX_ARRAY_ITEMS) throw new Error('Malformed RESP array length');
        const items: RespReply[] = [];
        let at = afterLine;
        for (let i = 0; i < count; i++) {
          const item = this.readValue(buffer, at);
          if (item === undefined) return undefined;
          // An error inside an array (EXEC) is returned as its message; the library sends no such command.
          items.push(item.value instanceof RespErrorReply ? item.value.message : item.value);
          at = item.end;
        }
        return { value: items, end: at };
      }
      default:
        throw new Error(`Unexpected RESP type byte 0x${(type ?? 0).toString(16)}`);
    }
  }
}

/** How many decimal digits a non-negative integer has. */
function digitCount(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    digits++;
  }
  return digits;
}

/** Writes `<type><n>\r\n` at `at`; returns where it ends. */
function writeHeader(out: Buffer, at: number, type: number, n: number): number {
  out[at] = type;
  const end = at + 1 + digitCount(n);
  for (let i = end - 1; i > at; i--) {
    out[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  out[end] = CR;
  out[end + 1] = LF;
  return end + 2;
}

/**
 * One command as RESP2 (an array of bulk strings), written straight into one buffer: building it as a string would
 * allocate a rope of intermediate strings, flattened and then encoded again when written (a command carrying an
 * outcome is most of a kilobyte, sent on every login).
 */
export function encodeCommand(args: ReadonlyArray<string>): Buffer {
  let size = 3 + digitCount(args.length);
  for (const arg of args) {
    const length = Buffer.byteLength(arg, 'utf8');
    size += 5 + digitCount(length) + length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = writeHeader(out, 0, 0x2a, args.length); // '*'
  for (const arg of args) {
    // Measured again rather than kept from the sizing pass: a byte count costs less than an array to hold them.
    at = writeHeader(out, at, 0x24, Buffer.byteLength(arg, 'utf8')); // '$'
    at += out.write(arg, at, 'utf8');
    out[at++] = CR;
    out[at++] = LF;
  }
  return out;
}

export interface DirectRedisConnectionOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS). */
  url: string;
  connectTimeoutMs: number;
  /** Delay before reconnect attempt `retries` (0-based). */
  reconnectDelayMs(retries: number): number;
  /** A connection attempt failed or a ready connection was lost; reconnecting continues unless closed. */
  onError(error: Error): void;
  /**
   * A ready connection that has had replies outstanding, and received none, for this long is taken for dead and
   * replaced (its pending commands are rejected). A server that vanished without closing the connection (a failover
   * that moved its address, a network dropping every packet) would otherwise hold it until TCP gives up, many
   * minutes later; a slow but living server is not affected as long as it answers anything within this time.
   */
  replyTimeoutMs: number;
}

/** Where the reply of one command goes: exactly one of its methods is called, once. */
export interface ReplySink {
  resolve(reply: RespReply): void;
  reject(error: Error): void;
}

/**
 * The library's own command connection to Redis when it is given a URL: a command sent on an idle connection is
 * written at once (in a microtask), commands sent while replies are outstanding are written together at the end of
 * the turn; replies are matched to commands in order.
 *
 * Why not node-redis here: node-redis writes the commands of a turn of the event loop in a `setImmediate`, so a
 * command sent while other requests are being handled waits for all of them first. Measured in the benchmark's
 * duplicate phase, inside loaded instances: a PING through node-redis p90 1.2-1.5 ms / p99 3.5-4.5 ms, the same PING
 * written at once p90 0.6-0.9 ms / p99 2.3-3.8 ms. The claim before the exchange and the wake-up after it are both
 * such round trips. Writing every command at once, though, doubled Redis's CPU per login at saturation (a system
 * call and a wake-up per command): hence batching while replies are outstanding. The subscriber stays a node-redis
 * client, and so does a client the app passes in.
 *
 * Like the library's node-redis connections: no offline queue (a command while disconnected is rejected at once,
 * so a stale lock command can never run after a reconnect), reconnects forever with the given back-off, and
 * reports errors rather than throwing them.
 */
export class DirectRedisConnection {
  private socket?: Socket;
  private readonly reader: RespReader;
  private readonly pending: ReplySink[] = [];
  private pendingHead = 0;
  private ready = false;
  /** Commands encoded but not written yet, and when they will be. */
  private outgoing: Buffer[] = [];
  private flush: 'none' | 'microtask' | 'end-of-turn' = 'none';
  private readonly writeOutgoing = (): void => {
    this.flush = 'none';
    const out = this.outgoing;
    if (out.length === 0) return;
    this.outgoing = [];
    this.socket?.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
  };
  private closed = false;
  private retries = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly readyWaiters = new Set<(ready: boolean) => void>();
  private readonly drainWaiters = new Set<() => void>();
  /** Replies received on this connection: the watchdog looks for progress, not for the age of each command. */
  private repliesReceived = 0;
  private watchdog?: NodeJS.Timeout;
  /** Drops the current socket as lost (set while a socket is open). */
  private dropSocket?: (error: Error) => void;
  private readonly target: { tls: boolean; host: string; port: number; handshake: string[][] };

  constructor(private readonly options: DirectRedisConnectionOptions) {
    this.target = parseRedisUrl(options.url);
    this.reader = new RespReader((reply) => this.settleNext(reply));
  }

  /** Connected, handshake done, and not closed. */
  get isReady(): boolean {
    return this.ready && !this.closed;
  }

  /** Starts connecting (and reconnecting); resolves true once ready, or false when closed first. */
  connect(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.ready) return Promise.resolve(true);
    const readyPromise = new Promise<boolean>((resolve) => this.readyWaiters.add(resolve));
    if (!this.socket && !this.reconnectTimer) this.open();
    return readyPromise;
  }

  /**
   * True while commands are waiting for the end of this turn of the event loop to be written (see {@link send}).
   */
  get writeWaitsForEndOfTurn(): boolean {
    return this.flush === 'end-of-turn';
  }

  /**
   * Sends a command; rejects at once when not ready. When no reply is outstanding, the command is written in a
   * microtask (with any other command sent in the same synchronous run): a request waiting on it does not wait for
   * the other callbacks of this turn. Otherwise it is written at the end of the turn with every command sent
   * meanwhile, as node-redis always does: under load one write then carries the commands of many requests, which
   * saves this process and Redis a system call and a wake-up per command.
   */
  send(args: ReadonlyArray<string>): Promise<RespReply> {
    return new Promise<RespReply>((resolve, reject) => this.sendTo(args, { resolve, reject }));
  }

  /**
   * {@link send} without a promise of its own: the reply (or the error) goes to `sink`, possibly synchronously when
   * the connection is not ready. For a caller that already has one promise per command.
   */
  sendTo(args: ReadonlyArray<string>, sink: ReplySink): void {
    if (!this.ready || this.closed || !this.socket) {
      sink.reject(new Error('Redis connection not ready'));
      return;
    }
    const outstanding = this.pending.length - this.pendingHead;
    this.pending.push(sink);
    this.outgoing.push(encodeCommand(args));
    if (this.flush !== 'none') return;
    if (outstanding === 0) {
      this.flush = 'microtask';
      queueMicrotask(this.writeOutgoing);
    } else {
      this.flush = 'end-of-turn';
      setImmediate(this.writeOutgoing);
    }
  }

  /**
   * Resolves once every command sent so far has its reply, or after `timeoutMs` (a lock release sent just before
   * shutdown should still reach Redis, but a hung server must not hold the shutdown).
   */
  drain(timeoutMs: number): Promise<void> {
    if (this.pending.length === this.pendingHead || !this.ready) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.drainWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.drainWaiters.add(done);
    });
  }

  /** Stops reconnecting and closes the socket; commands still pending are rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopWatchdog();
    this.socket?.destroy();
    this.socket = undefined;
    this.outgoing = [];
    this.failPending(new Error('Redis connection closed'));
    for (const waiter of this.readyWaiters) waiter(false);
    this.readyWaiters.clear();
  }

  private open(): void {
    const { tls, host, port, handshake } = this.target;
    const socket = tls
      ? connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}) })
      : connectTcp({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5_000);
    socket.setTimeout(this.options.connectTimeoutMs);
    let failed = false;
    const fail = (error: Error): void => {
      if (failed) return;
      failed = true;
      this.stopWatchdog();
      if (this.dropSocket === fail) this.dropSocket = undefined;
      socket.destroy();
      if (this.socket === socket) this.socket = undefined;
      const wasReady = this.ready;
      this.ready = false;
      this.reader.reset();
      // Commands not written yet belong to the lost connection: their callers are rejected just below.
      this.outgoing = [];
      this.failPending(error);
      if (this.closed) return;
      this.options.onError(wasReady ? new Error(`connection lost: ${error.message}`) : error);
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        if (!this.closed) this.open();
      }, this.options.reconnectDelayMs(this.retries++));
      this.reconnectTimer.unref();
    };
    this.dropSocket = fail;
    socket.once('timeout', () => fail(new Error('connection timeout')));
    socket.on('error', (error) => fail(error));
    socket.once('close', () => fail(new Error('connection closed')));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.feed(chunk);
      } catch (error) {
        fail(error instanceof Error ? error : new Error('unreadable reply'));
      }
    });
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      void this.handshake(socket, handshake).then(
        () => {
          if (this.socket !== socket || this.closed) return;
          socket.setTimeout(0);
          this.ready = true;
          this.retries = 0;
          this.startWatchdog();
          for (const waiter of this.readyWaiters) waiter(true);
          this.readyWaiters.clear();
        },
        (error: unknown) => fail(error instanceof Error ? error : new Error('handshake failed')),
      );
    });
  }

  /**
   * AUTH and SELECT, then a PING: the connection counts as ready only once the server has answered (a proxy without
   * a backend, or a Redis still loading its data, accepts the TCP connection all the same).
   */
  private async handshake(socket: Socket, commands: string[][]): Promise<void> {
    for (const args of [...commands, ['PING']]) {
      const reply = await new Promise<RespReply>((resolve, reject) => {
        this.pending.push({ resolve, reject });
        socket.write(encodeCommand(args));
      });
      if (reply !== (args[0] === 'PING' ? 'PONG' : 'OK')) throw new Error(`${args[0]} was refused`);
    }
  }

  /**
   * Every quarter of the reply timeout: a connection that had replies outstanding at each of the last five checks
   * (so for at least the whole timeout) and received none meanwhile is dropped, and reconnected. One timer per
   * connection, nothing per command.
   */
  private startWatchdog(): void {
    this.stopWatchdog();
    const tickMs = Math.max(1, Math.ceil(this.options.replyTimeoutMs / 4));
    let seen = this.repliesReceived;
    let stalledTicks = 0;
    this.watchdog = setInterval(() => {
      const outstanding = this.pending.length - this.pendingHead;
      if (outstanding === 0 || this.repliesReceived !== seen) {
        seen = this.repliesReceived;
        stalledTicks = 0;
        return;
      }
      if (++stalledTicks >= 5) this.dropSocket?.(new Error(`no reply for ${this.options.replyTimeoutMs} ms`));
    }, tickMs);
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  private settleNext(reply: RespReply | RespErrorReply): void {
    const command = this.pending[this.pendingHead];
    if (!command) return; // nothing asked: cannot happen on a healthy connection
    this.repliesReceived++;
    this.pending[this.pendingHead++] = undefined as unknown as ReplySink;
    if (this.pendingHead > 1_024 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    if (reply instanceof RespErrorReply) command.reject(reply);
    else command.resolve(reply);
    if (this.drainWaiters.size > 0 && this.pending.length === this.pendingHead) this.drained();
  }

  private drained(): void {
    for (const done of [...this.drainWaiters]) done();
  }

  private failPending(error: Error): void {
    const commands = this.pending.splice(this.pendingHead);
    this.pending.length = 0;
    this.pendingHead = 0;
    for (const command of commands) command.reject(error);
    this.drained();
  }
}

/** Host, port, TLS and the handshake (AUTH, SELECT) of a redis:// or rediss:// URL. */
export function parseRedisUrl(url: string): { tls: boolean; host: string; port: number; handshake: string[][] } {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new TypeError('Expected a redis:// or rediss:// URL');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const handshake: string[][] = [];
  const password = decodeURIComponent(parsed.password);
  const username = decodeURIComponent(parsed.username);
  // As node-redis reads a URL: a user name alone still authenticates (as that user, with an empty password).
  if (username !== '') handshake.push(['AUTH', username, password]);
  else if (password !== '') handshake.push(['AUTH', password]);
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '') {
    if (!/^\d+$/.test(db)) throw new TypeError('The database in a Redis URL must be a number');
    if (db !== '0') handshake.push(['SELECT', db]);
  }
  return { tls: parsed.protocol === 'rediss:', host, port, handshake };
}
