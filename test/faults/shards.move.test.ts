/**
 * Moving a key range between shards under live load (issue: sharding).
 * Three private primaries (s2 with a replica), two writers, two gateways,
 * clients writing to users on every shard (inserts of f_items, whose key
 * holds the shard key, and ordered upserts of f_keys, whose key does not),
 * half of them waiting for the commit. A 100,000-row range is preloaded on
 * the source, then moved with POST /v1/admin/shards/moves while the clients
 * write, including to users in the range. The set checker reads every shard:
 *
 *   no client request failed (the move refuses nothing), nothing
 *   acknowledged lost, nothing applied twice (a row on two shards would
 *   count twice), per-key order kept across the shards; the range ends
 *   wholly on the target (the preloaded rows, once), the source holds none
 *   of it; the cutover pause is recorded.
 *
 * Two more runs put a fault into the move: every writer SIGKILLed while it
 * copies (the copy starts over), and a gateway SIGKILLed at the cutover
 * (the move waits for the registry to drop it: its requests in flight are
 * unknown, not failed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainAndCheck, eventually, expectSound, type GatewayProc } from './support/index.ts';
import { startLoad, type LoadDriver } from './support/load.ts';
import { ShardedCluster } from './support/sharded-cluster.ts';
import type { TsProcess } from '@sluice/local-servers/processes.ts';

const PRELOADED = 100_000;
const CLIENTS = 30;
/** Client c writes as user c·100 + 1: users 1…2901, five clients in every 500-key range. */
const userOf = (c: number) => c * 100 + 1;
const preloaded = (id: string) => id.startsWith('seed.');

let cluster: ShardedCluster;
let writers: TsProcess[] = [];
let gateways: GatewayProc[] = [];

