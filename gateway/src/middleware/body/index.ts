import type { MiddlewareHandler } from 'hono';
import { UnsupportedMediaTypeError } from '@sluice/shared/errors/index.ts';
import { header, setHeader, type GatewayEnv } from '../../context.ts';
import { parseJson } from './json.ts';
import { readIncoming, readStream, tooLarge } from './read.ts';
import type { ByteBudget } from './budget.ts';

export { ByteBudget } from './budget.ts';

export { jsonDepthExceeds } from './json.ts';

/** Options of `jsonBody`. */
export interface JsonBodyOptions {
  /** SLUICE_MAX_BODY_BYTES */
  maxBytes: number;
  /** SLUICE_MAX_JSON_DEPTH */
  maxDepth: number;
  /** Bytes of bodies held at once (SLUICE_MAX_PENDING_BYTES), reserved before reading. */
  budget?: ByteBudget;
}

const NOT_JSON = new UnsupportedMediaTypeError('Content-Type must be application/json');
const NOT_UTF8 = new UnsupportedMediaTypeError('JSON must be UTF-8 (RFC 8259 §8.1); charset must be utf-8 if given');
// RFC 9110 §15.5.16: a content coding the server does not apply is a 415.
const ENCODED = new UnsupportedMediaTypeError('Content-Encoding is not supported; send the JSON uncompressed');

/** `application/json`, optionally with parameters; a charset, if any, must be UTF-8. */
function checkContentType(value: string | undefined): void {
  if (value === undefined) throw NOT_JSON;
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (type !== 'application/json') throw NOT_JSON;
  if (semi >= 0) {
    const m = /charset\s*=\s*"?([^";\s]+)/i.exec(value.slice(semi));
    if (m && m[1]!.toLowerCase() !== 'utf-8' && m[1]!.toLowerCase() !== 'utf8') throw NOT_UTF8;
  }
}

/**
 * Content type (415), size (413, counted while reading: chunked bodies and
 * lying Content-Length included), UTF-8 and JSON syntax (400), nesting depth
 * (400). Sets `body` to the parsed value. A 413 also closes the connection so
 * a client still sending does not tie it up.
 */
export function jsonBody(o: JsonBodyOptions): MiddlewareHandler<GatewayEnv> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const { maxBytes, maxDepth } = o;
  return async function jsonBody(c, next) {
    checkContentType(header(c, 'content-type'));
    const coding = header(c, 'content-encoding');
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') throw ENCODED;
    const declared = header(c, 'content-length');
    let bytes: Uint8Array;
    let reserved = 0;
    try {
      if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
      // Before a byte is read: a body without a length may grow to the limit.
      if (o.budget !== undefined) {
        const want = declared !== undefined && Number.isFinite(Number(declared)) ? Number(declared) : maxBytes;
        o.budget.reserve(want);
        reserved = want;
      }
      const incoming = c.env?.incoming;
      bytes = incoming !== undefined ? await readIncoming(incoming, maxBytes) : await readStream(c.req.raw.body, maxBytes);
    } catch (err) {
      o.budget?.release(reserved);
      setHeader(c, 'Connection', 'close');
      throw err;
    }
    try {
      c.set('body', parseJson(bytes, decoder, maxDepth));
      return await next();
    } finally {
      o.budget?.release(reserved);
    }
  };
}
