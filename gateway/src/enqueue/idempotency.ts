import { createHash } from 'node:crypto';
import { IdempotencyInFlightError, IdempotencyMismatchError, UnavailableError, ValidationError } from '@sluice/shared/errors/index.ts';
import { type Logger } from '@sluice/shared/log/index.ts';
import { type Queryable } from '@sluice/shared/db/pool.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';

/**
 * Idempotency-Key (draft-ietf-httpapi-idempotency-key-header), scoped per API
 * key. Redis answers fast: `SET … NX` claims a key as `pending:<hash>`, and
 * after the enqueue it becomes `done:<hash>:<writeId>`. Postgres is the
 * authority (`sluice.idempotency_keys`, written by the writer in the data
 * transaction), consulted when Redis has nothing: a Redis that lost the key
 * must not let a retry apply twice — and even if both miss, the writer's
 * unique key reports the retry as a duplicate instead of applying it.
 */

/** Longest Idempotency-Key accepted. */
export const MAX_IDEMPOTENCY_KEY = 255;

/** The outcome of a claim: go ahead and enqueue, or replay an earlier write. */
export type Claim = { kind: 'new' } | { kind: 'replay'; writeId: string };

/**
 * The key from the header. The draft defines it as a Structured Field string
 * (RFC 8941 §3.3.3, `"…"`); a bare token is accepted too.
 */
export function parseIdempotencyKey(value: string): string {
  let key = value.trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1).replace(/\\(["\\])/g, '$1');
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY) {
    throw new ValidationError(`Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY} characters`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new ValidationError('Idempotency-Key must not contain control characters');
  return key;
}

/** JSON with object keys sorted at every level: the same document hashes the same however it was spelled. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** sha256 of what makes two requests "the same": method, path, operation, canonical body. */
export function requestHash(method: string, path: string, op: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path} ${op}\n${body === undefined ? '' : canonicalJson(body)}`).digest('hex');
}

const PENDING = 'pending:';
const DONE = 'done:';

/** The Redis fast path plus the Postgres authority. */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly db: Queryable,
    private readonly o: { prefix: string; ttlS: number; pendingTtlMs: number; log: Logger },
  ) {}

  private redisKey(scope: string, key: string): string {
    return `${this.o.prefix}:idem:${scope}:${key}`;
  }

  /** Claim `key` for a request with `hash`, or learn what an earlier request with that key did. */
  async claim(scope: string, key: string, hash: string): Promise<Claim> {
    const rkey = this.redisKey(scope, key);
    // SET NX GET (Redis ≥ 7.0): claim and read the previous value in one atomic step.
    const prev = await this.redis.set(rkey, PENDING + hash, 'PX', this.o.pendingTtlMs, 'NX', 'GET');
    if (prev !== null) return this.judge(prev, hash);
    let row: { request_hash: string; write_id: string } | undefined;
    try {
      const res = await this.db.query<{ request_hash: string; write_id: string }>(
        'SELECT request_hash, write_id FROM sluice.idempotency_keys WHERE scope = $1 AND key = $2',
        [scope, key],
      );
      row = res.rows[0];
    } catch (err) {
      await this.release(scope, key);
      this.o.log.warn({ err: { message: (err as Error).message } }, 'idempotency lookup in Postgres failed');
      throw new UnavailableError('cannot check the Idempotency-Key right now (database unavailable); retry later', 1);
    }
    if (row === undefined) return { kind: 'new' };
    // Known to Postgres only (Redis lost it or it expired there): cache the answer again.
    await this.redis.set(rkey, `${DONE}${row.request_hash}:${row.write_id}`, 'EX', this.o.ttlS);
    return this.judge(`${DONE}${row.request_hash}:${row.write_id}`, hash);
  }

  /** The request was enqueued as `writeId`: later retries replay it. */
  async complete(scope: string, key: string, hash: string, writeId: string): Promise<void> {
    await this.redis.set(this.redisKey(scope, key), `${DONE}${hash}:${writeId}`, 'EX', this.o.ttlS);
  }

  /** The request was not enqueued: free the key for a retry. Never throws. */
  async release(scope: string, key: string): Promise<void> {
    await this.redis.del(this.redisKey(scope, key)).catch((err: Error) => {
      this.o.log.warn({ err: { message: err.message } }, 'could not release an Idempotency-Key; it expires on its own');
    });
  }

  private judge(stored: string, hash: string): Claim {
    if (stored.startsWith(DONE)) {
      // done:<64 hex>:<writeId>
      const storedHash = stored.slice(DONE.length, DONE.length + 64);
      if (storedHash !== hash) throw new IdempotencyMismatchError();
      return { kind: 'replay', writeId: stored.slice(DONE.length + 65) };
    }
    if (stored.slice(PENDING.length) !== hash) throw new IdempotencyMismatchError();
    throw new IdempotencyInFlightError();
  }
}
