import type { MiddlewareHandler } from 'hono';
import { UnauthorizedError } from '@sluice/shared/errors/index.ts';
import { type ApiKeyConfig } from '@sluice/shared/config/schema.ts';
import { header, type GatewayEnv } from '../../context.ts';
import { ANONYMOUS, NOBODY, principalsByDigest, sha256Hex } from './principal.ts';

export { ANONYMOUS, Principal } from './principal.ts';

/** Options of `apiKeyAuth`. */
export interface AuthOptions {
  /** SLUICE_API_KEYS; undefined turns auth off (every caller is `anonymous` with every scope). */
  keys: readonly ApiKeyConfig[] | undefined;
  /** SLUICE_HMAC_SECRET: key ids are HMACs of the keys under it (config/index.ts `hmacSecretOf`). */
  secret: string;
  /** A request without Authorization gets NOBODY (no scope) instead of a 401 (/readyz: details for admins only). */
  optional?: boolean;
}

// Created once: errors are immutable, and a flood of bad keys should not cost a stack trace each.
const MISSING = new UnauthorizedError('missing Authorization: Bearer <API key>');
const UNKNOWN = new UnauthorizedError('unknown API key');

/**
 * `Authorization: Bearer <key>` (RFC 6750 §2.1). Sets `principal`; scope
 * checks (403) are the routes' job, since a batch names its tables in the body.
 */
export function apiKeyAuth(o: AuthOptions): MiddlewareHandler<GatewayEnv> {
  const byDigest = o.keys === undefined ? undefined : principalsByDigest(o.keys, o.secret);
  return async function apiKeyAuth(c, next) {
    if (byDigest === undefined) {
      c.set('principal', ANONYMOUS);
      return next();
    }
    const auth = header(c, 'authorization');
    if (auth === undefined && o.optional === true) {
      c.set('principal', NOBODY);
      return next();
    }
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    if (auth === undefined || auth.length < 8 || auth.slice(0, 7).toLowerCase() !== 'bearer ') throw MISSING;
    const principal = byDigest.get(sha256Hex(auth.slice(7).trim()));
    if (principal === undefined) throw UNKNOWN;
    c.set('principal', principal);
    return next();
  };
}