beforeAll(async () => {
  cluster = await ShardedCluster.startSharded({ SLUICE_LOG_LEVEL: 'info' });
  writers = [await cluster.startWriter('writer-a'), await cluster.startWriter('writer-b')];
  gateways = [await cluster.startGateway({}, 'gateway-a'), await cluster.startGateway({}, 'gateway-b')];
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

interface Move {
  id: number;
  verify: { recopies?: number } | null;
  state: string;
  step: string | null;
  rowsCopied: number;
  pauseMs: number | null;
  error: string | null;
}

async function admin<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(gateways[gateways.length - 1]!.url + path, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as T };
}

/** Empty the checker's tables on every shard; load `rows` rows for users [lo, lo + 500) on `source`. */
async function prepare(source: string, lo: number, rows: number): Promise<void> {
  for (const p of cluster.pools) await p.query('TRUNCATE f_items, f_keys, f_key_history');
  await cluster.shardPool(source).query(
    `INSERT INTO f_items (user_id, op, client, note) SELECT $1 + (g % 500), 'seed.' || g, -1, repeat('x', 60) FROM generate_series(1, $2) g`,
    [lo, rows],
  );
}

/** Rows of users [lo, hi) of f_items on each shard. */
async function rangeCounts(lo: number, hi: number): Promise<number[]> {
  return Promise.all(cluster.pools.map(async (p) => Number((await p.query<{ n: string }>('SELECT count(*) AS n FROM f_items WHERE user_id >= $1 AND user_id < $2', [lo, hi])).rows[0]!.n)));
}

/** Poll the move every 10 ms until `done(m)`; `onState` sees every state change first. */
async function follow(id: number, onState: (m: Move) => Promise<void> = async () => {}, timeoutMs = 180_000): Promise<Move> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await admin<Move>('GET', `/v1/admin/shards/moves/${id}`).catch(() => null);
    const m = r?.json;
    if (m !== undefined && m.state !== last) {
      last = m.state;
      await onState(m);
    }
    if (m !== undefined && ['done', 'failed', 'cancelled'].includes(m.state)) return m;
    if (Date.now() > deadline) throw new Error(`move ${id} still ${last} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Say why a move or a drain is stuck (the writers' last warnings, the mover's step, the backlog), then fail. */
async function diagnose(err: unknown): Promise<never> {
  for (const w of writers) console.error(`[${w.name}] ${w.output().split('\n').filter((l) => /"level":(40|50|60)|"msg":"move/.test(l)).slice(-30).join('\n')}`);
  const moves = await cluster.shardPool('s1').query('SELECT id, state, step, error FROM sluice.shard_moves ORDER BY id DESC LIMIT 2').catch((e: Error) => ({ rows: [e.message] }));
  console.error(`[moves] ${JSON.stringify(moves.rows)}\n[backlog] ${JSON.stringify(await cluster.backlogByPartition())}`);
  throw err;
}

/** Preload, load, move [lo, lo + 500) from `source` to `target` with `fault` at some state, check. */
async function moveUnderLoad(source: string, target: string, lo: number, fault: (m: Move, load: LoadDriver) => Promise<void>, o: { unknownAllowed?: boolean } = {}): Promise<Move> {
  const hi = lo + 500;
  await prepare(source, lo, PRELOADED);
  const load = startLoad({ urls: gateways.map((g) => g.url), clients: CLIENTS, keysPerClient: 2, upsertShare: 0.5, paceMs: 5, timeoutMs: 30_000, userOf });
  await eventually(() => expect(load.acknowledged).toBeGreaterThan(300), 30_000);
  const created = await admin<Move>('POST', '/v1/admin/shards/moves', { from: lo, to: hi, shard: target });
  expect(created.status, JSON.stringify(created.json)).toBe(202);
  const t0 = performance.now();
  const move = await follow(created.json.id, (m) => fault(m, load)).catch(diagnose);
  const moveEnd = performance.now();
  // Writes after the move, to the moved users too: they now commit on the target.
  const at = load.acknowledged;
  await eventually(() => expect(load.acknowledged).toBeGreaterThan(at + 300), 60_000);
  const history = await load.stop();
  expect(move, JSON.stringify(move)).toMatchObject({ state: 'done', error: null });
  // The log replay made the target equal to the source: no repair copy was needed at the cutover.
  expect(move.verify?.recopies, JSON.stringify(move.verify)).toBe(0);

  const verdict = await drainAndCheck(cluster, history, 120_000).catch(diagnose);
  // An unsound verdict: the writers' warnings say what happened (hand-backs, fencing, stalls).
  await Promise.resolve().then(() => expectSound(verdict, { preloaded })).catch(diagnose);
  expect(verdict.failed, 'requests refused during the move').toBe(0);
  if (!o.unknownAllowed && verdict.unknown > 0) {
    // Seen once in CI (17 of ~2,000): say when they were sent against the move's window and what each got.
    const unknown = history.ops.filter((op) => op.outcome === 'unknown').map((op) => ({ key: op.key, ack: op.ack, status: op.status, sentMs: Math.round(op.start - t0), tookMs: Math.round(op.end - op.start) }));
    console.error(`[shards] requests without an answer (move ${Math.round(moveEnd - t0)} ms, pause ${move.pauseMs} ms): ${JSON.stringify(unknown.slice(0, 40))}`);
    await diagnose(new Error(`${verdict.unknown} requests without an answer`));
  }
  // The preloaded rows: each exactly once, all on the target.
  const counts = await rangeCounts(lo, hi);
  const seeds = await Promise.all(cluster.pools.map(async (p) => Number((await p.query<{ n: string }>("SELECT count(*) AS n FROM f_items WHERE op LIKE 'seed.%'")).rows[0]!.n)));
  expect(seeds.reduce((a, b) => a + b, 0)).toBe(PRELOADED);
  expect(counts[Number(source.slice(1)) - 1], `rows of the range left on ${source}`).toBe(0);
  expect(seeds[Number(target.slice(1)) - 1]).toBe(PRELOADED);

  // Committed writes of users in the range: how long they waited while the move ran.
  const inRange = history.ops.filter((op) => op.ack === 'committed' && op.outcome === 'ok' && op.start >= t0 && op.start <= moveEnd);
  const slowest = Math.max(0, ...inRange.map((op) => op.end - op.start));
  // Where the pause went: the mover logs ms into the pause at which each step ended.
  const cutLine = writers.flatMap((w) => w.output().split('\n')).filter((l) => l.includes('move: cut over') && new RegExp(`"move":"?${move.id}"?[,}]`).test(l)).at(-1);
  const steps = cutLine ? (JSON.parse(cutLine) as { steps?: Record<string, number> }).steps : undefined;
  console.info(`[shards] move ${lo}…${hi} ${source} → ${target}: ${JSON.stringify({ pauseMs: move.pauseMs, steps, moveMs: Math.round(moveEnd - t0), acknowledged: verdict.acknowledged, committed: verdict.committed, unknown: verdict.unknown, slowestCommittedAckMs: Math.round(slowest) })}`);
  return move;
}

describe('sharding: a 100k-row range moved between primaries under load', () => {
  it('moves s2 → s3 with no request failed, nothing lost or doubled, per-key order kept', async () => {
    const move = await moveUnderLoad('s2', 's3', 1001, async () => {});
    expect(move.pauseMs).not.toBeNull();
    // The map gives the range to s3; a committed write to a moved user reads back through s3.
    const map = await admin<{ ranges: { upTo?: number; shard: string }[] }>('GET', '/v1/admin/shards');
    expect(map.json.ranges).toContainEqual({ upTo: 1501, shard: 's3' });
    const res = await fetch(`${gateways[0]!.url}/v1/tables/f_items`, { method: 'POST', headers: { 'content-type': 'application/json', 'sluice-ack': 'committed' }, body: JSON.stringify({ user_id: 1234, op: 'probe', client: 0 }) });
    expect(res.status).toBe(201);
    const token = res.headers.get('sluice-consistency-token')!;
    expect(token).toMatch(/^s3:/);
    const key = ((await res.json()) as { keys: { user_id: string; id: string }[] }).keys[0]!;
    const read = await fetch(`${gateways[1]!.url}/v1/tables/f_items/${key.user_id},${key.id}`, { headers: { 'sluice-consistency-token': token } });
    expect(read.status).toBe(200);
  }, 400_000);

  it('every writer SIGKILLed while it copies: the next mover copies again; same verdict', async () => {
    let killedAt: Move | undefined;
    await moveUnderLoad('s2', 's3', 1501, async (m) => {
      if (m.state !== 'copying' || killedAt !== undefined) return;
      killedAt = m;
      for (const w of writers) w.kill('SIGKILL');
      writers = [await cluster.startWriter('writer-c'), await cluster.startWriter('writer-d')];
    });
    expect(killedAt, 'the copy was never seen running').toBeDefined();
  }, 400_000);

  it('a gateway SIGKILLed at the cutover: the move finishes once the registry drops it; same verdict', async () => {
    let killed = false;
    await moveUnderLoad(
      's1',
      's2',
      1,
      async (m, load) => {
        if (m.state !== 'cutover' || killed) return;
        killed = true;
        const [dead, alive] = gateways as [GatewayProc, GatewayProc];
        dead.proc.kill('SIGKILL');
        gateways = [alive];
        load.retarget([alive.url]);
        gateways.push(await cluster.startGateway({}, 'gateway-c'));
        load.retarget(gateways.map((g) => g.url));
      },
      { unknownAllowed: true },
    );
    expect(killed, 'the cutover was never seen').toBe(true);
  }, 400_000);
});
