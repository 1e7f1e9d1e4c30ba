/**
 * Regression: a writer exited with the unhandled rejection "Connection is
 * closed." during a Redis Cluster master failover. Its origin (caught with a
 * creation stack of every promise): the BullMQ Queue that `handBackOrphans`
 * opens checks its connection as it opens (INFO). With no orphans the
 * hand-back returned and closed the Queue while that INFO was still in
 * flight; the caller then closed the connection, which rejected the INFO; and
 * BullMQ reports a failed check by emitting 'error' on its connection wrapper,
 * whose listeners close() had already removed: EventEmitter throws, inside a
 * promise nobody holds (taskforcesh/bullmq#3546).
 *
 * Here the INFO is held back until the connection is closed, as a failover
 * does: the hand-back must not be over before the check settled, and nothing
 * may be left unhandled.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { handBackOrphans } from '@sluice/shared/partition-log/orphans.ts';
import { partitionRef } from '@sluice/shared/topology/partitions.ts';
import { createTestEnv, eventually, openTestRedis, type TestEnv } from '../harness/index.ts';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => env?.cleanup());

it('a connection closed while BullMQ checks it fails the hand-back, and leaves no unhandled rejection', async () => {
  const connection = openTestRedis(env.redisUrl, 'test-orphans-check');
  await connection.ping();
  // Hold INFO commands back (instrumentation; Redis is real) until the connection is closed.
  const held: (() => void)[] = [];
  const conn = connection as unknown as { sendCommand(cmd: { name: string; promise: Promise<unknown> }): unknown };
  const send = conn.sendCommand.bind(connection);
  conn.sendCommand = (cmd) => {
    if (cmd.name !== 'info') return send(cmd);
    held.push(() => void send(cmd));
    return cmd.promise;
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    const handBack = handBackOrphans({ connection, prefix: env.prefix, partition: partitionRef('orphans', 1, 0), lockDurationMs: 5000, maxStalledCount: 5, fenced: true, log: createLogger('test', 'silent') });
    const outcome = handBack.then(
      (n) => ({ n }),
      (err: unknown) => ({ err }),
    );
    await eventually(() => expect(held.length).toBe(1));
    connection.disconnect();
    for (const f of held) f(); // sent on a closed connection: rejected ("Connection is closed.", on a cluster "None of startup nodes is available")
    expect(await outcome).toEqual({ err: expect.any(Error) });
    // A rejection is reported unhandled once the microtasks after it have run.
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    connection.disconnect();
  }
});
