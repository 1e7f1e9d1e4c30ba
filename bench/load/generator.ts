/**
 * Closed-loop HTTP load generator, run as its own process so its CPU is
 * counted apart from the server's: `connections` keep-alive HTTP/1.1 sockets
 * (spread over `ports`), one request in flight on each, for `warmupMs` (not
 * measured) and then `durationMs`. Every response is timed into a histogram.
 *
 * Protocol on stdout, one line each: `start` when the measured window opens,
 * `end` when it closes (the parent reads the other processes' CPU at both),
 * then the LoadResult as JSON. Progress goes to stderr every `progressMs`.
 *
 *   tsx bench/load/generator.ts '{"name":"bare","ports":[3000],"method":"POST","path":"/v1/tables/t","body":"{…}","connections":100,"durationMs":20000}'
 */
import { Histogram, type LatencySummary } from './histogram.ts';
import { Http1Connection } from './http1.ts';
import { keyFn, type KeyPattern } from './keys.ts';

/** What to send, how hard and for how long. */
export interface LoadSpec {
  /** Scenario name, for progress lines. */
  name: string;
  ports: number[];
  method: 'GET' | 'POST';
  /** Request path; `{key}` (here or in `body`) is replaced per request according to `keys`. */
  path: string;
  keys?: KeyPattern;
  body?: string;
  headers?: Record<string, string>;
  connections: number;
  durationMs: number;
  /** Load before the measured window (connections, JIT, pools). Default 250 ms. */
  warmupMs?: number;
  /** Default 5000; 0 = silent. */
  progressMs?: number;
  /**
   * After the window, how long connections may take to finish their last
   * request before they are closed and counted in `unfinished`. Default 10 s.
   */
  drainMs?: number;
}

/** What one measured window saw. */
export interface LoadResult {
  /** Responses completed in the window (every status). */
  requests: number;
  durationMs: number;
  rps: number;
  status: Record<string, number>;
  /** Requests that got no response (connection refused, reset, closed mid-answer). */
  errors: number;
  /** Connections still busy `drainMs` after the window (a request never answered, a server gone): closed, not waited for. */
  unfinished: number;
  latencyMs: LatencySummary;
  /** The generator's own CPU (user + system, all threads) per completed request, µs. */
  selfCpuUsPerRequest: number;
}

/**
 * Request bytes: fixed ones are built once; with `{key}` in the path or the
 * body (a body's length then varies) the request is formatted per request,
 * one key for both.
 */
function requestMaker(spec: LoadSpec, port: number, nextKey: () => string): () => Buffer | string {
  const body = spec.body ?? '';
  const headers = Object.entries(spec.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const framing = (b: string) => (spec.method === 'POST' ? `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n` : '');
  const host = ` HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n${headers}`;
  if (body.includes('{key}')) {
    return () => {
      const key = nextKey();
      const b = body.replaceAll('{key}', key);
      return `${spec.method} ${spec.path.replaceAll('{key}', key)}${host}${framing(b)}\r\n${b}`;
    };
  }
  const tail = `${host}${framing(body)}\r\n${body}`;
  const at = spec.path.indexOf('{key}');
  if (at < 0) {
    const bytes = Buffer.from(`${spec.method} ${spec.path}${tail}`);
    return () => bytes;
  }
  const head = `${spec.method} ${spec.path.slice(0, at)}`;
  const rest = spec.path.slice(at + '{key}'.length) + tail;
  return () => head + nextKey() + rest;
}

/** Run `spec`; `onEvent` hears `start` and `end` of the measured window. */
export function runLoad(spec: LoadSpec, onEvent: (e: 'start' | 'end') => void = () => {}): Promise<LoadResult> {
  const t0 = performance.now();
  const tStart = t0 + (spec.warmupMs ?? 250);
  const tEnd = tStart + spec.durationMs;
  let measuring = false;
  let hist = new Histogram();
  const status = new Map<number, number>();
  let errors = 0;
  let cpu0 = process.cpuUsage();
  let cpuUs = 0;
  const onResponse = (code: number, startedAt: number) => {
    if (!measuring) return;
    if (code === 0) errors++;
    else {
      hist.record(performance.now() - startedAt);
      status.set(code, (status.get(code) ?? 0) + 1);
    }
  };
  const open = setTimeout(() => {
    measuring = true;
    hist = new Histogram();
    cpu0 = process.cpuUsage();
    onEvent('start');
  }, tStart - t0);
  const progress = spec.progressMs ?? 5000;
  let last = { at: tStart, n: 0 };
  const ticker = progress > 0 ? setInterval(() => {
    if (!measuring) return;
    const now = performance.now();
    const rate = ((hist.count - last.n) / (now - last.at)) * 1000;
    last = { at: now, n: hist.count };
    process.stderr.write(`  [${spec.name}] ${((now - tStart) / 1000).toFixed(0)} s: ${Math.round(rate)} req/s (${hist.count} so far)\n`);
  }, progress) : undefined;
  return new Promise((resolve) => {
    let idle = 0;
    const close = setTimeout(() => {
      measuring = false;
      const c = process.cpuUsage(cpu0);
      cpuUs = c.user + c.system;
      clearInterval(ticker);
      onEvent('end');
    }, tEnd - t0);
    const conns: Http1Connection[] = [];
    let unfinished = 0;
    // Nothing here may wait forever: a generator that never ends stalls the whole bench without a word.
    const deadline = setTimeout(() => {
      const busy = conns.filter((c) => c.busy);
      unfinished = busy.length; // counted first: the last abort resolves the result
      for (const c of busy) c.abort();
      if (unfinished > 0) process.stderr.write(`  [${spec.name}] ${unfinished} connection(s) still busy ${spec.drainMs ?? 10_000} ms after the window: closed\n`);
    }, tEnd - t0 + (spec.drainMs ?? 10_000));
    const finish = () => {
      if (++idle < spec.connections) return;
      clearTimeout(open);
      clearTimeout(close);
      clearTimeout(deadline);
      const n = hist.count;
      resolve({
        requests: n,
        durationMs: spec.durationMs,
        rps: n / (spec.durationMs / 1000),
        status: Object.fromEntries(status),
        errors,
        unfinished,
        latencyMs: hist.summary(),
        selfCpuUsPerRequest: n > 0 ? cpuUs / n : 0,
      });
    };
    // One key sequence for all connections (a `seq` key is never asked twice).
    const nextKey = keyFn(spec.keys ?? { mode: 'fixed', key: '1' });
    const makers = spec.ports.map((port) => requestMaker(spec, port, nextKey));
    for (let c = 0; c < spec.connections; c++) {
      const port = spec.ports[c % spec.ports.length]!;
      const make = makers[c % spec.ports.length]!;
      conns.push(new Http1Connection(port, '127.0.0.1', () => (performance.now() < tEnd ? make() : null), onResponse, finish));
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  runLoad(spec, (e) => process.stdout.write(`${e}\n`)).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: unknown) => {
      process.stderr.write(String(err) + '\n');
      process.exit(1);
    },
  );
}
