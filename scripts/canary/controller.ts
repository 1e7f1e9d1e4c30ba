import { setTimeout as sleep } from 'node:timers/promises';
import type { HaproxyRuntime } from './haproxy.ts';
import type { Figures, Side, Thresholds } from './judge.ts';
import { sideOf, snapshot, type Snapshot, type SluiceSource } from './observe.ts';
import { weightsFor } from './weights.ts';
import { watchWindow } from './window.ts';
import { loadState, saveState } from './state-file.ts';

/**
 * The canary controller. States of a run (kept in the state file after every
 * transition, so a controller killed mid-way can be re-run):
 *
 *   running(step i) ──healthy window──▶ running(step i+1) … ──▶ promoted
 *        │                                                      (canary 100 %, stable weight 0)
 *        └──unhealthy window / too little traffic──▶ rolled-back
 *                                                    (canary weight 0, stable weights restored)
 *
 * Each step sets the weights for the step's share, then every `checkMs`
 * compares canary and stable over the window since the step began (one pair
 * of snapshots for both sides). A rule broken at any check rolls back at once;
 * the step passes when the interval is over with at least `minRequests`
 * canary responses. A re-run finds a `running` state: it resumes at that
 * step (`resume`) or rolls back (`rollback`).
 */

/** What a run needs. */
export interface CanaryOptions {
  haproxy: HaproxyRuntime;
  backend: string;
  canaries: readonly string[];
  steps: readonly number[];
  intervalMs: number;
  /** How often a step's window is judged (rollback latency is at most this plus one snapshot). */
  checkMs: number;
  /** A step without `minRequests` canary responses after this long rolls back. */
  maxWaitMs: number;
  thresholds: Thresholds;
  sluice: Omit<SluiceSource, 'since'>;
  stateFile: string;
  onResume: 'resume' | 'rollback';
  /** One readable line per event. */
  print(line: string): void;
}

/** One judged step of the report. */
export interface StepReport {
  share: number;
  weights: { canary: number; stable: number };
  startedAt: string;
  windowMs: number;
  verdict: 'healthy' | 'unhealthy' | 'insufficient-traffic';
  reasons: string[];
  canary: Figures;
  stable: Figures;
}

/** The outcome of a run, written as JSON and printed as lines. */
export interface CanaryReport {
  outcome: 'promoted' | 'rolled-back';
  backend: string;
  canaries: string[];
  stable: string[];
  steps: StepReport[];
  /** Rollback: from the decision to HAProxy having acknowledged the canary's weight 0 (ms). */
  rollbackMs?: number;
  /** Rollback: from the decision until the canary servers had no open session (ms; null if not within 5 s). */
  drainedMs?: number | null;
  reason?: string;
  startedAt: string;
  finishedAt: string;
}

interface State {
  status: 'running' | 'promoted' | 'rolled-back';
  backend: string;
  canaries: string[];
  stable: string[];
  /** Weights before the run, restored on rollback. */
  original: Record<string, number>;
  step: number;
  since: string;
  report: CanaryReport;
}


