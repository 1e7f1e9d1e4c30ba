import { isCluster, type RedisClient } from './connections.ts';

/** WAIT returned before enough replicas confirmed: the write is on the master only (it may still be applied). */
export class ReplicasUnconfirmedError extends Error {
  override readonly name = 'ReplicasUnconfirmedError';
}

/**
 * `WAIT replicas timeoutMs` on the connection (and, on a Redis Cluster, the
 * master) that just wrote `key`: resolves once that many replicas have every
 * write this connection sent to that node so far; rejects with
 * ReplicasUnconfirmedError when fewer confirmed within `timeoutMs`.
 *
 * WAIT carries no key, so a Cluster client would send it to any node; a
 * pipeline of a keyed command and the WAIT goes to the master of the key's
 * slot, over the same connection that carried the write.
 */
export async function waitReplicas(redis: RedisClient, key: string, replicas: number, timeoutMs: number): Promise<void> {
  let acked: number;
  if (isCluster(redis)) {
    const res = await redis.pipeline().exists(key).call('WAIT', replicas, timeoutMs).exec();
    const [, wait] = res ?? [];
    if (!wait) throw new ReplicasUnconfirmedError('WAIT got no reply');
    if (wait[0]) throw wait[0];
    acked = Number(wait[1]);
  } else {
    acked = await redis.wait(replicas, timeoutMs);
  }
  if (acked < replicas) throw new ReplicasUnconfirmedError(`only ${acked} of ${replicas} Redis replicas confirmed the write within ${timeoutMs} ms`);
}
