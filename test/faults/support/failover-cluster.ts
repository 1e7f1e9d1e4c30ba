/**
 * A fault cluster whose Postgres is a primary with one streaming replica
 * (`pg_basebackup -R`), reached by every Sluice process and by the checker
 * through a TCP proxy: the moving address an operator points at the new
 * primary after a failover (a virtual IP, DNS, PgBouncer or HAProxy).
 */
import { createLogger } from '@sluice/shared/log/index.ts';
import { createPool, type Pool } from '@sluice/shared/db/pool.ts';
import { migrate } from '@sluice/shared/migrations/migrate.ts';
import { startPostgres, startReplica, type LocalPostgres } from '@sluice/local-servers/postgres.ts';
import { startRedis } from '@sluice/local-servers/redis.ts';
import { childrenOf, FAULT_SQL, FaultCluster } from './cluster.ts';
import { TcpProxy } from './tcp-proxy.ts';

const pgUrl = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Primary + streaming replica behind a movable address, one Redis, Sluice processes. */
export class FailoverCluster extends FaultCluster {
  private walSender: number | undefined;

  private constructor(
    readonly primary: LocalPostgres,
    readonly replica: LocalPostgres,
    /** DATABASE_URL of every process points here. */
    readonly address: TcpProxy,
    pool: Pool,
    redis: Awaited<ReturnType<typeof startRedis>>,
    env: Record<string, string>,
  ) {
    super(primary, redis, pool, env);
  }

  /** `env`: over the fault defaults (DATABASE_URL = the proxy, SLUICE_REPLICA_URLS = the replica). */
  static async startFailover(env: Record<string, string> = {}): Promise<FailoverCluster> {
    const [primary, redis] = await Promise.all([startPostgres({ fsync: false }), startRedis()]);
    const address = await TcpProxy.start({ host: '127.0.0.1', port: primary.port });
    const url = pgUrl(address.port);
    const pool = createPool({ url, max: 4, connectTimeoutMs: 5000, statementTimeoutMs: 30_000, applicationName: 'sluice-fault-check', log: createLogger('fault-check', 'silent') });
    await migrate(pool);
    await pool.query(FAULT_SQL);
    // After the schema, so the base backup has it.
    const replica = await startReplica(primary, { fsync: false });
    const base = FaultCluster.baseEnvOf(url, redis.url, { SLUICE_REPLICA_URLS: replica.url, ...env });
    return new FailoverCluster(primary, replica, address, pool, redis, base);
  }

  /**
   * Freeze the primary's WAL sender (SIGSTOP): the primary goes on
   * committing (asynchronous replication), the replica receives nothing.
   */
  async holdWalSender(): Promise<void> {
    const direct = createPool({ url: this.primary.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 5000, applicationName: 'sluice-fault-walsender', log: createLogger('fault-check', 'silent') });
    try {
      const { rows } = await direct.query<{ pid: number }>("SELECT pid FROM pg_stat_replication WHERE state = 'streaming'");
      if (rows.length !== 1) throw new Error(`expected one streaming standby, found ${rows.length}`);
      this.walSender = rows[0]!.pid;
    } finally {
      await direct.end();
    }
    kill(this.walSender, 'SIGSTOP');
  }

  /** Bytes of WAL the primary wrote that the replica has not received. */
  async replicaGap(): Promise<number> {
    const log = createLogger('fault-check', 'silent');
    const p = createPool({ url: this.primary.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 5000, applicationName: 'sluice-fault-gap', log });
    const r = createPool({ url: this.replica.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 5000, applicationName: 'sluice-fault-gap', log });
    try {
      const head = (await p.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
      const got = (await r.query<{ n: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_receive_lsn())::bigint::text AS n', [head])).rows[0]!.n;
      return Number(got);
    } finally {
      await Promise.all([p.end(), r.end()]);
    }
  }

  /** SIGKILL the primary: the postmaster and every backend (the held WAL sender too), at once. */
  killPrimary(): void {
    const pid = this.primary.pid;
    const children = childrenOf(pid);
    kill(pid, 'SIGKILL');
    for (const c of children) kill(c, 'SIGKILL');
  }

  /** Promote the replica (`pg_promote`, waiting until it accepts writes). */
  async promoteReplica(): Promise<void> {
    const r = createPool({ url: this.replica.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'sluice-fault-promote', log: createLogger('fault-check', 'silent') });
    try {
      const { rows } = await r.query<{ ok: boolean }>('SELECT pg_promote(true, 60) AS ok');
      if (!rows[0]!.ok) throw new Error('pg_promote did not finish');
    } finally {
      await r.end();
    }
  }

  /** Point the address at the promoted replica (open connections are cut). */
  moveAddressToReplica(): void {
    this.address.moveTo({ host: '127.0.0.1', port: this.replica.port });
  }

  override stop(): Promise<void> {
    return super.stop().then(async () => {
      await this.address.stop();
      await this.replica.destroy().catch(() => {});
    });
  }
}
