import { Worker, type Job } from 'bullmq';

/**
 * A BullMQ Worker whose processor is called in the order the jobs left the
 * queue. BullMQ takes jobs in two places: its main loop (one fetch at a time)
 * and, to save a round trip, inside the Redis call that completes or fails a
 * job ("fetch next"). Both run at once, and the jobs they return reach the
 * processor in the order their promises settle, not the order Redis handed
 * them out: with a few hundred jobs in flight, a job now and then overtook up
 * to ten earlier ones (test/writer/writer.fetch-order.test.ts). The writer
 * batches in processor-call order, so such a job could commit before an
 * earlier write to the same key. Here only the main loop fetches; it awaits
 * each fetch before the next, so calls follow the queue.
 */
export class OrderedWorker extends Worker {
  override processJob(job: Job, token: string): ReturnType<Worker['processJob']> {
    return super.processJob(job, token, () => false);
  }
}
