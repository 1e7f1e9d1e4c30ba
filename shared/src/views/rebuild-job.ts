import type { Pool, PoolClient } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import type { BoundView } from './bind.ts';
import { BUILD_LOCK, viewLockKey } from './locks.ts';
import { rebuildHeld, ViewNotReadyError } from './rebuild.ts';

/**
 * Rebuilds asked through the admin API (`POST /v1/admin/views/{name}/rebuild`)
 * run in the gateway's background: one scans the whole base table, far
 * longer than an HTTP request should be held. `start` does, before the 202:
 *
 * 1. on every shard, take the view's build lock without waiting (a build or
 *    rebuild already running holds it: ViewRebuildRunningError, a 409), on a
 *    connection the rebuild keeps until it is done;
 * 2. check the view is built (ready, or rebuilding after an interrupted
 *    rebuild; else ViewNotReadyError, a 409);
 * 3. record the start (`rebuild_started_at`, the previous result cleared);
 *
 * then rebuilds shard after shard (rebuild.ts records the phase and the
 * result in `sluice.views`, migration 0008; a failure is recorded here) and
 * releases each shard's lock when its rebuild ends. Any gateway answers the
 * status from the database (status.ts): the lock says whether it still runs.
 *
 * `close` (the gateway stopping) terminates the rebuilds' connections rather
 * than wait for a long scan: the status then says `interrupted`, the view
 * stays `rebuilding` (read and maintained from its live table) until the
 * next rebuild or writer start redoes it.
 */
export class ViewRebuilds {
  private readonly running = new Set<Run>();
  private closed = false;

  constructor(
    private readonly shards: () => readonly { name: string; pool: Pool }[],
    private readonly log: Logger,
  ) {}

  /** Start rebuilding `v` on every shard; resolves with its start time once it runs in the background. */
  async start(v: BoundView): Promise<{ startedAt: string }> {
    if (this.closed) throw new Error('the gateway is stopping');
    const held: Held[] = [];
    try {
      for (const s of this.shards()) held.push(await this.lock(s, v));
      let startedAt = '';
      for (const h of held) {
        const r = await h.client.query<{ at: Date }>(
          `UPDATE sluice.views SET rebuild_started_at = now(), rebuild_phase = 'waiting', rebuild_finished_at = NULL, rebuild_logged = NULL, rebuild_error = NULL WHERE name = $1 RETURNING rebuild_started_at AS at`,
          [v.name],
        );
        startedAt ||= r.rows[0]!.at.toISOString();
      }
      const run: Run = { held: held.splice(0), done: Promise.resolve() };
      this.running.add(run);
      run.done = this.run(run, v).finally(() => this.running.delete(run));
      return { startedAt };
    } finally {
      // Only when it did not start: the run owns them otherwise.
      for (const h of held) await release(h, v);
    }
  }

  /** Stop: end the running rebuilds' sessions (their scans stop at once), wait for them to wind up. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const runs = [...this.running];
    for (const r of runs) {
      for (const h of r.held) await h.pool.query('SELECT pg_terminate_backend($1)', [h.pid]).catch((err: unknown) => this.log.warn({ err, shard: h.shard }, 'ending a view rebuild failed'));
    }
    await Promise.all(runs.map((r) => r.done));
  }

  /** The build lock of `v` on shard `s`, on a connection kept for the rebuild; 409 errors when it cannot start there. */
  private async lock(s: { name: string; pool: Pool }, v: BoundView): Promise<Held> {
    const client = await s.pool.connect();
    const h: Held = { shard: s.name, pool: s.pool, client, pid: 0, locked: false };
    try {
      const { rows } = await client.query<{ ok: boolean; pid: number }>('SELECT pg_try_advisory_lock($1, $2) AS ok, pg_backend_pid() AS pid', [BUILD_LOCK, viewLockKey(v.name)]);
      h.pid = rows[0]!.pid;
      h.locked = rows[0]!.ok;
      if (!h.locked) throw new ViewRebuildRunningError(v.name, s.name);
      const st = await client.query<{ state: string }>('SELECT state FROM sluice.views WHERE name = $1', [v.name]);
      const state = st.rows[0]?.state ?? 'absent';
      if (state !== 'ready' && state !== 'rebuilding') throw new ViewNotReadyError(v.name, `${state} on shard ${s.name}`);
      return h;
    } catch (err) {
      await release(h, v);
      throw err;
    }
  }

  /** The rebuilds, shard after shard; each shard's lock and connection released when its rebuild ends. Never rejects. */
  private async run(run: Run, v: BoundView): Promise<void> {
    let failed: string | undefined;
    for (const h of run.held) {
      try {
        if (failed !== undefined) {
          await recordError(h.client, v, `not run: the rebuild failed on shard ${failed}`);
          continue;
        }
        const t0 = performance.now();
        const r = await rebuildHeld(h.client, v);
        this.log.info({ view: v.name, shard: h.shard, ...r, ms: Math.round(performance.now() - t0) }, 'view rebuilt');
      } catch (err) {
        failed ??= h.shard;
        if (this.closed) {
          this.log.warn({ view: v.name, shard: h.shard }, 'view rebuild interrupted: the gateway is stopping (the view stays rebuilding, served from its live table, until a rebuild or a writer start redoes it)');
          continue;
        }
        this.log.error({ err, view: v.name, shard: h.shard }, 'rebuilding the view failed; it stays in state rebuilding (its live table is maintained and read) until a rebuild or a writer start redoes it');
        await recordError(h.client, v, err instanceof Error ? err.message : String(err)).catch((e: unknown) => this.log.warn({ err: e, view: v.name, shard: h.shard }, 'recording the rebuild failure failed'));
      } finally {
        await release(h, v);
      }
    }
  }
}

/** A build or rebuild of the view already holds its build lock on a shard. */
export class ViewRebuildRunningError extends Error {
  override name = 'ViewRebuildRunningError';
  constructor(
    readonly view: string,
    readonly shard: string,
  ) {
    super(`a build or rebuild of view ${view} is running on shard ${shard}: poll GET /v1/admin/views/${view} until it is done`);
  }
}

/** One shard's part of a rebuild: its connection (and backend pid, for close) holding the build lock. */
interface Held {
  shard: string;
  pool: Pool;
  client: PoolClient;
  pid: number;
  locked: boolean;
}

interface Run {
  held: Held[];
  done: Promise<void>;
}

async function recordError(client: PoolClient, v: BoundView, message: string): Promise<void> {
  await client.query('UPDATE sluice.views SET rebuild_phase = NULL, rebuild_finished_at = now(), rebuild_error = $2 WHERE name = $1', [v.name, message]);
}

/** Unlock and return the connection; one that cannot unlock is closed (which ends its session's locks). */
async function release(h: Held, v: BoundView): Promise<void> {
  const ok = !h.locked || (await h.client.query('SELECT pg_advisory_unlock($1, $2)', [BUILD_LOCK, viewLockKey(v.name)]).then(() => true, () => false));
  h.client.release(ok ? undefined : true);
}
