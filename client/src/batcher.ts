/**
 * Client-side batching: many small writes, few requests.
 *
 * States of a write ("part"):
 *   open     waiting in the open batch, which is sealed when it holds
 *            `maxRows` rows (or would pass `maxBytes`), or `lingerMs` after
 *            its first part — later if every request slot is busy, so under
 *            load batches grow instead of queueing many small ones;
 *   sealed   one request, waiting for a slot (`maxInFlight`) and for every
 *            earlier request it conflicts with (see `conflicts`) to be answered;
 *   sent     retried by `executeWrite` under the request's Idempotency-Key;
 *   settled  its caller's promise resolved with its own slice of the answer,
 *            or rejected.
 *
 * Every request asks for `Sluice-Ack: committed`. That is what keeps
 * per-key order across requests (a conflicting request is sent only after
 * the earlier one committed — a `queued` answer would not do: two requests
 * with different first keys may go to different partitions), and what shows
 * a dead letter at all. A request is atomic on the server, so when it is
 * refused for its content (400, 413, 422 dead-lettered…) nothing of it was
 * applied, and its parts are sent again one by one, so that only the guilty
 * write fails.
 *
 * Idempotency: a coalesced request has one fresh key of its own; the parts'
 * generated keys are not sent (a part's key is used only if it is sent alone,
 * e.g. in that fallback). A part whose caller chose a key is never coalesced.
 */
import { randomUUID } from 'node:crypto';
import { conflicts, makePart, planRequest, splitResult, tablesOf, type Part } from './batch-plan.ts';
import type { Core, ResolvedBatching } from './core.ts';
import { SluiceProblemError } from './errors.ts';
import type { WriteResult } from './types.ts';
import type { WriteOp } from './wire.ts';
import { executeWrite } from './write-executor.ts';

interface Request {
  parts: Part[];
  tables: Map<string, boolean>;
}

// Parts sent side by side in the fallback (inserts only; anything else goes alone, in order).
const FALLBACK_PARALLEL = 32;

/** Coalesces writes of one client (see the module comment). */
export class Batcher {
  private open: Part[] = [];
  private openRows = 0;
  private openBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The linger ran out while every slot was busy: seal as soon as one frees. */
  private lingerDue = false;
  private readonly waiting: Request[] = [];
  private readonly inflight = new Set<Request>();
  private idle: (() => void)[] = [];

  constructor(
    private readonly core: Core,
    private readonly o: ResolvedBatching,
  ) {}

  /** Queue one write; resolves with its own result (committed: every request the batcher sends asks for the commit). */
  add(op: WriteOp, idempotencyKey: string | undefined): Promise<WriteResult> {
    return new Promise<WriteResult>((resolve, reject) => {
      const part = makePart(op, idempotencyKey ?? randomUUID(), idempotencyKey !== undefined, { resolve, reject });
      if (part.userKey) {
        this.seal();
        this.waiting.push({ parts: [part], tables: part.tables });
        return this.pump();
      }
      if (this.open.length > 0 && (this.openRows + part.rows > this.o.maxRows || this.openBytes + part.bytes > this.o.maxBytes)) this.seal();
      this.open.push(part);
      this.openRows += part.rows;
      this.openBytes += part.bytes;
      if (this.openRows >= this.o.maxRows) {
        this.seal();
        this.pump();
      } else if (this.timer === undefined && !this.lingerDue) {
        this.timer = setTimeout(() => this.lingered(), this.o.lingerMs);
      }
    });
  }

  /** Send everything waiting now; resolves when every write so far is settled. */
  flush(): Promise<void> {
    this.seal();
    this.pump();
    if (this.waiting.length === 0 && this.inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private lingered(): void {
    this.timer = undefined;
    if (this.inflight.size < this.o.maxInFlight) {
      this.seal();
      this.pump();
    } else {
      this.lingerDue = true;
    }
  }

  /** Turn the open batch into a request waiting to be sent. */
  private seal(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.lingerDue = false;
    if (this.open.length === 0) return;
    this.waiting.push({ parts: this.open, tables: tablesOf(this.open) });
    this.open = [];
    this.openRows = 0;
    this.openBytes = 0;
  }

  /** Send every waiting request that has a slot and no unanswered earlier conflict, in submission order. */
  private pump(): void {
    if (this.lingerDue && this.waiting.length === 0 && this.inflight.size < this.o.maxInFlight) this.seal();
    for (let i = 0; i < this.waiting.length && this.inflight.size < this.o.maxInFlight; ) {
      const r = this.waiting[i]!;
      if (this.blocked(r, i)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.inflight.add(r);
      void this.send(r);
    }
    if (this.waiting.length === 0 && this.inflight.size === 0 && this.open.length === 0) {
      const idle = this.idle;
      this.idle = [];
      for (const f of idle) f();
    }
  }

  private blocked(r: Request, index: number): boolean {
    for (const e of this.inflight) if (conflicts(e.tables, r.tables)) return true;
    for (let j = 0; j < index; j++) if (conflicts(this.waiting[j]!.tables, r.tables)) return true;
    return false;
  }

  private async send(r: Request): Promise<void> {
    try {
      const key = r.parts.length === 1 ? r.parts[0]!.idempotencyKey : randomUUID();
      const result = await executeWrite(this.core, planRequest(r.parts, key));
      const each = splitResult(result, r.parts);
      r.parts.forEach((p, i) => p.resolve(each[i]!));
    } catch (err) {
      if (r.parts.length > 1 && refusedForContent(err)) await this.oneByOne(r.parts);
      else for (const p of r.parts) p.reject(err);
    } finally {
      this.inflight.delete(r);
      this.pump();
    }
  }

  /**
   * The fallback: each part alone, under its own key. Inserts go side by
   * side; a part that does more waits for all before it and holds back all
   * after it, so per-key order is the submission order.
   */
  private async oneByOne(parts: readonly Part[]): Promise<void> {
    let group: Promise<void>[] = [];
    for (const p of parts) {
      const insertOnly = ![...p.tables.values()].some(Boolean);
      if (!insertOnly || group.length >= FALLBACK_PARALLEL) {
        await Promise.all(group);
        group = [];
      }
      const sent = this.sendAlone(p);
      if (insertOnly) group.push(sent);
      else await sent;
    }
    await Promise.all(group);
  }

  private async sendAlone(p: Part): Promise<void> {
    try {
      p.resolve(await executeWrite(this.core, planRequest([p], p.idempotencyKey)));
    } catch (err) {
      p.reject(err);
    }
  }
}

/**
 * Refused for what it carries, and certainly not applied: 4xx with outcome
 * 'failed' (a bad row, too big, dead-lettered, an unknown table or a table
 * the key may not write). Not 401: that is the key, every part would fail.
 */
function refusedForContent(err: unknown): boolean {
  return err instanceof SluiceProblemError && err.outcome === 'failed' && err.status >= 400 && err.status < 500 && err.status !== 401;
}
