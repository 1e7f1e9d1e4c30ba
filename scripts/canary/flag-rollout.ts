import type { Figures, Side, Thresholds } from './judge.ts';
import { variantSides, variantSnapshot, type VariantSource } from './flag-observe.ts';
import { watchWindow } from './window.ts';
import { loadState, saveState } from './state-file.ts';

/**
 * A feature flag's rollout, stepped like a canary (`pnpm canary flag NAME`).
 * States of a run (kept in the state file after every transition, so a
 * controller killed mid-way can be re-run):
 *
 *   running(step i) ──healthy window──▶ running(step i+1) … ──▶ rolled-out (rollout 100)
 *        │
 *        └──unhealthy window / too little traffic──▶ killed (enabled:false)
 *
 * Each step sets the flag's rollout through the admin API
 * (`PUT /v1/admin/flags/{name}`, enabled, description kept), then judges the
 * requests of users inside the rollout (variant on) against those outside
 * (off) over the same window, with the canary's judgement (window.ts,
 * judge.ts). Unhealthy: the flag is killed (`enabled:false`, which every
 * gateway applies within the 1 s propagation bound), exit code 1, and a
 * report like the canary's.
 */

/** How the controller reaches the admin API. */
export interface FlagAdmin {
  /** A gateway or the load balancer. */
  url: string;
  adminKey: string | undefined;
}

/** What a run needs. */
export interface FlagRolloutOptions {
  flag: string;
  admin: FlagAdmin;
  /** The gateways' base URLs, for their variant metrics. */
  gateways: readonly string[];
  steps: readonly number[];
  intervalMs: number;
  checkMs: number;
  maxWaitMs: number;
  thresholds: Thresholds;
  stateFile: string;
  onResume: 'resume' | 'kill';
  print(line: string): void;
}

/** One judged step. */
export interface FlagStepReport {
  rollout: number;
  /** The flag's version once the step's rollout was stored. */
  version: number;
  startedAt: string;
  windowMs: number;
  verdict: 'healthy' | 'unhealthy' | 'insufficient-traffic';
  reasons: string[];
  /** Requests of users with the flag on, and off, in the window. */
  on: Figures;
  off: Figures;
}

/** The outcome of a run. */
export interface FlagRolloutReport {
  outcome: 'rolled-out' | 'killed';
  flag: string;
  steps: FlagStepReport[];
  reason?: string;
  /** Kill: from the decision until the admin API answered (the answering gateway already evaluates it off; the others within the propagation bound). */
  killMs?: number;
  /** The flag's version after the kill. */
  killedVersion?: number;
  startedAt: string;
  finishedAt: string;
}

interface StoredFlag {
  name: string;
  enabled: boolean;
  rollout: number;
  description: string;
  version: number;
}

interface State {
  status: 'running' | 'rolled-out' | 'killed';
  flag: string;
  description: string;
  step: number;
  report: FlagRolloutReport;
}


async function adminCall(a: FlagAdmin, method: 'GET' | 'PUT', path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { ...(a.adminKey ? { authorization: `Bearer ${a.adminKey}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const res = await fetch(`${a.url.replace(/\/$/, '')}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

/** Store the flag's state; resolves with the stored flag (its new version). */
function putFlag(a: FlagAdmin, name: string, enabled: boolean, rollout: number, description: string): Promise<StoredFlag> {
  return adminCall(a, 'PUT', `/v1/admin/flags/${encodeURIComponent(name)}`, { enabled, rollout, description }) as Promise<StoredFlag>;
}

function line(f: Figures): string {
  return `${f.responses} requests, ${(f.errorRate * 100).toFixed(2)} % errors, p99 ≤ ${f.p99Ms ?? '-'} ms`;
}

/** Run (or resume) a flag rollout; resolves with the report. */
export async function runFlagRollout(o: FlagRolloutOptions): Promise<FlagRolloutReport> {
  const src: VariantSource = { gateways: o.gateways, adminKey: o.admin.adminKey, flag: o.flag };
  // Fail before touching the flag when the gateways do not label by it (variantSnapshot throws).
  await variantSnapshot(src);
  let state = loadState<State>(o.stateFile);
  if (state !== null && state.status === 'running' && state.flag === o.flag) {
    o.print(`found a rollout interrupted at step ${state.step + 1} (${o.steps[state.step] ?? '?'} %): ${o.onResume === 'resume' ? 'resuming it' : 'killing the flag'}`);
    if (o.onResume === 'kill') return kill(o, state, 'the previous controller stopped mid-way (--on-resume kill)');
  } else {
    const { flags } = (await adminCall(o.admin, 'GET', '/v1/admin/flags')) as { flags: StoredFlag[] };
    const now = new Date().toISOString();
    state = { status: 'running', flag: o.flag, description: flags.find((f) => f.name === o.flag)?.description ?? '', step: 0, report: { outcome: 'rolled-out', flag: o.flag, steps: [], startedAt: now, finishedAt: now } };
    saveState(o.stateFile, state);
  }
  let baseline: Side | undefined;
  for (; state.step < o.steps.length; state.step += 1) {
    const rollout = o.steps[state.step]!;
    const stored = await putFlag(o.admin, o.flag, true, rollout, state.description);
    o.print(`step ${state.step + 1}/${o.steps.length}: ${o.flag} on for ${rollout} % of users (version ${stored.version})`);
    const r = await watchWindow({ ...o, names: { candidate: 'flag-on', control: 'flag-off' } }, { observe: () => variantSnapshot(src), at: (s) => s.at, sides: variantSides }, baseline);
    state.report.steps.push({ rollout, version: stored.version, startedAt: r.startedAt, windowMs: r.windowMs, verdict: r.verdict, reasons: r.reasons, on: r.candidate, off: r.control });
    if (r.verdict !== 'healthy') return kill(o, state, r.reasons.join('; '));
    o.print(`  healthy: on ${line(r.candidate)} | off ${line(r.control)}`);
    // At 100 % nobody is outside the rollout: the last window with users outside is the comparison.
    if (r.controlSide.responses > 0) baseline = r.controlSide;
    saveState(o.stateFile, { ...state, step: state.step + 1 });
  }
  state.status = 'rolled-out';
  state.report.finishedAt = new Date().toISOString();
  saveState(o.stateFile, state);
  o.print(`rolled out: ${o.flag} on for every user`);
  return state.report;
}

/** Kill the flag (enabled:false, the rollout kept for the record). */
async function kill(o: FlagRolloutOptions, state: State, reason: string): Promise<FlagRolloutReport> {
  const t0 = performance.now();
  const rollout = o.steps[Math.min(state.step, o.steps.length - 1)] ?? 0;
  const stored = await putFlag(o.admin, o.flag, false, rollout, state.description);
  const killMs = Math.round((performance.now() - t0) * 10) / 10;
  state.status = 'killed';
  state.report = { ...state.report, outcome: 'killed', reason, killMs, killedVersion: stored.version, finishedAt: new Date().toISOString() };
  saveState(o.stateFile, state);
  o.print(`KILLED: ${reason}`);
  o.print(`  ${o.flag} enabled:false (version ${stored.version}) ${killMs} ms after the verdict; every gateway evaluates it off within the 1 s propagation bound`);
  return state.report;
}
