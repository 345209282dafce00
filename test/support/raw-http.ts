/**
 * HTTP/1.1 requests written byte for byte on a TCP socket, for hostile-input tests: fetch and supertest normalize
 * or refuse what an attacker sends (raw control characters, stray `%`, `#`, non-ASCII bytes in the target, odd
 * headers), and the point is to see what the server does with exactly those bytes. Answers are parsed just enough:
 * status, raw header lines (so that an injected header would be seen as its own line) and the body.
 */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  /** Header lines as received, `Name: value`. */
  headerLines: string[];
  /** Lower-cased header name → values. */
  headers: Map<string, string[]>;
  body: string;
}

export interface RawRequest {
  /** The request target: path and query, as bytes (latin1: one char per byte). */
  target: string;
  /** Extra header lines (`Name: value`, latin1 bytes). */
  headers?: string[];
  method?: string;
  timeoutMs?: number;
}

/** Sends one request with `Connection: close` to `origin` (http://host:port) and reads the whole answer. */
export function rawRequest(origin: string, request: RawRequest): Promise<RawAnswer> {
  const { hostname, port } = new URL(origin);
  const timeoutMs = request.timeoutMs ?? 10_000;
  const head = [
    `${request.method ?? 'GET'} ${request.target} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    ...(request.headers ?? []),
    'Connection: close',
    '',
    '',
  ].join('\r\n');
  return new Promise<RawAnswer>((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms to ${JSON.stringify(request.target.slice(0, 200))}`));
    }, timeoutMs);
    // Written, not ended: Node's HTTP server aborts a request whose client half-closes before the answer is ready.
    // `Connection: close` makes the server close the socket once it has answered.
    socket.on('connect', () => socket.write(Buffer.from(head, 'latin1')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      // A reset after the full answer arrived is the server closing a connection it considers done.
      if (chunks.length === 0) {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parseAnswer(Buffer.concat(chunks)));
      } catch (error) {
        reject(error);
      }
    });
  });
}

function parseAnswer(bytes: Buffer): RawAnswer {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`incomplete HTTP answer: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine = '', ...headerLines] = text.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine)}`);
  const headers = new Map<string, string[]>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  let body: Buffer = Buffer.from(text.slice(end + 4), 'latin1');
  if (headers.get('transfer-encoding')?.some((value) => /chunked/i.test(value))) body = dechunk(body);
  return { status: Number(match[1]), headerLines, headers, body: body.toString('utf8') };
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
