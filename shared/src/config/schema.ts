import { z } from 'zod';
import { redisUrlProblem } from '../redis/url.ts';
import { FLAG_NAME } from '../flags/evaluate.ts';
import { NEWEST_PAYLOAD_VERSION, type PayloadVersion } from '../queue/contract.ts';

/** Booleans from env: only the words, never `z.coerce.boolean()` (it makes "false" true). */
const envBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const posInt = z.coerce.number().int().positive();
const nonNegInt = z.coerce.number().int().nonnegative();

const apiKeySchema = z.object({
  // 32 characters: e.g. `openssl rand -hex 16`; short keys fall to guessing.
  key: z.string().min(32, 'API keys must be at least 32 characters'),
  scopes: z.array(z.string().regex(/^(read|write):(\*|[A-Za-z_][A-Za-z0-9_]*)$|^admin$/, 'scope must be read:<table|*>, write:<table|*> or admin')).min(1),
});

const jsonArray = <T extends z.ZodTypeAny>(item: T) =>
  z.string().transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be valid JSON' });
      return z.NEVER;
    }
  }).pipe(z.array(item));

/** A Redis address: `redis://`, `rediss://` or `redis+cluster://h1:p1,h2:p2` (shared/src/redis/url.ts). */
const redisUrl = z.string().superRefine((s, ctx) => {
  const problem = redisUrlProblem(s);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: `Redis URL ${problem}` });
});

const csv = z.string().transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p.length > 0));

/** Shard names: short, lower-case, usable in Redis keys, job ids and SQL literals (topology/partitions.ts). */
const shardName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'shard names are lower-case letters, digits, _ and -, starting with a letter, at most 32');

const shardSchema = z.object({
  name: shardName,
  url: z.string().url(),
  replicas: z.array(z.string().url()).default([]),
});

/** `table:column,…` → { table: column }. */
const shardKeys = csv.transform((items, ctx) => {
  const out: Record<string, string> = {};
  for (const item of items) {
    const m = /^([A-Za-z_][A-Za-z0-9_.]*):([A-Za-z_][A-Za-z0-9_]*)$/.exec(item);
    if (m === null) ctx.addIssue({ code: 'custom', message: `"${item}" is not table:column` });
    else out[m[1]!] = m[2]!;
  }
  return out;
});

const rangeSchema = z.object({ upTo: z.number().int().optional(), shard: shardName });

/**
 * Every operator knob of Sluice, its default and its meaning. The README's env
 * table mirrors this list; `test/docs.env-table.test.ts` keeps them in sync.
 */
