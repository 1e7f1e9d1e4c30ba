/**
 * The partition log's contract with BullMQ (the version in the lockfile).
 * Sluice's ordering and exactly-once arguments lean on each behaviour below;
 * a BullMQ upgrade that changes one fails the test that names it.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { LeftInLog, LogConsumer, type LogEntry } from '@sluice/shared/partition-log/consumer.ts';
import { handBackOrphans } from '@sluice/shared/partition-log/orphans.ts';
import { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';
import type { WriteJob } from '@sluice/shared/queue/contract.ts';
import { partitionRef, type PartitionRef } from '@sluice/shared/topology/partitions.ts';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';

const log = createLogger('contract', 'silent');
let env: TestEnv;
let n = 0;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  env = await createTestEnv();
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => {});
});
afterAll(async () => env?.cleanup());

/** A fresh partition (its own queue) and its log. */
function fresh(): { ref: PartitionRef; log: PartitionLog } {
  const ref = partitionRef('contract', 1, n++);
  const plog = new PartitionLog(ref, env.redis, env.prefix);
  closers.push(() => plog.close());
  return { ref, log: plog };
}

const job = (i: number): { id: string; data: WriteJob } => ({ id: `j.${i}`, data: { v: 1, reqs: [{ id: `j.${i}.0`, ops: [{ t: 't', op: 'insert', row: { n: String(i) } }] }] } });
const numberOf = (e: LogEntry) => Number((e.data as WriteJob).reqs[0]!.ops[0]!.row!.n);

/** A consumer on its own worker connection (closed after the test). */
function consume(ref: PartitionRef, processor: (e: LogEntry) => Promise<void>, o: { concurrency?: number; lockDurationMs?: number; maxStalledCount?: number } = {}) {
  const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  const failed: { id: string | undefined; message: string }[] = [];
  const c = new LogConsumer(
    ref,
    { connection, prefix: env.prefix, concurrency: o.concurrency ?? 50, lockDurationMs: o.lockDurationMs ?? 5000, maxStalledCount: o.maxStalledCount ?? 5, log, onFailed: (id, err) => failed.push({ id, message: err.message }) },
    processor,
  );
  closers.push(async () => {
    await c.close();
    connection.disconnect();
  });
  return { consumer: c, connection, failed };
}

