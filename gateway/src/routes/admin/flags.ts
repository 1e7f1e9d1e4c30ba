import type { Hono, MiddlewareHandler } from 'hono';
import type { Pool } from '@sluice/shared/db/pool.ts';
import { NotFoundError, ValidationError } from '@sluice/shared/errors/index.ts';
import { FLAG_NAME } from '@sluice/shared/flags/evaluate.ts';
import type { FlagFollower } from '@sluice/shared/flags/follower.ts';
import { deleteFlag, flagHistory, loadFlags, putFlag, type FlagInput } from '@sluice/shared/sql/flags.ts';
import type { Ctx, GatewayEnv } from '../../context.ts';
import { RESERVED_FLAG_NAMES } from '../flags.ts';

/**
 * `/v1/admin/flags` (scope `admin`): create or change a flag (PUT), list,
 * history (the audit rows: who, when, before, after), delete. Each change
 * commits in Postgres (shared/src/sql/flags.ts), then this gateway reloads its
 * own copy before answering and announces the version to the others
 * (shared/src/flags/follower.ts), so the caller's next evaluation anywhere
 * sees it within the propagation bound.
 */

/** What the flag admin routes need. */
export interface FlagAdminDeps {
  /** The first shard's pool. */
  db: Pool;
  flags: FlagFollower;
}

const MAX_DESCRIPTION = 1000;
const DEFAULT_HISTORY = 100;
const MAX_HISTORY = 1000;

function nameOf(c: Ctx): string {
  const name = c.req.param('name') ?? '';
  if (!FLAG_NAME.test(name)) throw new ValidationError(`a flag name is 1–100 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit)`, [{ pointer: '/name', detail: `expected ${FLAG_NAME.source}` }]);
  if (RESERVED_FLAG_NAMES.has(name)) throw new ValidationError(`"${name}" is reserved (GET /v1/flags/${name} is a route)`, [{ pointer: '/name', detail: 'reserved name' }]);
  return name;
}

/** The PUT body: `enabled` required; `rollout` 0–100 (default 100); `description` (default ""). */
function inputOf(body: unknown): FlagInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('the body must be {"enabled":true,"rollout":10,"description":"…"}');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!['enabled', 'rollout', 'description'].includes(k)) throw new ValidationError(`unknown member ${JSON.stringify(k.slice(0, 40))}`, [{ pointer: `/${k.slice(0, 40)}`, detail: 'expected enabled, rollout, description' }]);
  if (typeof b.enabled !== 'boolean') throw new ValidationError('enabled must be true or false', [{ pointer: '/enabled', detail: 'expected a boolean' }]);
  const rollout = b.rollout ?? 100;
  if (typeof rollout !== 'number' || !Number.isInteger(rollout) || rollout < 0 || rollout > 100) throw new ValidationError('rollout is the percent of users, an integer from 0 to 100', [{ pointer: '/rollout', detail: 'expected an integer 0–100' }]);
  const description = b.description ?? '';
  if (typeof description !== 'string' || description.length > MAX_DESCRIPTION) throw new ValidationError(`description must be a string of at most ${MAX_DESCRIPTION} characters`, [{ pointer: '/description', detail: 'expected a string' }]);
  return { enabled: b.enabled, rollout, description };
}

/** After a commit: this gateway adopts the change before answering; the others hear of it. */
async function propagate(d: FlagAdminDeps, version: number): Promise<void> {
  await d.flags.announce(version);
  await d.flags.refresh();
}

/** PUT /v1/admin/flags/{name} */
function putRoute(d: FlagAdminDeps) {
  return async function putFlagRoute(c: Ctx): Promise<Response> {
    const name = nameOf(c);
    const input = inputOf(c.get('body'));
    const flag = await putFlag(d.db, name, input, c.get('principal').id);
    await propagate(d, flag.version);
    return c.json(flag, 200);
  };
}

/** DELETE /v1/admin/flags/{name} */
function deleteRoute(d: FlagAdminDeps) {
  return async function deleteFlagRoute(c: Ctx): Promise<Response> {
    const name = nameOf(c);
    const version = await deleteFlag(d.db, name, c.get('principal').id);
    if (version === null) throw new NotFoundError(`no flag ${JSON.stringify(name)}`);
    await propagate(d, version);
    return c.json({ name, deleted: true, version }, 200);
  };
}

/** GET /v1/admin/flags/{name}/history?limit= */
function historyRoute(d: FlagAdminDeps) {
  return async function flagHistoryRoute(c: Ctx): Promise<Response> {
    const name = nameOf(c);
    const raw = c.req.query('limit');
    if (raw !== undefined && (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_HISTORY)) throw new ValidationError('invalid query parameter limit', [{ pointer: '/limit', detail: `must be an integer from 1 to ${MAX_HISTORY}` }]);
    const changes = await flagHistory(d.db, name, raw === undefined ? DEFAULT_HISTORY : Number(raw));
    if (changes.length === 0) throw new NotFoundError(`flag ${JSON.stringify(name)} was never set`);
    return c.json({ name, changes });
  };
}

/** Mount the flag admin routes (the caller checks the admin scope; `body` parses JSON). */
export function flagAdminRoutes(app: Hono<GatewayEnv>, d: FlagAdminDeps, body: MiddlewareHandler<GatewayEnv>): void {
  // Read from Postgres, not the follower: the admin sees what is stored even if this gateway were behind.
  app.get('/v1/admin/flags', async (c) => c.json(await loadFlags(d.db)));
  app.put('/v1/admin/flags/:name', body, putRoute(d));
  app.delete('/v1/admin/flags/:name', deleteRoute(d));
  app.get('/v1/admin/flags/:name/history', historyRoute(d));
}