export const configSchema = z.object({
  SLUICE_PORT: posInt.max(65535).default(3000),
  /** Unset: the gateway binds 0.0.0.0 with auth on and 127.0.0.1 with auth off; metrics servers bind 127.0.0.1. */
  SLUICE_HOST: z.string().min(1).optional(),
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/postgres'),
  /** Several Postgres primaries: `[{"name","url","replicas"}]`; unset: one shard `main` from DATABASE_URL and SLUICE_REPLICA_URLS. */
  SLUICE_SHARDS: jsonArray(shardSchema).optional(),
  /** `table:column,…`: the integer primary-key column whose value picks a sharded table's shard. */
  SLUICE_SHARD_KEYS: shardKeys.default({}),
  /** The first shard map (used only when none is stored): half-open ranges `[{"upTo":N,"shard":"s1"},…,{"shard":"sN"}]`. */
  SLUICE_SHARD_MAP: jsonArray(rangeSchema).optional(),
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  SLUICE_TABLES: csv.default([]),
  /** A directory of `<name>.sql` read models (one SELECT … GROUP BY over an exposed table each), kept exact by the writers; unset: none. */
  SLUICE_VIEWS_DIR: z.string().min(1).optional(),
  SLUICE_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('sluice'),
  SLUICE_PARTITIONS: posInt.max(1024).default(4),
  /** How often every process checks the stored shard map for a new version (partition layout changes, later shard moves). */
  SLUICE_TOPOLOGY_POLL_MS: posInt.min(50).max(60_000).default(1000),
  /**
   * The flag under rollout: requests naming their user (Sluice-User-Id) are
   * counted and timed by this flag's variant for that user (on/off), what
   * `pnpm canary flag` judges. Unset: no such metrics.
   */
  SLUICE_ROLLOUT_FLAG: z.string().regex(FLAG_NAME, 'a flag name: 1-100 of A-Z a-z 0-9 . _ -').optional(),
  SLUICE_FLAGS_RECONCILE_MS: posInt.min(50).max(60_000).default(500),
  SLUICE_BATCH_MAX_ROWS: posInt.max(100_000).default(2000),
  SLUICE_BATCH_LINGER_MS: nonNegInt.max(10_000).default(5),
  /**
   * The two lingers (SLUICE_BATCH_LINGER_MS, SLUICE_ENQUEUE_LINGER_MS) are
   * ceilings that each partition's wait approaches while waiting gathers
   * company and leaves while batches stay alone (shared/src/batching/linger.ts).
   * false: always the full linger.
   */
  SLUICE_ADAPTIVE_LINGER: envBool.default(true),
  /**
   * A writer's batches of several partitions of one shard that are ready while
   * its previous transaction there is in flight commit together, in one
   * transaction of at most SLUICE_BATCH_MAX_ROWS rows (writer/src/flush/group-commit.ts).
   */
  SLUICE_GROUP_COMMIT: envBool.default(true),
  /** Plain inserts that return nothing go in by COPY from this many rows of one statement group (0: always unnest). */
  SLUICE_COPY_MIN_ROWS: nonNegInt.max(100_000).default(500),
  SLUICE_ENQUEUE_LINGER_MS: nonNegInt.max(1000).default(2),
  SLUICE_ENQUEUE_MAX_REQUESTS: posInt.max(10_000).default(500),
  /**
   * Job payload version the gateway writes (docs/PAYLOAD.md). Raise it only
   * once every writer reads it: a writer that does not leaves the job queued
   * and stops consuming its partition until a newer writer takes over.
   */
  SLUICE_PAYLOAD_VERSION: z.coerce.number().int().min(1).max(NEWEST_PAYLOAD_VERSION).default(1).transform((v) => v as PayloadVersion),
  /** The gateway's build (release) id, carried by v2 job payloads (the writers count the jobs they read by it). */
  SLUICE_BUILD_ID: z.string().regex(/^[A-Za-z0-9._+-]{1,64}$/, 'build ids are 1-64 of A-Z a-z 0-9 . _ + -').default('dev'),
  SLUICE_MAX_QUEUE_DEPTH: posInt.default(20_000),
  /** Writes (requests) queued over all partitions above which writes get 503 (jobs carry up to SLUICE_ENQUEUE_MAX_REQUESTS each). */
  SLUICE_MAX_QUEUE_WRITES: posInt.default(1_000_000),
  /** Payload bytes queued over all partitions above which writes get 503: size the queue Redis's maxmemory above it. */
  SLUICE_MAX_QUEUE_BYTES: posInt.default(536_870_912),
  /** Writes queued in one partition above which writes routed to it get 503 (one slow key range cannot take the whole budget). */
  SLUICE_MAX_PARTITION_WRITES: posInt.default(250_000),
  /** Payload bytes queued in one partition above which writes routed to it get 503. */
  SLUICE_MAX_PARTITION_BYTES: posInt.default(134_217_728),
  SLUICE_MAX_PENDING_REQUESTS: posInt.default(20_000),
  /** Bytes of request bodies a gateway holds at once, reserved by Content-Length (or SLUICE_MAX_BODY_BYTES) before reading. */
  SLUICE_MAX_PENDING_BYTES: posInt.default(268_435_456),
  SLUICE_COMMIT_WAIT_MS: posInt.default(5000),
  SLUICE_PG_POOL_MAX: posInt.max(1000).default(4),
  SLUICE_PG_CONNECT_TIMEOUT_MS: posInt.default(5000),
  SLUICE_STATEMENT_TIMEOUT_MS: posInt.default(15_000),
  SLUICE_REDIS_TIMEOUT_MS: posInt.default(2000),
  /** > 0: a job counts as queued (202) only after `WAIT n` saw it on n replicas of its Redis master. */
  SLUICE_REDIS_WAIT_REPLICAS: nonNegInt.max(16).default(0),
  SLUICE_WRITER_CONCURRENCY: posInt.max(10_000).default(256),
  SLUICE_LOCK_DURATION_MS: posInt.min(1000).default(10_000),
  /** Partition lease lifetime: a dead writer's partitions are taken over about this long after its last renewal. */
  SLUICE_LEASE_TTL_MS: posInt.min(500).max(600_000).default(5000),
  /** How often a writer renews its leases, heartbeats and rebalances (must be under half the lease TTL). */
  SLUICE_LEASE_RENEW_MS: posInt.min(50).max(60_000).default(1000),
  /**
   * Standbys that must have a batch's commit (see SLUICE_CONFIRM_POSITION)
   * before the writer completes its jobs in Redis, so a commit lost in a
   * primary failover is replayed from the queue. Unset: 1 for a shard with
   * replicas configured, 0 otherwise; 0 = complete right after COMMIT.
   */
  SLUICE_CONFIRM_REPLICAS: nonNegInt.max(16).optional(),
  /** `flush`: the standby wrote the WAL to disk (survives a failover); `replay`: it also applied it (visible to its readers). */
  SLUICE_CONFIRM_POSITION: z.enum(['flush', 'replay']).default('flush'),
  /** How long a batch's jobs wait for that confirmation before SLUICE_CONFIRM_ON_TIMEOUT applies. */
  SLUICE_CONFIRM_TIMEOUT_MS: posInt.max(600_000).default(5000),
  /**
   * Past the timeout: `complete` the jobs anyway (availability; counted in
   * sluice_writer_unconfirmed_batches_total, a failover may then lose them) or
   * `wait` until a standby has the commit (durability; the partition stalls and
   * the gateways push back with 503 once SLUICE_MAX_QUEUE_DEPTH is reached).
   */
  SLUICE_CONFIRM_ON_TIMEOUT: z.enum(['complete', 'wait']).default('complete'),
  /**
   * Committed acks wait for the same standby confirmation (a `201` then means
   * "survives a failover to a standby"); off: they are sent right after COMMIT.
   */
  SLUICE_CONFIRM_BEFORE_ACK: envBool.default(false),
  /** Writer's Prometheus `/metrics` port; 0 = no HTTP server. */
  SLUICE_WRITER_METRICS_PORT: nonNegInt.max(65535).default(0),
  SLUICE_MAX_BODY_BYTES: posInt.default(1_048_576),
  SLUICE_MAX_ROWS_PER_REQUEST: posInt.default(1000),
  SLUICE_MAX_JSON_DEPTH: posInt.max(1000).default(32),
  SLUICE_REQUEST_TIMEOUT_MS: posInt.default(30_000),
  /**
   * After SIGTERM the gateway fails /livez and /readyz but keeps serving for
   * this long, so the load balancer takes it out of rotation before its
   * listener closes. Must exceed the LB's time to notice (HAProxy: inter +
   * (fall - 1) x fastinter + timeout check). 0 = close at once (no LB).
   */
  SLUICE_DRAIN_GRACE_MS: nonNegInt.max(120_000).default(3000),
  SLUICE_IDEMPOTENCY_TTL_S: posInt.default(86_400),
  /**
   * How long `sluice.applied_jobs` and `sluice.idempotency_keys` rows (and so
   * write statuses) are kept: at least SLUICE_IDEMPOTENCY_TTL_S. Applied-job
   * rows are also kept while any older job is still in a partition's log.
   */
  SLUICE_DEDUPE_RETENTION_S: posInt.default(172_800),
  /** How often each writer removes dedupe records past retention. */
  SLUICE_RETENTION_INTERVAL_MS: posInt.min(50).max(3_600_000).default(60_000),
  /** Rows per retention DELETE (short statements; a pause between them). */
  SLUICE_RETENTION_BATCH_ROWS: posInt.max(100_000).default(5000),
  // Read path (gateway/src/read, shared/src/cache) and the cache warmer (writer/src/warmer).
  SLUICE_REPLICA_URLS: csv.pipe(z.array(z.string().url())).default([]),
  SLUICE_CACHE_REDIS_URL: redisUrl.optional(),
  SLUICE_CACHE_TTL_S: posInt.max(604_800).default(300),
  SLUICE_CACHE_SOFT_TTL_S: posInt.max(604_800).default(30),
  SLUICE_CACHE_TTL_JITTER_PCT: nonNegInt.max(50).default(10),
  SLUICE_NEGATIVE_TTL_S: posInt.max(86_400).default(5),
  SLUICE_CACHE_WRITE_THROUGH: z.enum(['values', 'fence']).default('values'),
  SLUICE_CACHE_LEASE_MS: posInt.max(60_000).default(2000),
  SLUICE_STAMPEDE_WAIT_MS: posInt.max(60_000).default(3000),
  SLUICE_MAX_REPLICA_LAG_MS: posInt.default(2000),
  SLUICE_REPLICA_CHECK_MS: posInt.max(60_000).default(500),
  SLUICE_RYW_WAIT_MS: nonNegInt.max(10_000).default(20),
  SLUICE_POPULARITY_SAMPLE: nonNegInt.max(1_000_000).default(1),
  SLUICE_POPULARITY_FLUSH_MS: posInt.max(60_000).default(1000),
  /** Members the popularity set keeps (the least read go first); at least SLUICE_WARMER_TOP_KEYS. */
  SLUICE_POPULARITY_MAX_KEYS: posInt.max(10_000_000).default(20_000),
  /** The popularity set expires this long after the last read was counted into it. */
  SLUICE_POPULARITY_TTL_S: posInt.max(2_592_000).default(86_400),
  SLUICE_WARMER_INTERVAL_MS: posInt.max(600_000).default(1000),
  SLUICE_WARMER_TOP_KEYS: posInt.max(1_000_000).default(10_000),
  SLUICE_WARMER_HALF_LIFE_S: posInt.default(600),
  SLUICE_WARMER_METRICS_PORT: nonNegInt.max(65535).default(0),
  SLUICE_API_KEYS: jsonArray(apiKeySchema).optional(),
  /** Key of the HMACs in API key ids and writeId owner tags; the same on every gateway; required with SLUICE_API_KEYS. */
  SLUICE_HMAC_SECRET: z.string().min(32, 'SLUICE_HMAC_SECRET must be at least 32 characters').optional(),
  SLUICE_ALLOW_VOLATILE_REDIS: envBool.default(false),
  SLUICE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Test-only fail points (`name[=ms],…`). Refused unless NODE_ENV=test. */
  SLUICE_FAILPOINTS: csv.default([]),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
});

export type Config = z.output<typeof configSchema>;
export type ApiKeyConfig = z.output<typeof apiKeySchema>;

/** The env names the schema knows, for docs and docker-compose checks. */
export const configKeys: readonly string[] = Object.keys(configSchema.shape);
