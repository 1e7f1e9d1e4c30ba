import {
  FlagNotFoundError,
  InvalidContextError,
  OpenFeatureEventEmitter,
  ProviderEvents,
  StandardResolutionReasons,
  TargetingKeyMissingError,
  TypeMismatchError,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import { evaluate, type Evaluation } from '@sluice/shared/flags/evaluate.ts';
import { FlagStream } from './stream.ts';

/** Options of `SluiceProvider`. Only `url` is required. */
export interface SluiceProviderOptions {
  /** Base URL of the gateways (the load balancer), e.g. `http://sluice:3000`. */
  url: string;
  /** Any valid Sluice API key (no scope needed); omit when the gateways run without keys. */
  apiKey?: string;
  /** How long `initialize` waits for the first flag set (default 10 s); the stream keeps trying after. */
  initTimeoutMs?: number;
  /** A stream silent this long is replaced (default 45 s: three of the gateway's 15 s keep-alives). */
  idleTimeoutMs?: number;
  /** How often the set's version is compared with the gateways' (default 10 s; 0 = never). */
  versionCheckMs?: number;
  /** How long the stream may lag a version the check saw before it is replaced (default 1 s). */
  versionGraceMs?: number;
  /** Reconnection backoff, first and largest wait (default 250 ms and 10 s, jittered). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** A `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

/** The gateway refuses longer user ids (400): the provider refuses them too, so both answer alike. */
const MAX_USER_ID = 256;

/**
 * OpenFeature server provider for Sluice's feature flags.
 *
 * Follows `GET /v1/flags/stream` (see `FlagStream`: reconnects with backoff,
 * heals a lost message from the full set every connection starts with) and
 * evaluates in process with the gateway's own code
 * (`@sluice/shared/flags/evaluate.ts`, Unleash's normalised murmur3), so an
 * app server and `GET /v1/flags/{name}` give every user the same answer.
 *
 * Flags are boolean. The user is the context's `targetingKey` (or a `userId`
 * attribute). Results:
 * - enabled flag, user inside the rollout → `true`, variant `on`; outside →
 *   `false`, variant `off`; reason `SPLIT` (`STATIC` at 0 or 100 %);
 * - disabled flag (the kill switch) → `false`, variant `off`, reason
 *   `DISABLED` — false, not the caller's default, so a kill always kills;
 * - unknown flag → the default with `FLAG_NOT_FOUND`; a non-boolean type →
 *   `TYPE_MISMATCH`; a rollout that needs a user and has none →
 *   `TARGETING_KEY_MISSING`.
 * `flagMetadata` carries the flag's `version` and Sluice's own `sluiceReason`.
 *
 * Events: `ConfigurationChanged` (with `flagsChanged`) on every change,
 * `Stale` while the stream is lost (answers come from the last set),
 * `Ready` when it is back, `Error` when the gateway refuses the key.
 */
export class SluiceProvider implements Provider {
  readonly metadata = { name: 'sluice' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly stream: FlagStream;
  private readonly initTimeoutMs: number;
  private initialized = false;
  private degraded = false;

  constructor(o: SluiceProviderOptions) {
    this.initTimeoutMs = o.initTimeoutMs ?? 10_000;
    this.stream = new FlagStream(
      {
        url: o.url.replace(/\/+$/, ''),
        apiKey: o.apiKey,
        idleTimeoutMs: o.idleTimeoutMs ?? 45_000,
        versionCheckMs: o.versionCheckMs ?? 10_000,
        versionGraceMs: o.versionGraceMs ?? 1000,
        reconnectMinMs: o.reconnectMinMs ?? 250,
        reconnectMaxMs: o.reconnectMaxMs ?? 10_000,
        fetch: o.fetch ?? globalThis.fetch,
      },
      {
        changed: (flagsChanged) => this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged }),
        status: (s, err) => this.onStreamStatus(s, err),
      },
    );
  }

  /** The version of the flag set held (0 before the first set). */
  get version(): number {
    return this.stream.version;
  }

  /** Stream statistics: connections opened and full sets received. */
  get streamStats(): { connections: number; fullSets: number } {
    return { connections: this.stream.connections, fullSets: this.stream.fullSets };
  }

  /** Called by the SDK on `setProvider`/`setProviderAndWait`: follow the stream, resolve once the set is held. */
  async initialize(): Promise<void> {
    this.stream.start();
    await this.stream.ready(this.initTimeoutMs);
    this.initialized = true;
  }

  /** Called by the SDK when the provider is replaced or OpenFeature is closed. */
  async onClose(): Promise<void> {
    await this.stream.stop();
  }

  /** Evaluate without the SDK around it (what the resolvers do): the gateway's wire shape. */
  evaluate(flagKey: string, context: EvaluationContext): Evaluation {
    const flag = this.stream.get(flagKey);
    if (flag === undefined) throw new FlagNotFoundError(`no flag ${JSON.stringify(flagKey)}`);
    const userId = userIdOf(context);
    if (userId === undefined) {
      // The answer depends on the user only for a partial rollout of an enabled flag.
      if (flag.enabled && flag.rollout > 0 && flag.rollout < 100) throw new TargetingKeyMissingError(`flag ${JSON.stringify(flagKey)} is rolled out to ${flag.rollout} % of users: a targetingKey is needed`);
      return evaluate(flagKey, flag, '');
    }
    return evaluate(flagKey, flag, userId);
  }

  async resolveBooleanEvaluation(flagKey: string, _defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    const e = this.evaluate(flagKey, context);
    const rollout = this.stream.get(flagKey)?.rollout;
    const reason = e.reason === 'disabled' ? StandardResolutionReasons.DISABLED : rollout === 0 || rollout === 100 ? StandardResolutionReasons.STATIC : StandardResolutionReasons.SPLIT;
    return { value: e.enabled, variant: e.enabled ? 'on' : 'off', reason, flagMetadata: { version: e.version, sluiceReason: e.reason } };
  }

  async resolveStringEvaluation(flagKey: string): Promise<ResolutionDetails<string>> {
    throw mismatch(flagKey, 'string');
  }

  async resolveNumberEvaluation(flagKey: string): Promise<ResolutionDetails<number>> {
    throw mismatch(flagKey, 'number');
  }

  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string): Promise<ResolutionDetails<T>> {
    throw mismatch(flagKey, 'object');
  }

  private onStreamStatus(s: 'ready' | 'stale' | 'error', err?: unknown): void {
    const message = err instanceof Error ? err.message : undefined;
    if (s === 'ready') {
      // The SDK itself emits Ready when `initialize` resolves; after that, Ready marks a recovery.
      if (this.initialized && this.degraded) this.events.emit(ProviderEvents.Ready, { message: 'flag stream restored' });
      this.degraded = false;
      return;
    }
    this.degraded = true;
    if (!this.initialized) return; // `initialize` reports it (rejects or times out)
    this.events.emit(s === 'error' ? ProviderEvents.Error : ProviderEvents.Stale, { message: message ?? `flag stream ${s}` });
  }
}

function userIdOf(context: EvaluationContext): string | undefined {
  const id = context.targetingKey ?? context.userId;
  if (id === undefined || id === null) return undefined;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_USER_ID) throw new InvalidContextError(`the targetingKey must be a non-empty string of at most ${MAX_USER_ID} characters`);
  return id;
}

function mismatch(flagKey: string, type: string): TypeMismatchError {
  return new TypeMismatchError(`Sluice flags are boolean; ${JSON.stringify(flagKey)} was asked for as a ${type}`);
}
