import type { IncomingMessage } from 'node:http';

/** The body was larger than the limit, or not of the expected format. */
export class BadRequestBodyError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 | 415 = 400,
  ) {
    super(message);
  }
}

/** A request that a framework (Express with body-parser, Nest) may already have read. */
type MaybeParsedRequest = IncomingMessage & { body?: unknown; _body?: boolean };

/** body-parser 2 no longer flags `_body`: a consumed stream is the sign, as in its own `on-finished` check. */
function alreadyParsed(req: MaybeParsedRequest): boolean {
  return req._body === true || req.readableEnded || (req.complete && !req.readable);
}

async function readRaw(req: IncomingMessage, limitBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new BadRequestBodyError(`body larger than ${limitBytes} bytes`, 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads an `application/x-www-form-urlencoded` body. Works as a standalone server and as middleware behind a body
 * parser that already consumed the stream.
 */
export async function readForm(req: IncomingMessage, limitBytes = 16 * 1024): Promise<URLSearchParams> {
  const parsed = req as MaybeParsedRequest;
  if (alreadyParsed(parsed)) {
    const body = parsed.body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) return new URLSearchParams(body.toString());
    const form = new URLSearchParams();
    if (body && typeof body === 'object') {
      for (const [key, value] of Object.entries(body)) {
        for (const item of Array.isArray(value) ? value : [value]) {
          if (typeof item !== 'string') throw new BadRequestBodyError(`field ${key} is not a string`);
          form.append(key, item);
        }
      }
    }
    return form;
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new BadRequestBodyError('expected application/x-www-form-urlencoded', 415);
  }
  return new URLSearchParams(await readRaw(req, limitBytes));
}

/** Reads a JSON body (an empty body is `{}`), also behind a body parser that already consumed the stream. */
export async function readJson(req: IncomingMessage, limitBytes = 16 * 1024): Promise<unknown> {
  const parsed = req as MaybeParsedRequest;
  if (alreadyParsed(parsed)) {
    const body = parsed.body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) return parseJson(body.toString());
    return body ?? {};
  }
  return parseJson(await readRaw(req, limitBytes));
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadRequestBodyError('body is not valid JSON');
  }
}