const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Run (or resume) a canary rollout; resolves with the report. */
export async function runCanary(o: CanaryOptions): Promise<CanaryReport> {
  const h = o.haproxy;
  const stats = await h.stats(o.backend);
  for (const c of o.canaries) if (!stats.has(c)) throw new Error(`backend ${o.backend} has no server ${c} (servers: ${[...stats.keys()].join(', ')})`);
  let state = loadState<State>(o.stateFile);
  if (state !== null && state.status === 'running' && state.backend === o.backend && sameSet(state.canaries, o.canaries)) {
    o.print(`found a run interrupted at step ${state.step + 1} (${o.steps[state.step] ?? '?'} %): ${o.onResume === 'resume' ? 'resuming it' : 'rolling it back'}`);
    if (o.onResume === 'rollback') return rollback(o, state, 'the previous controller stopped mid-way (--on-resume rollback)');
  } else {
    const stable = [...stats.keys()].filter((s) => !o.canaries.includes(s));
    if (stable.length === 0) throw new Error('no stable server left in the backend');
    const now = new Date().toISOString();
    state = {
      status: 'running', backend: o.backend, canaries: [...o.canaries], stable, step: 0, since: now,
      original: Object.fromEntries([...stats].map(([n, s]) => [n, Number(s.weight) || 0])),
      report: { outcome: 'promoted', backend: o.backend, canaries: [...o.canaries], stable, steps: [], startedAt: now, finishedAt: now },
    };
    saveState(o.stateFile, state);
  }
  const src: SluiceSource = { ...o.sluice, since: new Date(state.since) };
  let baseline: Side | undefined;
  for (; state.step < o.steps.length; state.step += 1) {
    const share = o.steps[state.step]!;
    const w = weightsFor(share, state.canaries.length, state.stable.length);
    await h.setWeights(o.backend, new Map([...state.canaries.map((c) => [c, w.canary] as const), ...state.stable.map((s) => [s, w.stable] as const)]));
    o.print(`step ${state.step + 1}/${o.steps.length}: canary ${share} % (weights canary ${w.canary}, stable ${w.stable})`);
    const r = await watchWindow(o, { observe: () => snapshot(o.haproxy, o.backend, src), at: (s) => s.at, sides: (a, b) => ({ candidate: sideOf(a, b, state.canaries), control: sideOf(a, b, state.stable) }) }, baseline);
    state.report.steps.push({ share, weights: w, startedAt: r.startedAt, windowMs: r.windowMs, verdict: r.verdict, reasons: r.reasons, canary: r.candidate, stable: r.control });
    if (r.verdict !== 'healthy') return rollback(o, state, r.reasons.join('; '));
    o.print(`  healthy: ${line(r.candidate)} | stable ${line(r.control)}`);
    if (r.controlSide.responses > 0) baseline = r.controlSide;
    saveState(o.stateFile, { ...state, step: state.step + 1 });
  }
  state.status = 'promoted';
  state.report.finishedAt = new Date().toISOString();
  saveState(o.stateFile, state);
  o.print(`promoted: ${state.canaries.join(', ')} take 100 %; ${state.stable.join(', ')} drained (weight 0)`);
  return state.report;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function line(f: Figures): string {
  return `${f.responses} responses, ${(f.errorRate * 100).toFixed(2)} % errors, p99 ≤ ${f.p99Ms ?? '-'} ms, ${f.enqueued} writes, ${f.deadLetters} dead letters`;
}

/** Canary weight 0, stable weights restored; measure how long HAProxy took and when the canary had no session left. */
async function rollback(o: CanaryOptions, state: State, reason: string): Promise<CanaryReport> {
  const t0 = performance.now();
  // The canary first, alone: from this answer on no new request reaches it; then the stable weights back.
  await o.haproxy.setWeights(o.backend, new Map(state.canaries.map((c) => [c, 0] as const)));
  const rollbackMs = performance.now() - t0;
  await o.haproxy.setWeights(o.backend, new Map(state.stable.map((s) => [s, state.original[s] || 100] as const)));
  let drainedMs: number | null = null;
  while (performance.now() - t0 < 5000) {
    const stats = await o.haproxy.stats(o.backend);
    if (sum(state.canaries.map((c) => Number(stats.get(c)?.scur ?? 0))) === 0) {
      drainedMs = performance.now() - t0;
      break;
    }
    await sleep(20);
  }
  state.status = 'rolled-back';
  state.report = { ...state.report, outcome: 'rolled-back', reason, rollbackMs: Math.round(rollbackMs * 10) / 10, drainedMs: drainedMs === null ? null : Math.round(drainedMs * 10) / 10, finishedAt: new Date().toISOString() };
  saveState(o.stateFile, state);
  o.print(`ROLLED BACK: ${reason}`);
  o.print(`  canary weight 0 in ${state.report.rollbackMs} ms, no open canary session after ${state.report.drainedMs ?? '> 5000'} ms; stable weights restored`);
  return state.report;
}

export type { Snapshot };
