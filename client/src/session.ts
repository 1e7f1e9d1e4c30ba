/**
 * Read-your-writes across the requests of one user: a session remembers the
 * newest consistency token per shard of everything it saw — its committed
 * writes, the write statuses it looked up, the `Sluice-Consistency-Token`
 * of its reads — and sends the merge on every read. Writes acknowledged only
 * `queued` carry no token (they are not applied yet): ask for `committed`
 * when the next read must see the write.
 *
 * Keep `session.token` between requests of a user (a cookie, a header) and
 * hand it back with `client.session({ token })`.
 */
import { SluiceApi, type WritePath } from './api.ts';
import type { Core } from './core.ts';
import { TokenTracker, mergeTokenTexts } from './token.ts';
import type { TableMap, UntypedTables } from './types.ts';

/** Options of `client.session()`. */
export interface SessionOptions {
  /** A token kept from earlier (e.g. `session.token` of the user's previous request). */
  token?: string;
}

/** The client's operations, plus a consistency token that follows this session's writes and reads. */
export class Session<T extends TableMap<T> = UntypedTables> extends SluiceApi<T> {
  private readonly tracker: TokenTracker;

  constructor(core: Core, path: WritePath, o: SessionOptions = {}) {
    super(core, path);
    this.tracker = new TokenTracker(o.token);
  }

  /** The merged token (bare LSN while there is one shard), or undefined before anything committed was seen. */
  get token(): string | undefined {
    return this.tracker.value;
  }

  /** Take in a token from elsewhere (another session, a write status). */
  observeToken(token: string | undefined): void {
    this.tracker.observe(token);
  }

  protected override readToken(explicit: string | undefined): string | undefined {
    return mergeTokenTexts(this.tracker.value, explicit);
  }

  protected override observe(token: string | undefined): void {
    this.tracker.observe(token);
  }
}
