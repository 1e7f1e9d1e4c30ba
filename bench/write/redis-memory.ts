/**
 * What Redis holds while a write scenario runs: `used_memory` (INFO memory)
 * and the jobs taken but not completed (the partitions' BullMQ `active`
 * lists: the open batches, and with standby confirmation the committed
 * batches waiting for a standby), sampled every SAMPLE_MS over the measured
 * load. `pnpm bench write --replica` reports them with and without
 * confirmation: what keeping jobs until a standby has them costs in memory.
 */
import { Redis } from 'ioredis';

const SAMPLE_MS = 100;

/** Over the sampled window: mean and max of each, and used_memory before it. */
export interface RedisHeld {
  samples: number;
  usedBytesBefore: number;
  usedBytesMean: number;
  usedBytesMax: number;
  activeJobsMean: number;
  activeJobsMax: number;
}

/** Samples Redis between `start()` and `stop()`. */
export class RedisMemorySampler {
  private readonly redis: Redis;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private used: number[] = [];
  private active: number[] = [];
  private before = 0;

  /** `activeKeys`: the `…:active` list of every partition queue of the scenario. */
  constructor(
    url: string,
    private readonly activeKeys: readonly string[],
  ) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  }

  async start(): Promise<void> {
    await this.redis.connect();
    this.before = await this.usedMemory();
    this.timer = setInterval(() => {
      this.inFlight = this.inFlight.then(() => this.sample()).catch(() => {});
    }, SAMPLE_MS);
  }

  async stop(): Promise<RedisHeld> {
    clearInterval(this.timer);
    await this.inFlight;
    await this.redis.quit().catch(() => this.redis.disconnect());
    const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
    return {
      samples: this.used.length,
      usedBytesBefore: this.before,
      usedBytesMean: mean(this.used),
      usedBytesMax: Math.max(0, ...this.used),
      activeJobsMean: mean(this.active),
      activeJobsMax: Math.max(0, ...this.active),
    };
  }

  private async sample(): Promise<void> {
    const p = this.redis.pipeline();
    p.info('memory');
    for (const k of this.activeKeys) p.llen(k);
    const res = (await p.exec()) ?? [];
    const info = String(res[0]?.[1] ?? '');
    this.used.push(usedMemoryOf(info));
    this.active.push(res.slice(1).reduce((n, [, v]) => n + Number(v ?? 0), 0));
  }

  private async usedMemory(): Promise<number> {
    return usedMemoryOf(await this.redis.info('memory'));
  }
}

function usedMemoryOf(info: string): number {
  const m = /^used_memory:(\d+)/m.exec(info);
  return m ? Number(m[1]) : 0;
}
