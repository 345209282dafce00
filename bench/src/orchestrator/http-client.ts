import { Agent, request, type IncomingHttpHeaders } from 'node:http';

/** One HTTP answer as the load generator sees it (redirects are never followed). */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request in flight that the caller may abort, as a browser aborts a navigation it replaces. */
export interface PendingRequest {
  readonly done: Promise<HttpAnswer>;
  /** Closes the connection (the server sees the client go away). No-op once answered. */
  abort(): void;
  readonly settled: boolean;
}

export class RequestAbortedError extends Error {
  constructor() {
    super('aborted by the client');
  }
}

/** Keep-alive connections shared by all simulated browsers (loopback only). */
export const agent = new Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 256 });

const MAX_BODY_BYTES = 1 << 20;

/** Sends a request; the answer's body is read fully. Every request has a hard timeout, so nothing can hang. */
export function send(
  method: 'GET' | 'POST',
  url: string,
  options: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): PendingRequest {
  let settled = false;
  let abort: () => void = () => undefined;
  const done = new Promise<HttpAnswer>((resolve, reject) => {
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(options.body));
    }
    const req = request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(new Error('answer too large'));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () =>
        finish(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })),
      );
      res.on('error', (error) => finish(() => reject(error)));
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(() => reject(new Error(`timeout after ${options.timeoutMs ?? 20_000} ms: ${method} ${new URL(url).pathname}`)));
    }, options.timeoutMs ?? 20_000);
    req.on('error', (error) => finish(() => reject(error)));
    abort = () => {
      if (settled) return;
      finish(() => reject(new RequestAbortedError()));
      req.destroy();
    };
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
  // An aborted request's rejection is expected; callers that care await `done`.
  done.catch(() => undefined);
  return {
    done,
    abort: () => abort(),
    get settled() {
      return settled;
    },
  };
}

export async function getJson<T>(url: string, timeoutMs = 20_000): Promise<T> {
  const answer = await send('GET', url, { timeoutMs }).done;
  if (answer.status !== 200) throw new Error(`GET ${new URL(url).pathname} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
  return JSON.parse(answer.body) as T;
}

export async function postJson<T>(url: string, body: unknown, timeoutMs = 20_000): Promise<T> {
  const answer = await send('POST', url, { body: JSON.stringify(body), timeoutMs }).done;
  if (answer.status !== 200) throw new Error(`POST ${new URL(url).pathname} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
  return JSON.parse(answer.body) as T;
}
