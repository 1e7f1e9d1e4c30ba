// `pnpm deadletters list|show|replay|discard`: the dead-letter admin API for
// operators. Talks HTTP to a gateway: --url / SLUICE_URL, --key / SLUICE_ADMIN_KEY.
import { parseArgs } from 'node:util';

const USAGE = `usage: pnpm deadletters <command> [options]

  list                 pending dead letters, newest first
    --table T          only this table
    --sqlstate S       a SQLSTATE (23505) or a class (23)
    --since ISO        created at or after (e.g. 2025-01-31T12:00:00Z)
    --until ISO        created before
    --state S          pending (default), replayed, discarded or all
    --limit N          page size (default 50, at most 500)
    --after ID         start after this id (the "next" of the previous page)
    --all              follow every page
  show ID              one dead letter with its stored request
  replay ID            enqueue the stored request again, as a new write (idempotent:
                       replaying twice applies once)
    --wait             wait for the commit (Sluice-Ack: committed)
  discard ID           mark it discarded (kept; its write stays "dead")

  --url URL            gateway (default $SLUICE_URL or http://127.0.0.1:3000)
  --key KEY            API key with the admin scope (default $SLUICE_ADMIN_KEY)
  --json               print the API's JSON instead of a table
`;

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    table: { type: 'string' },
    sqlstate: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    state: { type: 'string' },
    limit: { type: 'string' },
    after: { type: 'string' },
    all: { type: 'boolean' },
    wait: { type: 'boolean' },
    url: { type: 'string' },
    key: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

const base = (o.url ?? process.env.SLUICE_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
const key = o.key ?? process.env.SLUICE_ADMIN_KEY;

function usage(code: number): never {
  (code === 0 ? process.stdout : process.stderr).write(USAGE);
  process.exit(code);
}

/** One API call; a problem+json answer is printed and exits 1. */
async function call(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`${base}${path}`, { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
  const text = await res.text();
  const body: unknown = text === '' ? null : JSON.parse(text);
  if (res.status >= 400) {
    const p = body as { title?: string; detail?: string; sqlstate?: string } | null;
    process.stderr.write(`${res.status} ${p?.title ?? res.statusText}: ${p?.detail ?? ''}${p?.sqlstate ? ` (SQLSTATE ${p.sqlstate})` : ''}\n`);
    process.exit(1);
  }
  return { status: res.status, body, headers: res.headers };
}

interface Item {
  id: number;
  createdAt: string;
  table: string | null;
  sqlstate: string;
  writeId: string;
  message: string;
  replayWriteId: string | null;
  discardedAt: string | null;
}

function printTable(items: Item[]): void {
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const rows = items.map((i) => [String(i.id), i.createdAt.slice(0, 19), i.table ?? '-', i.sqlstate, i.writeId, i.discardedAt ? 'discarded' : i.replayWriteId ? `replayed → ${i.replayWriteId}` : cut(i.message, 60)]);
  const head = ['id', 'created (UTC)', 'table', 'sqlstate', 'writeId', 'message'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  for (const r of [head, ...rows]) process.stdout.write(`${r.map((v, c) => v.padEnd(widths[c]!)).join('  ').trimEnd()}\n`);
}

async function list(): Promise<void> {
  const q = new URLSearchParams();
  for (const k of ['table', 'sqlstate', 'since', 'until', 'state', 'limit', 'after'] as const) if (o[k] !== undefined) q.set(k, o[k]);
  const items: Item[] = [];
  for (;;) {
    const page = (await call('GET', `/v1/admin/dead-letters?${q}`)).body as { items: Item[]; next: number | null };
    items.push(...page.items);
    if (!o.all || page.next === null) {
      if (o.json) process.stdout.write(`${JSON.stringify({ items, next: page.next }, null, 2)}\n`);
      else {
        printTable(items);
        if (page.next !== null) process.stdout.write(`… more: --after ${page.next} (or --all)\n`);
      }
      return;
    }
    q.set('after', String(page.next));
  }
}

function idArg(): string {
  const id = positionals[1];
  if (id === undefined || !/^\d+$/.test(id)) usage(2);
  return id;
}

async function main(): Promise<void> {
  if (o.help) usage(0);
  switch (positionals[0]) {
    case 'list':
      return list();
    case 'show':
      process.stdout.write(`${JSON.stringify((await call('GET', `/v1/admin/dead-letters/${idArg()}`)).body, null, 2)}\n`);
      return;
    case 'replay': {
      const r = await call('POST', `/v1/admin/dead-letters/${idArg()}/replay`, o.wait ? { 'sluice-ack': 'committed' } : {});
      const b = r.body as { writeId: string; status?: string };
      if (o.json) process.stdout.write(`${JSON.stringify(b, null, 2)}\n`);
      else process.stdout.write(`${r.headers.get('idempotent-replayed') ? 'already replayed as' : 'replayed as'} ${b.writeId}${b.status ? ` (${b.status})` : ' (queued)'}\n`);
      return;
    }
    case 'discard':
      await call('DELETE', `/v1/admin/dead-letters/${idArg()}`);
      process.stdout.write('discarded\n');
      return;
    default:
      usage(2);
  }
}

await main();
