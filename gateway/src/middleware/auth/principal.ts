import { createHash, createHmac } from 'node:crypto';
import type { ApiKeyConfig } from '@sluice/shared/config/schema.ts';

/**
 * Who is calling, and what they may do. Scopes: `write:<table>`, `write:*`,
 * `read:<table>`, `read:*`, `admin`.
 */
export class Principal {
  private readonly writeAll: boolean;
  private readonly readAll: boolean;
  private readonly writes: ReadonlySet<string>;
  private readonly reads: ReadonlySet<string>;
  /** Holds `admin`. */
  readonly admin: boolean;

  constructor(
    /** Stable, non-secret id of the API key: scopes Idempotency-Keys, appears in logs. */
    readonly id: string,
    scopes: readonly string[],
  ) {
    this.writeAll = scopes.includes('write:*');
    this.readAll = scopes.includes('read:*');
    this.admin = scopes.includes('admin');
    this.writes = new Set(scopes.filter((s) => s.startsWith('write:')).map((s) => s.slice(6)));
    this.reads = new Set(scopes.filter((s) => s.startsWith('read:')).map((s) => s.slice(5)));
  }

  /** May write rows of `table`. */
  canWrite(table: string): boolean {
    return this.writeAll || this.writes.has(table);
  }

  /** May read rows of `table`. */
  canRead(table: string): boolean {
    return this.readAll || this.reads.has(table);
  }

  /** Holds at least one write scope (checked before a batch's body is read). */
  get hasWriteScope(): boolean {
    return this.writeAll || this.writes.size > 0;
  }

  /** Holds at least one read or write scope (e.g. to see write statuses). */
  get hasDataScope(): boolean {
    return this.writes.size > 0 || this.reads.size > 0;
  }
}

/** A caller without a key where one is optional: no scope at all. */
export const NOBODY = new Principal('nobody', []);

/** The principal of every request when auth is off (SLUICE_API_KEYS unset). */
export const ANONYMOUS = new Principal('anonymous', ['write:*', 'read:*', 'admin']);

/** sha256 of a secret, hex. */
export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * Keys by their sha256: a lookup compares digests, never the secret itself,
 * so response time does not depend on how much of a guessed key matched.
 * A key's id (in logs, Idempotency-Key scopes, owner tags) is an HMAC of the
 * key under `secret`, not its bare hash: an id seen in a log cannot be
 * checked against guessed keys offline without the secret.
 */
export function principalsByDigest(keys: readonly ApiKeyConfig[], secret: string): ReadonlyMap<string, Principal> {
  const map = new Map<string, Principal>();
  for (const k of keys) map.set(sha256Hex(k.key), new Principal(keyIdOf(secret, k.key), k.scopes));
  return map;
}

/** The non-secret id of API key `key`. */
export function keyIdOf(secret: string, key: string): string {
  return createHmac('sha256', secret).update(key).digest('hex').slice(0, 16);
}
