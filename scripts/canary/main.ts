// `pnpm canary …`: step a canary gateway through HAProxy weights, judge it
// against the stable gateways in the same window, promote or roll back.
// `pnpm canary flag NAME …`: step a feature flag's rollout the same way (flag-main.ts).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { JUDGEMENT_OPTIONS, JUDGEMENT_USAGE, judgementOf } from './cli.ts';
import { runCanary } from './controller.ts';
import { flagMain } from './flag-main.ts';
import { HaproxyRuntime } from './haproxy.ts';
import { parseSteps } from './weights.ts';

const USAGE = `usage: pnpm canary --socket PATH --canary SERVER[,SERVER] [options]
       pnpm canary flag NAME --gateways URL[,URL] [options]   (pnpm canary flag --help)

  --socket PATH          HAProxy runtime API socket (stats socket … level admin)
  --backend NAME         backend (default gateways)
  --canary LIST          the canary server(s) of the backend; every other server is stable
  --steps LIST           canary shares in percent (default 5,10,25,50,100)
${JUDGEMENT_USAGE}
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
      ...JUDGEMENT_OPTIONS,
      socket: { type: 'string' }, backend: { type: 'string', default: 'gateways' }, canary: { type: 'string' }, steps: { type: 'string', default: '5,10,25,50,100' },
      url: { type: 'string' }, 'admin-key': { type: 'string' }, state: { type: 'string', default: '.canary-state.json' }, 'on-resume': { type: 'string', default: 'resume' }, report: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (v.help || v.socket === undefined || v.canary === undefined) throw new Error(USAGE);
  if (v['on-resume'] !== 'resume' && v['on-resume'] !== 'rollback') throw new Error('--on-resume: resume or rollback');
  return {
    socket: v.socket, backend: v.backend!, canaries: v.canary.split(',').map((s) => s.trim()).filter(Boolean), steps: parseSteps(v.steps!), ...judgementOf(v),
    url: v.url ?? process.env.SLUICE_URL ?? 'http://127.0.0.1:3000', adminKey: v['admin-key'] ?? process.env.SLUICE_ADMIN_KEY, stateFile: v.state!, onResume: v['on-resume'] as 'resume' | 'rollback', report: v.report,
  };
}

async function main(): Promise<number> {
  if (process.argv[2] === 'flag') return flagMain(process.argv.slice(3));
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