describe('partition log (producer side)', () => {
  it('appends under our ids (dots allowed), keeps the first of two appends of one id, counts, finds', async () => {
    const { log: l } = fresh();
    await l.append([job(1), job(2)]);
    await l.append([{ id: 'j.1', data: { v: 1, reqs: [] } }]);
    expect(await l.counts()).toMatchObject({ waiting: 2, active: 0, failed: 0, backlog: 2 });
    expect(await l.find('j.1')).toEqual({ state: 'waiting', requests: 1 });
    expect(await l.find('j.9')).toBeNull();
  });

  it('a paused log hands out nothing while appends still land; resume releases them', async () => {
    const { ref, log: l } = fresh();
    await l.pause();
    const seen: number[] = [];
    const { consumer } = consume(ref, async (e) => void seen.push(numberOf(e)));
    await consumer.start();
    await l.append([job(1)]);
    expect(await l.isPaused()).toBe(true);
    expect(await l.counts()).toMatchObject({ paused: 1, backlog: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
    await l.resume();
    await eventually(() => expect(seen).toEqual([1]));
  });
});

describe('partition log (consumer side)', () => {
  it('calls the processor in queue order while entries complete in batches (no fetch-next overtaking)', { timeout: 90_000 }, async () => {
    const { ref, log: l } = fresh();
    const seen: number[] = [];
    let open: (() => void)[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      const done = open;
      open = [];
      for (const resolve of done) resolve();
    };
    // Complete entries the way the batcher does: in groups, when 50 are open or after 2 ms.
    const { consumer } = consume(ref, (e) => new Promise<void>((resolve) => {
      seen.push(numberOf(e));
      open.push(resolve);
      if (open.length >= 50) flush();
      else timer ??= setTimeout(flush, 2);
    }), { concurrency: 200 });
    await consumer.start();
    const JOBS = 2000;
    for (let i = 0; i < JOBS; i += 100) await l.append(Array.from({ length: 100 }, (_, j) => job(i + j)));
    await eventually(() => expect(seen).toHaveLength(JOBS), 60_000);
    expect(seen.filter((v, i) => i > 0 && v < seen[i - 1]!)).toEqual([]);
    // Completed entries leave the log (sluice.applied_jobs remembers them).
    await eventually(async () => expect(await l.counts()).toMatchObject({ waiting: 0, active: 0, backlog: 0 }));
    expect(await l.find('j.0')).toBeNull();
  });

  it('complete() finishes many taken entries in one script as moveToFinished would: gone, lock and stalled mark dropped, `completed` emitted; a lost lock is left to BullMQ', async () => {
    const { ref, log: l } = fresh();
    const held: LogEntry[] = [];
    const release: (() => void)[] = [];
    const { consumer, connection, failed } = consume(ref, (e) => {
      held.push(e);
      return new Promise<void>((resolve) => release.push(resolve));
    }, { concurrency: 10 });
    await l.append(Array.from({ length: 6 }, (_, i) => job(i)));
    await consumer.start();
    await eventually(() => expect(held).toHaveLength(6));
    const base = `${env.prefix}:${(await import('@sluice/shared/partition-log/names.ts')).queueName(ref)}`;
    // The keys the script names are BullMQ's: the held entries are in `active`, each with a lock.
    expect((await connection.lrange(`${base}:active`, 0, -1)).sort()).toEqual(held.map((e) => e.id).sort());
    expect(await connection.exists(`${base}:${held[0]!.id}:lock`)).toBe(1);
    // One entry's lock is taken over (as after a lapse): not ours to complete.
    await connection.set(`${base}:${held[5]!.id}:lock`, 'someone-else');
    expect(await consumer.complete(held)).toBe(5);
    expect(await consumer.complete(held.slice(0, 2))).toBe(0); // already done: nothing twice
    for (const r of release) r();
    await eventually(async () => expect(await l.counts()).toMatchObject({ waiting: 0, backlog: 1, failed: 0 }));
    for (const e of held.slice(0, 5)) {
      expect(await l.find(e.id)).toBeNull();
      expect(await connection.exists(`${base}:${e.id}`, `${base}:${e.id}:lock`)).toBe(0);
    }
    expect(await connection.smembers(`${base}:stalled`)).not.toContain(held[0]!.id);
    const events = await connection.xrange(`${base}:events`, '-', '+');
    const completed = events.filter(([, f]) => f[1] === 'completed').map(([, f]) => f[3]);
    expect(completed.sort()).toEqual(held.slice(0, 5).map((e) => e.id).sort());
    // The one whose lock was lost stays taken (BullMQ's own completion refused it), never failed.
    expect((await l.entries(['active'])).map((e) => e.id)).toEqual([held[5]!.id]);
    expect(failed).toEqual([]);
    // The backlog size (issue 11, finding 8) lost the 5 completed in bulk: 1 write left, of its bytes.
    expect(await l.sizes()).toEqual({ jobs: 1, writes: 1, bytes: JSON.stringify(job(5).data).length });
  });

  it('a processor that throws fails the entry for good (tried once) and keeps it with the reason', async () => {
    const { ref, log: l } = fresh();
    const { consumer, failed } = consume(ref, async () => {
      throw new Error('unreadable');
    });
    await consumer.start();
    await l.append([job(1)]);
    await eventually(() => expect(failed).toEqual([{ id: 'j.1', message: 'unreadable' }]));
    expect(await l.entries(['failed'])).toMatchObject([{ id: 'j.1', failedReason: 'unreadable', attempts: 1 }]);
  });

  it('LeftInLog leaves an entry taken (neither done nor failed); moveBack puts held entries at the head, in order', async () => {
    const { ref, log: l } = fresh();
    const held: LogEntry[] = [];
    const leave: (() => void)[] = [];
    // Concurrency 3, every processor pending: the fourth entry waits behind the three held.
    const { consumer, failed } = consume(ref, (e) => {
      held.push(e);
      return new Promise<void>((_, reject) => leave.push(() => reject(new LeftInLog())));
    }, { concurrency: 3 });
    await l.append([job(1), job(2), job(3), job(4)]);
    await consumer.start();
    await eventually(() => expect(held.map(numberOf)).toEqual([1, 2, 3]));
    expect(await l.counts()).toMatchObject({ active: 3, waiting: 1 });
    await consumer.moveBack(held.slice(0, 2));
    consumer.pauseFetching();
    for (const f of leave) f();
    await eventually(async () => expect(await l.counts()).toMatchObject({ active: 1, waiting: 3, failed: 0 }));
    expect((await l.entries(['waiting'])).map((e) => e.id)).toEqual(['j.1', 'j.2', 'j.4']);
    expect((await l.entries(['active'])).map((e) => e.id)).toEqual(['j.3']);
    expect(failed).toEqual([]);
  });

  it('counts in an entry survive its redelivery and are gone with it (0 after)', async () => {
    const { ref, log: l } = fresh();
    const seen: LogEntry[] = [];
    const { consumer } = consume(ref, async (e) => {
      seen.push(e);
      throw new LeftInLog();
    });
    await consumer.start();
    await l.append([job(1)]);
    await eventually(() => expect(seen).toHaveLength(1));
    expect(await consumer.countIn(seen[0]!, 'sluice:x')).toBe(1);
    expect(await consumer.countIn(seen[0]!, 'sluice:x')).toBe(2);
    await l.destroy();
    expect(await consumer.countIn(seen[0]!, 'sluice:x')).toBe(0);
  });
});

describe('orphan hand-back', () => {
  it('hands entries a dead consumer left taken back to the head in take order, counting a new attempt', async () => {
    const { ref, log: l } = fresh();
    // The consumer "dies" holding what it took: its connection goes, no lock is renewed, nothing settles.
    const dead = consume(ref, () => new Promise<void>(() => {}), { concurrency: 3 });
    await l.append([job(1), job(2), job(3), job(4)]);
    await dead.consumer.start();
    await eventually(async () => expect(await l.counts()).toMatchObject({ active: 3, waiting: 1 }));
    dead.connection.disconnect();
    const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    closers.push(async () => connection.disconnect());
    // fenced: the new owner holds the partition, so the dead one's locks need not lapse first.
    expect(await handBackOrphans({ connection, prefix: env.prefix, partition: ref, lockDurationMs: 5000, maxStalledCount: 5, fenced: true, log })).toBe(3);
    expect((await l.entries(['waiting'])).map((e) => e.id)).toEqual(['j.1', 'j.2', 'j.3', 'j.4']);
    expect(await l.countEvents('stalled')).toBe(0); // our hand-back, not BullMQ's stalled check (which scrambles the order)
    const next: LogEntry[] = [];
    const { consumer } = consume(ref, async (e) => void next.push(e));
    await consumer.start();
    await eventually(() => expect(next.map(numberOf)).toEqual([1, 2, 3, 4]));
    // A redelivered entry says so: the writer's crash-loop quarantine keys on it.
    expect(next.map((e) => e.attempts)).toEqual([2, 2, 2, 1]);
  });

  it('an entry handed back more than maxStalledCount times fails for good at its next take', async () => {
    const { ref, log: l } = fresh();
    const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    closers.push(async () => connection.disconnect());
    await l.append([job(1)]);
    for (let i = 0; i < 2; i++) {
      const holder = consume(ref, async () => {
        throw new LeftInLog();
      });
      await holder.consumer.start();
      await eventually(async () => expect((await l.counts()).active).toBe(1));
      holder.consumer.pauseFetching();
      await handBackOrphans({ connection, prefix: env.prefix, partition: ref, lockDurationMs: 5000, maxStalledCount: 1, fenced: true, log });
      await holder.consumer.close();
    }
    const { consumer, failed } = consume(ref, async () => {}, { maxStalledCount: 1 });
    await consumer.start();
    await eventually(() => expect(failed).toEqual([{ id: 'j.1', message: 'job stalled more than allowable limit' }]));
  });

  it('waits for a live consumer\'s locks when not fenced, then leaves its entries alone', async () => {
    const { ref, log: l } = fresh();
    // Every call is held until the end (a lock that lapsed on a busy machine may hand the entry out twice).
    const held: (() => void)[] = [];
    const live = consume(ref, () => new Promise<void>((r) => held.push(r)), { lockDurationMs: 1500 });
    closers.push(async () => held.forEach((r) => r())); // runs before the consumer's close (closers run newest first)
    await live.consumer.start();
    await l.append([job(1)]);
    await eventually(async () => expect((await l.counts()).active).toBe(1));
    const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    closers.push(async () => connection.disconnect());
    const t0 = Date.now();
    expect(await handBackOrphans({ connection, prefix: env.prefix, partition: ref, lockDurationMs: 1500, maxStalledCount: 5, log })).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500); // it waited for the lock (renewed by the live consumer)
    expect((await l.counts()).active).toBe(1);
  });
});

describe('close', () => {
  it('does not hang when Redis is gone: waits a lock period, then force-closes', async () => {
    const { ref } = fresh();
    const { consumer, connection } = consume(ref, async () => {}, { lockDurationMs: 1000 });
    await consumer.start();
    connection.disconnect(true); // reconnecting to a Redis that never answers again, as far as the consumer knows
    const t0 = Date.now();
    await consumer.close();
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});
