import type { IncomingMessage } from 'node:http';
import { MalformedBodyError, PayloadTooLargeError } from '@sluice/shared/errors/index.ts';

// Reading a request body into memory, never holding more than `max` bytes:
// the count is kept while reading, so a chunked body (no length) and a
// Content-Length that lies both stop at the limit. (Hono's bodyLimit trusts
// Content-Length when there is no Transfer-Encoding.)

/** The 413 of a body over SLUICE_MAX_BODY_BYTES. */
export function tooLarge(max: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`request body exceeds SLUICE_MAX_BODY_BYTES (${max} bytes)`);
}

/** From Node's IncomingMessage (under @hono/node-server): no Fetch stream in between. */
export function readIncoming(incoming: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | undefined) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      // Stop buffering; what is left is drained and discarded by the server (bounded).
      if (size > max) done(tooLarge(max));
      else chunks.push(chunk);
    };
    const onEnd = () => done(undefined);
    const onError = () => done(new MalformedBodyError('the request body could not be read'));
    // 'close' before 'end': the client went away mid-body.
    const onClose = () => done(new MalformedBodyError('the client closed the connection before the body ended'));
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}

/** From a Fetch `ReadableStream` (app.request() in tests, other runtimes). */
export async function readStream(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        reader.cancel().catch(() => {});
        throw tooLarge(max);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
