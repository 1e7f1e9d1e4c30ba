import { Worker, type Job, type RedisClient } from 'bullmq';

/**
 * BullMQ's Worker with fetch-next turned off (see consumer.ts's module comment), and
 * each job's lock renewed from the moment it is taken.
 *
 * A take (moveToActive) locks the job for lockDuration in Redis, but BullMQ's
 * lock manager only starts renewing it when the job reaches `processJob`. Its
 * main loop takes up to `concurrency` jobs, one round trip after another,
 * before it hands the first one over: with a backlog, a writer starved of CPU
 * (or a loaded Redis) spends longer than a lock on that fetch-ahead, and the
 * first jobs' locks lapse while they sit in the worker's own queue; the
 * stalled check then hands them out again (issue 11: 601 stalled jobs under
 * `stress-ng`). Tracking the job right after the take closes that window;
 * `processJob` tracks it again under the same take timestamp (harmless).
 */
export class OrderedWorker extends Worker {
  /**
   * Checked right before each take (LogConsumerOptions.mayTake). A consumer
   * whose lease lapsed while its event loop was starved must not take one more
   * job: the next owner has handed every taken job back and consumes from the
   * head, so a job taken now would be given back behind newer ones it already
   * committed (a key's later write applied first: seen under stress-ng).
   */
  mayTake: () => boolean = () => true;

  override processJob(job: Job, token: string): ReturnType<Worker['processJob']> {
    return super.processJob(job, token, () => false);
  }

  /** Stop renewing the locks of jobs about to be completed (BullMQ untracks a job right before moveToFinished too). */
  untrack(ids: readonly string[]): void {
    for (const id of ids) this.lockManager.untrackJob(id);
  }

  protected override async moveToActive(client: RedisClient, token: string, name?: string): Promise<Job> {
    if (!this.mayTake()) {
      // Paused before BullMQ's loop looks again, so it does not spin on the empty take.
      void this.pause(true).catch(() => {});
      return undefined as unknown as Job;
    }
    const job = await super.moveToActive(client, token, name);
    // `processedOn` is this process's clock when the take was sent: no later than the lock's start in Redis.
    if (job?.id !== undefined) this.lockManager.trackJob(job.id, token, job.processedOn ?? Date.now());
    return job;
  }
}
