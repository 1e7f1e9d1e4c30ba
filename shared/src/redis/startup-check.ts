import { isCluster, type Redis, type RedisClient } from './connections.ts';

/** Raised when Redis is not configured to keep acknowledged writes. */
export class UnsafeRedisError extends Error {
  override readonly name = 'UnsafeRedisError';
}

export interface RedisDurability {
  maxmemoryPolicy: string;
  aofEnabled: boolean;
  appendfsync: string | undefined;
}

function infoField(info: string, field: string): string | undefined {
  const m = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return m?.[1]?.trim();
}

/** Read durability settings with INFO (CONFIG is often disabled on managed Redis). */
export async function readRedisDurability(redis: Redis): Promise<RedisDurability> {
  const [mem, pers] = await Promise.all([redis.info('memory'), redis.info('persistence')]);
  let appendfsync: string | undefined;
  try {
    const r = (await redis.config('GET', 'appendfsync')) as string[];
    appendfsync = r[1];
  } catch {
    appendfsync = undefined; // CONFIG disabled: unknown, not fatal
  }
  return {
    maxmemoryPolicy: infoField(mem, 'maxmemory_policy') ?? 'unknown',
    aofEnabled: infoField(pers, 'aof_enabled') === '1',
    appendfsync,
  };
}

/**
 * Refuse a Redis that can drop queued writes: any eviction policy but
 * `noeviction` lets Redis delete BullMQ keys under memory pressure, and
 * without AOF a restart loses every queued job. `allowVolatile` (the explicit
 * SLUICE_ALLOW_VOLATILE_REDIS=true) downgrades the AOF check to a warning;
 * eviction is never allowed.
 */
export async function checkRedisDurability(redis: RedisClient, allowVolatile: boolean): Promise<{ durability: RedisDurability; warnings: string[] }> {
  if (!isCluster(redis)) return checkNode(redis, allowVolatile);
  // A Redis Cluster: every master holds some partitions' queues, so every
  // master must keep them; the error names the node that would not.
  const masters = redis.nodes('master');
  if (masters.length === 0) throw new UnsafeRedisError('Redis Cluster: no master known (is the cluster up and every slot served?)');
  let first: RedisDurability | undefined;
  const warnings = new Set<string>();
  for (const node of masters) {
    const at = `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
    try {
      const r = await checkNode(node, allowVolatile);
      first ??= r.durability;
      for (const w of r.warnings) warnings.add(w);
    } catch (err) {
      if (err instanceof UnsafeRedisError) throw new UnsafeRedisError(`Redis Cluster master ${at}: ${err.message}`);
      throw err;
    }
  }
  return { durability: first!, warnings: [...warnings] };
}

async function checkNode(redis: Redis, allowVolatile: boolean): Promise<{ durability: RedisDurability; warnings: string[] }> {
  const d = await readRedisDurability(redis);
  const warnings: string[] = [];
  if (d.maxmemoryPolicy !== 'noeviction') {
    throw new UnsafeRedisError(`Redis maxmemory-policy is "${d.maxmemoryPolicy}"; Sluice requires "noeviction" (an evicting Redis can silently delete queued writes)`);
  }
  if (!d.aofEnabled) {
    const msg = 'Redis has AOF off (appendonly no): a Redis restart loses every queued write';
    if (!allowVolatile) throw new UnsafeRedisError(`${msg}; enable appendonly or set SLUICE_ALLOW_VOLATILE_REDIS=true to accept that`);
    warnings.push(`${msg}; running anyway because SLUICE_ALLOW_VOLATILE_REDIS=true`);
  } else if (d.appendfsync && d.appendfsync !== 'always') {
    warnings.push(`Redis appendfsync is "${d.appendfsync}": a Redis crash can lose up to ~1 s of writes acknowledged as "queued" ("committed" acks are not affected)`);
  }
  return { durability: d, warnings };
}
