/**
 * Shared setup of the partition-ownership suites: a key/value table whose
 * trigger records every applied upsert in application order (the per-key
 * order and exactly-once checker), a producer that enqueues upserts the way
 * the gateway does, and a look at the lease keys.
 */
import { expect } from 'vitest';
import type { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { jobIdOf, writeIdOf } from '@sluice/shared/queue/ids.ts';
import { type WriteJob, type WriteOp } from '@sluice/shared/queue/contract.ts';
import { leaseKey, parseLease, type LeaseValue } from '@sluice/shared/queue/leases.ts';
import { partitionIndexOf } from '@sluice/shared/topology/partitions.ts';
import type { TestEnv } from '../harness/index.ts';
import { logsOf, part } from '../harness/partitions.ts';

/** `kv` and its application log `kv_history` (one row per applied upsert, in commit order). */
export const KV_SQL = `
CREATE TABLE kv (k text PRIMARY KEY, v integer NOT NULL);
CREATE TABLE kv_history (n bigserial PRIMARY KEY, k text NOT NULL, v integer NOT NULL);
CREATE FUNCTION kv_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO kv_history (k, v) VALUES (NEW.k, NEW.v);
  RETURN NEW;
END $$;
CREATE TRIGGER kv_log AFTER INSERT OR UPDATE ON kv FOR EACH ROW EXECUTE FUNCTION kv_log();`;

/** Enqueues upserts of `kv` into the partition queues, one job per request, like a gateway. */
export class KvProducer {
  private readonly logs: PartitionLogs;
  private readonly node = `t${Math.random().toString(36).slice(2, 10)}`;
  private seq = 0;
  /** Last value enqueued per key. */
  readonly last = new Map<string, number>();

  constructor(
    private readonly env: TestEnv,
    private readonly partitions: number,
  ) {
    this.logs = logsOf(env);
  }

  private async append(p: number, data: (jobId: string) => WriteJob): Promise<string> {
    const ref = part(p);
    const jobId = jobIdOf(ref.name, this.node, this.seq++);
    await this.logs.get(ref).append([{ id: jobId, data: data(jobId) }]);
    return jobId;
  }

  /** Enqueue `k := v` (acknowledged once this resolves: the job is in Redis). */
  async upsert(k: string, v: number): Promise<void> {
    await this.append(partitionIndexOf('kv', [k], this.partitions), (jobId) => ({ v: 1, reqs: [{ id: writeIdOf(jobId, 0), ops: [{ t: 'kv', op: 'upsert', row: { k, v: String(v) } }] }] }));
    this.last.set(k, v);
  }

  /** Enqueue one job holding `ops` as one request on partition `p`. */
  async request(p: number, ops: WriteOp[]): Promise<string> {
    return writeIdOf(await this.append(p, (jobId) => ({ v: 1, reqs: [{ id: writeIdOf(jobId, 0), ops }] })), 0);
  }

  /** Enqueue `rounds` rounds of one upsert per key (values 1…rounds, in order per key), `pace` ms apart. */
  async run(keys: readonly string[], rounds: number, pace = 0, from = 1): Promise<void> {
    for (let v = from; v < from + rounds; v++) {
      for (const k of keys) await this.upsert(k, v);
      if (pace > 0) await new Promise((r) => setTimeout(r, pace));
    }
  }

  /**
   * Enqueue rounds of one upsert per key (values counting up per key) while
   * `more()` says so, `pace` ms apart: load that lasts exactly as long as the
   * scenario needs, however slow the machine. Resolves with the rounds run.
   */
  async runWhile(keys: readonly string[], more: () => boolean, pace: number): Promise<number> {
    let v = 1;
    for (; more(); v++) {
      for (const k of keys) await this.upsert(k, v);
      await new Promise((r) => setTimeout(r, pace));
    }
    return v - 1;
  }

  /** Jobs not yet done in any partition queue. */
  async backlog(): Promise<number> {
    return (await this.counts()).reduce((n, c) => n + c.backlog, 0);
  }

  /** Jobs active (taken by a writer, not done). */
  async active(): Promise<number> {
    return (await this.counts()).reduce((n, c) => n + c.active, 0);
  }

  /** Jobs the log failed. */
  async failed(): Promise<number> {
    return (await this.counts()).reduce((n, c) => n + c.failed, 0);
  }

  private counts() {
    return Promise.all(Array.from({ length: this.partitions }, (_, p) => this.logs.get(part(p)).counts()));
  }

  async close(): Promise<void> {
    await this.logs.close();
  }
}

/**
 * The set checker for `kv`: every enqueued value of every key was applied
 * exactly once, in order, and each key ends with its last value.
 */
export async function expectKvSound(env: TestEnv, producer: KvProducer): Promise<void> {
  const { rows } = await env.pool.query<{ k: string; v: number }>('SELECT k, v FROM kv_history ORDER BY n');
  const applied = new Map<string, number[]>();
  for (const r of rows) applied.set(r.k, [...(applied.get(r.k) ?? []), r.v]);
  for (const [k, last] of producer.last) {
    // 1…last, each once, ascending: nothing lost, nothing twice, per-key order kept.
    expect(applied.get(k), `history of ${k}`).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  }
  const final = await env.pool.query<{ k: string; v: number }>('SELECT k, v FROM kv ORDER BY k');
  expect(final.rows).toEqual([...producer.last].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => ({ k, v })));
}

/** The lease holder of each partition, from Redis. */
export async function leases(env: TestEnv, partitions: number): Promise<(LeaseValue | null)[]> {
  return Promise.all(Array.from({ length: partitions }, async (_, p) => parseLease(await env.redis.get(leaseKey(env.prefix, part(p).name)))));
}

/** Keys spread so that every one of `partitions` partitions gets at least two. */
export function keysCovering(partitions: number, perPartition = 2): string[] {
  const out: string[] = [];
  const count = new Array<number>(partitions).fill(0);
  for (let i = 0; out.length < partitions * perPartition; i++) {
    const k = `key-${i}`;
    const p = partitionIndexOf('kv', [k], partitions);
    if (count[p]! < perPartition) {
      count[p]!++;
      out.push(k);
    }
  }
  return out;
}
