// `pnpm canary flag NAME …`: step a feature flag's rollout through the admin
// API, judge users inside the rollout against those outside in the same
// window, roll it out or kill it (flag-rollout.ts).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FLAG_NAME } from '@sluice/shared/flags/evaluate.ts';
import { JUDGEMENT_OPTIONS, JUDGEMENT_USAGE, judgementOf } from './cli.ts';
import { runFlagRollout } from './flag-rollout.ts';
import { parseSteps } from './weights.ts';

const USAGE = `usage: pnpm canary flag NAME --gateways URL[,URL] [options]

The gateways must run with SLUICE_ROLLOUT_FLAG=NAME (they then count and time
requests that name their user, header Sluice-User-Id, by the flag's variant).

  --gateways LIST        every gateway's base URL (their /metrics are per process)
  --steps LIST           rollout percents (default 1,5,25,50,100)
${JUDGEMENT_USAGE}
  --url URL              a gateway or the load balancer, for the flag admin API (default $SLUICE_URL or http://127.0.0.1:3000)
  --admin-key KEY        API key with the admin scope (default $SLUICE_ADMIN_KEY)
  --state FILE           run state, for a re-run after a crash (default .flag-rollout-state.json)
  --on-resume MODE       resume (default) or kill an interrupted run
  --report FILE          write the JSON report here too

Exit code 0: rolled out to 100 %; 1: killed (enabled:false); 2: usage or setup error.
`;

function options(args: string[]) {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...JUDGEMENT_OPTIONS,
      gateways: { type: 'string' }, steps: { type: 'string', default: '1,5,25,50,100' },
      url: { type: 'string' }, 'admin-key': { type: 'string' }, state: { type: 'string', default: '.flag-rollout-state.json' }, 'on-resume': { type: 'string', default: 'resume' }, report: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  const flag = positionals[0];
  if (v.help || flag === undefined || positionals.length > 1 || v.gateways === undefined) throw new Error(USAGE);
  if (!FLAG_NAME.test(flag)) throw new Error(`${flag}: not a flag name (${FLAG_NAME.source})`);
  if (v['on-resume'] !== 'resume' && v['on-resume'] !== 'kill') throw new Error('--on-resume: resume or kill');
  const gateways = v.gateways.split(',').map((s) => s.trim()).filter(Boolean);
  if (gateways.length === 0) throw new Error('--gateways: at least one URL');
  return {
    flag, gateways, steps: parseSteps(v.steps!), ...judgementOf(v),
    admin: { url: v.url ?? process.env.SLUICE_URL ?? 'http://127.0.0.1:3000', adminKey: v['admin-key'] ?? process.env.SLUICE_ADMIN_KEY }, stateFile: v.state!, onResume: v['on-resume'] as 'resume' | 'kill', report: v.report,
  };
}

/** Run `pnpm canary flag` with these arguments; resolves with the exit code. */
export async function flagMain(args: string[]): Promise<number> {
  let o: ReturnType<typeof options>;
  try {
    o = options(args);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const report = await runFlagRollout({ ...o, print: (l) => process.stdout.write(`${new Date().toISOString()} ${l}\n`) });
  const text = JSON.stringify(report, null, 2);
  if (o.report !== undefined) writeFileSync(o.report, text);
  process.stdout.write(`${text}\n`);
  return report.outcome === 'rolled-out' ? 0 : 1;
}
