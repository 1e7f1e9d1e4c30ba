import type { Hono, MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import { NotFoundError, ValidationError } from '@sluice/shared/errors/index.ts';
import { evaluate, FLAG_NAME } from '@sluice/shared/flags/evaluate.ts';
import type { FlagFollower } from '@sluice/shared/flags/follower.ts';
import type { Ctx, GatewayEnv } from '../context.ts';

/**
 * Flag evaluation for any valid API key, from the gateway's own copy of the
 * set (shared/src/flags/follower.ts: no I/O per request):
 *
 * - `GET /v1/flags/{name}?userId=…` → `{name, enabled, version, reason}`;
 * - `POST /v1/flags/evaluate` `{"userId":"…","flags":["a","b"]}` (flags
 *   omitted: every flag) → `{version, flags:[…]}`;
 * - `GET /v1/flags/stream`: server-sent events (the whole set, then each
 *   change) for SDKs that evaluate locally with the same bucketing.
 *
 * `stream` and `evaluate` share the `{name}` segment (Hono's RegExpRouter
 * refuses a literal beside a parameter at one level), so they are reserved
 * names a flag cannot take.
 */

/** Names a flag cannot have: they are routes. */
export const RESERVED_FLAG_NAMES: ReadonlySet<string> = new Set(['stream', 'evaluate']);

const MAX_USER_ID = 256;
const MAX_FLAGS_PER_CALL = 200;
/** An SSE comment this often keeps proxies (HAProxy's `timeout server`) from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

function userIdOf(v: unknown, pointer: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_USER_ID) {
    throw new ValidationError(`userId must be a non-empty string of at most ${MAX_USER_ID} characters`, [{ pointer, detail: 'expected a user id' }]);
  }
  return v;
}

/** GET /v1/flags/{name}?userId=… (and /v1/flags/stream). */
function getFlag(flags: FlagFollower) {
  return async function getFlag(c: Ctx): Promise<Response> {
    const name = c.req.param('name') ?? '';
    if (name === 'stream') return stream(c, flags);
    const userId = userIdOf(c.req.query('userId'), '/userId');
    const flag = FLAG_NAME.test(name) ? flags.get(name) : undefined;
    if (flag === undefined) throw new NotFoundError(`no flag ${JSON.stringify(name.slice(0, 100))}`);
    return c.json(evaluate(name, flag, userId));
  };
}

/** POST /v1/flags/evaluate */
function evaluateMany(flags: FlagFollower) {
  return async function evaluateMany(c: Ctx): Promise<Response> {
    if (c.req.param('name') !== 'evaluate') throw new NotFoundError('POST is only for /v1/flags/evaluate');
    const body = c.get('body') as unknown;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('the body must be {"userId":"…","flags":["…"]}');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (k !== 'userId' && k !== 'flags') throw new ValidationError(`unknown member ${JSON.stringify(k.slice(0, 40))}`, [{ pointer: `/${k.slice(0, 40)}`, detail: 'expected userId, flags' }]);
    const userId = userIdOf(b.userId, '/userId');
    let names: string[];
    if (b.flags === undefined) names = flags.all().map((f) => f.name);
    else {
      if (!Array.isArray(b.flags) || b.flags.length > MAX_FLAGS_PER_CALL) throw new ValidationError(`flags must be an array of at most ${MAX_FLAGS_PER_CALL} names`, [{ pointer: '/flags', detail: 'expected an array of flag names' }]);
      names = b.flags.map((n, i) => {
        if (typeof n !== 'string' || !FLAG_NAME.test(n)) throw new ValidationError('each flag must be a flag name', [{ pointer: `/flags/${i}`, detail: `expected a name matching ${FLAG_NAME.source}` }]);
        return n;
      });
    }
    // One version for the whole answer: evaluations of one request come from one snapshot.
    const version = flags.version;
    return c.json({ version, flags: names.map((n) => evaluate(n, flags.get(n), userId)) });
  };
}

/**
 * GET /v1/flags/stream: `event: flags` with `{version, flags}` first, then
 * `event: flag` (a flag's new state) and `event: delete` (`{name, version}`)
 * in version order; every SSE `id` is the set's version. The listener is
 * registered before the first snapshot is written, and only changes newer
 * than what was sent go out, so nothing falls between the two.
 */
function stream(c: Ctx, flags: FlagFollower): Response {
  return streamSSE(c, async (sse) => {
    let sent = 0;
    let closed = false;
    let wake: () => void = () => {};
    const pending: { event: string; data: string; id: string }[] = [];
    const off = flags.onChange((e) => {
      if (e === 'closed') closed = true;
      else for (const ev of e.events) {
        const v = ev.type === 'flag' ? ev.flag.version : ev.version;
        pending.push(ev.type === 'flag' ? { event: 'flag', data: JSON.stringify(ev.flag), id: String(v) } : { event: 'delete', data: JSON.stringify({ name: ev.name, version: ev.version }), id: String(v) });
      }
      wake();
    });
    sse.onAbort(() => {
      closed = true;
      wake();
    });
    try {
      sent = flags.version;
      await sse.writeSSE({ event: 'flags', data: JSON.stringify({ version: sent, flags: flags.all() }), id: String(sent) });
      while (!closed) {
        for (const m of pending.splice(0)) if (Number(m.id) > sent || m.event === 'delete') await sse.writeSSE(m);
        if (closed) break;
        await new Promise<void>((resolve) => {
          // Checked here, synchronously with setting `wake`: a change that came while writing is not missed.
          if (pending.length > 0 || closed) return resolve();
          wake = resolve;
          const t = setTimeout(resolve, HEARTBEAT_MS);
          t.unref();
        });
        if (pending.length === 0 && !closed) await sse.write(': keep-alive\n\n');
      }
    } finally {
      off();
    }
  });
}

/** Mount the evaluation routes (`body` parses JSON). */
export function flagRoutes(app: Hono<GatewayEnv>, flags: FlagFollower, body: MiddlewareHandler<GatewayEnv>): void {
  app.get('/v1/flags/:name', getFlag(flags));
  app.post('/v1/flags/:name', body, evaluateMany(flags));
}
