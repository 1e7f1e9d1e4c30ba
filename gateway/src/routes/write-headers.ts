import { ValidationError } from '@sluice/shared/errors/index.ts';
import { type IdempotencyRef } from '@sluice/shared/queue/contract.ts';
import { header, type Ctx } from '../context.ts';
import type { AckMode } from '../enqueue/service.ts';
import { parseIdempotencyKey, requestHash } from '../enqueue/idempotency.ts';

const BAD_ACK = new ValidationError('Sluice-Ack must be "queued", "committed" or "replicated"');

/** `Sluice-Ack: queued | committed | replicated` (default queued). */
export function ackModeOf(c: Ctx): AckMode {
  const v = header(c, 'sluice-ack');
  if (v === undefined || v === 'queued') return 'queued';
  if (v === 'committed') return 'committed';
  const t = v.trim().toLowerCase();
  if (t === 'queued' || t === 'committed' || t === 'replicated') return t;
  throw BAD_ACK;
}

/**
 * The value of one preference in `Prefer` (RFC 7240 §2): a comma-separated
 * list of `token[=value]` with optional `;` parameters. Tokens compare
 * case-insensitively, values may be quoted, unknown preferences are ignored.
 */
export function preference(prefer: string | undefined, name: string): string | undefined {
  if (prefer === undefined) return undefined;
  for (const item of prefer.split(',')) {
    const pref = item.split(';', 1)[0]!;
    const eq = pref.indexOf('=');
    const token = (eq < 0 ? pref : pref.slice(0, eq)).trim().toLowerCase();
    if (token !== name) continue;
    const value = eq < 0 ? '' : pref.slice(eq + 1).trim();
    return value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value;
  }
  return undefined;
}

/**
 * The Idempotency-Key of this request, scoped to the caller's API key, with
 * the hash of what the request asks for; undefined when the header is absent.
 */
export function idempotencyOf(c: Ctx, op: string, body: unknown): IdempotencyRef | undefined {
  const v = header(c, 'idempotency-key');
  if (v === undefined) return undefined;
  return { scope: c.get('principal').id, key: parseIdempotencyKey(v), hash: requestHash(c.req.method, c.req.path, op, body) };
}
