/**
 * `new SluiceClient<Tables>({ url })`: writes that are retried safely until
 * their outcome is known, typed reads, sessions for read-your-writes, and
 * optional client-side batching. See README "Client".
 */
import { randomUUID } from 'node:crypto';
import { SluiceApi, type WritePath } from './api.ts';
import { Batcher } from './batcher.ts';
import { Core, resolveBatching, type BatchingOptions, type ClientOptions } from './core.ts';
import { Session, type SessionOptions } from './session.ts';
import type { TableMap, UntypedTables } from './types.ts';
import { soloRequest } from './wire.ts';
import { executeWrite } from './write-executor.ts';

function direct(core: Core): WritePath {
  return (op, ack, key) => executeWrite(core, { ...soloRequest(op), ack, idempotencyKey: key ?? randomUUID() });
}

// The caller's ack is a floor: the batcher always asks for `committed` (see Batcher).
function batched(batcher: Batcher): WritePath {
  return (op, _ack, key) => batcher.add(op, key);
}

/** A client of one Sluice gateway (or a load balancer in front of several). */
export class SluiceClient<T extends TableMap<T> = UntypedTables> extends SluiceApi<T> {
  private readonly batcher_: Batcher | undefined;

  constructor(o: ClientOptions) {
    const core = new Core(o);
    const b = resolveBatching(o.batching);
    const batcher = b === undefined ? undefined : new Batcher(core, b);
    super(core, batcher === undefined ? direct(core) : batched(batcher));
    this.batcher_ = batcher;
  }

  /** A session: these operations, with read-your-writes over its own writes and reads. */
  session(o?: SessionOptions): Session<T> {
    return new Session<T>(this.core, this.path, o);
  }

  /** A view of this client whose writes are coalesced (see `Batcher`); shares the connections. */
  batcher(o: BatchingOptions = {}): BatchingClient<T> {
    return new BatchingClient<T>(this.core, new Batcher(this.core, resolveBatching(o)!));
  }

  /** With batching on: send what waits now and resolve once every write so far is settled. */
  async flush(): Promise<void> {
    await this.batcher_?.flush();
  }

  /** Flush, then close idle connections. */
  async close(): Promise<void> {
    await this.flush();
    this.core.close();
  }
}

/** The client's operations with every write going through one batcher. */
export class BatchingClient<T extends TableMap<T> = UntypedTables> extends SluiceApi<T> {
  constructor(
    core: Core,
    private readonly batcher_: Batcher,
  ) {
    super(core, batched(batcher_));
  }

  /** A session whose writes go through this batcher. */
  session(o?: SessionOptions): Session<T> {
    return new Session<T>(this.core, this.path, o);
  }

  /** Send what waits now; resolves once every write so far is settled. */
  flush(): Promise<void> {
    return this.batcher_.flush();
  }
}
