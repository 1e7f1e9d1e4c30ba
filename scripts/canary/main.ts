// `pnpm canary …`: step a canary gateway through HAProxy weights, judge it
// against the stable gateways in the same window, promote or roll back.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runCanary } from './controller.ts';
import { HaproxyRuntime } from './haproxy.ts';
import { DEFAULT_THRESHOLDS } from './judge.ts';
import { parseSteps } from './weights.ts';

const USAGE = `usage: pnpm canary --socket PATH --canary SERVER[,SERVER] [options]

  --socket PATH          HAProxy runtime API socket (stats socket … level admin)
  --backend NAME         backend (default gateways)
  --canary LIST          the canary server(s) of the backend; every other server is stable
  --steps LIST           canary shares in percent (default 5,10,25,50,100)
  --interval MS          how long each step is watched (default 60000)
  --check MS             how often the window is judged; an unhealthy check rolls back at once (default 1000)
  --max-wait MS          a step still short of --min-requests after this rolls back (default 3 x interval)
  --min-requests N       canary responses a step needs for a verdict (default ${DEFAULT_THRESHOLDS.minRequests})
  --max-error-rate-delta X      canary 5xx/connection-error rate above stable's by more than X (default ${DEFAULT_THRESHOLDS.maxErrorRateDelta})
  --max-latency-ratio X         canary p99 above stable p99 x X ... (default ${DEFAULT_THRESHOLDS.maxLatencyRatio})
  --latency-floor-ms MS         ... and above this floor (default ${DEFAULT_THRESHOLDS.latencyFloorMs})
  --max-dead-letter-rate-delta X  canary writes dead-lettered above stable's rate by X (default ${DEFAULT_THRESHOLDS.maxDeadLetterRateDelta})
  --max-enqueue-failure-rate-delta X (default ${DEFAULT_THRESHOLDS.maxEnqueueFailureRateDelta})
  --url URL              a gateway or the load balancer, for the dead-letter admin API (default $SLUICE_URL or http://127.0.0.1:3000)
  --admin-key KEY        API key with the admin scope (default $SLUICE_ADMIN_KEY)
  --state FILE           run state, for a re-run after a crash (default .canary-state.json)
  --on-resume MODE       resume (default) or rollback an interrupted run
  --report FILE          write the JSON report here too

Exit code 0: promoted; 1: rolled back; 2: usage or setup error.
`;

function options() {
  const { values: v } = parseArgs({
    options: {
      socket: { type: 'string' }, backend: { type: 'string', default: 'gateways' }, canary: { type: 'string' }, steps: { type: 'string', default: '5,10,25,50,100' },
      interval: { type: 'string', default: '60000' }, check: { type: 'string', default: '1000' }, 'max-wait': { type: 'string' },
      'min-requests': { type: 'string' }, 'max-error-rate-delta': { type: 'string' }, 'max-latency-ratio': { type: 'string' }, 'latency-floor-ms': { type: 'string' },
      'max-dead-letter-rate-delta': { type: 'string' }, 'max-enqueue-failure-rate-delta': { type: 'string' },
      url: { type: 'string' }, 'admin-key': { type: 'string' }, state: { type: 'string', default: '.canary-state.json' }, 'on-resume': { type: 'string', default: 'resume' }, report: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (v.help || v.socket === undefined || v.canary === undefined) throw new Error(USAGE);
  const n = (name: string, s: string | undefined, dflt: number) => {
    if (s === undefined) return dflt;
    const x = Number(s);
    if (!Number.isFinite(x) || x < 0) throw new Error(`--${name}: a non-negative number (got ${s})`);
    return x;
  };
  if (v['on-resume'] !== 'resume' && v['on-resume'] !== 'rollback') throw new Error('--on-resume: resume or rollback');
  const interval = n('interval', v.interval, 60_000);
  const t = DEFAULT_THRESHOLDS;
  return {
    socket: v.socket, backend: v.backend!, canaries: v.canary.split(',').map((s) => s.trim()).filter(Boolean), steps: parseSteps(v.steps!), intervalMs: interval,
    checkMs: n('check', v.check, 1000), maxWaitMs: n('max-wait', v['max-wait'], interval * 3),
    thresholds: {
      minRequests: n('min-requests', v['min-requests'], t.minRequests), maxErrorRateDelta: n('max-error-rate-delta', v['max-error-rate-delta'], t.maxErrorRateDelta),
      maxLatencyRatio: n('max-latency-ratio', v['max-latency-ratio'], t.maxLatencyRatio), latencyFloorMs: n('latency-floor-ms', v['latency-floor-ms'], t.latencyFloorMs),
      maxDeadLetterRateDelta: n('max-dead-letter-rate-delta', v['max-dead-letter-rate-delta'], t.maxDeadLetterRateDelta), maxEnqueueFailureRateDelta: n('max-enqueue-failure-rate-delta', v['max-enqueue-failure-rate-delta'], t.maxEnqueueFailureRateDelta),
    },
    url: v.url ?? process.env.SLUICE_URL ?? 'http://127.0.0.1:3000', adminKey: v['admin-key'] ?? process.env.SLUICE_ADMIN_KEY, stateFile: v.state!, onResume: v['on-resume'] as 'resume' | 'rollback', report: v.report,
  };
}

async function main(): Promise<number> {
  let o: ReturnType<typeof options>;
  try {
    o = options();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const report = await runCanary({ ...o, haproxy: new HaproxyRuntime(o.socket), sluice: { url: o.url, adminKey: o.adminKey }, print: (l) => process.stdout.write(`${new Date().toISOString()} ${l}\n`) });
  const text = JSON.stringify(report, null, 2);
  if (o.report !== undefined) writeFileSync(o.report, text);
  process.stdout.write(`${text}\n`);
  return report.outcome === 'promoted' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`canary: ${err.message}\n`);
    process.exit(2);
  },
);
