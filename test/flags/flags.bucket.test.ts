/**
 * Bucketing against Unleash: murmur3 reference values, the
 * `@unleash/client-specification` vectors that apply to a percentage rollout
 * on one sticky id (gradualRolloutUserId, flexibleRollout with userId, default
 * or custom stickiness, one strategy, no constraints), and the rollout's
 * monotonicity.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bucketOf, murmur3_32 } from '@sluice/shared/flags/bucket.ts';
import { evaluate } from '@sluice/shared/flags/evaluate.ts';

interface Strategy {
  name: string;
  parameters?: Record<string, string>;
  constraints?: unknown[];
}
interface Spec {
  state: { features: { name: string; enabled: boolean; strategies?: Strategy[] }[] };
  tests?: { description: string; context: { userId?: string; sessionId?: string; properties?: Record<string, string> }; toggleName: string; expectedResult: boolean }[];
}

const specDir = join(dirname(createRequire(import.meta.url).resolve('@unleash/client-specification/package.json')), 'specifications');

/** Each applicable vector: the group id, the sticky id, the percentage and Unleash's answer. */
function applicableVectors(): { file: string; description: string; groupId: string; id: string; percent: number; expected: boolean }[] {
  const out = [];
  for (const file of readdirSync(specDir).filter((f) => /^\d\d-.*\.json$/.test(f))) {
    const spec = JSON.parse(readFileSync(join(specDir, file), 'utf8')) as Spec;
    for (const t of spec.tests ?? []) {
      const f = spec.state.features?.find((x) => x.name === t.toggleName);
      if (f === undefined || !f.enabled || f.strategies?.length !== 1) continue;
      const s = f.strategies[0]!;
      if ((s.constraints ?? []).length > 0) continue;
      const p = s.parameters ?? {};
      let id: string | undefined;
      let percent: string | undefined;
      if (s.name === 'gradualRolloutUserId') {
        id = t.context.userId;
        percent = p.percentage;
      } else if (s.name === 'flexibleRollout') {
        const st = p.stickiness ?? 'default';
        // default stickiness: userId, then sessionId, then random (random does not apply).
        id = st === 'default' ? (t.context.userId ?? t.context.sessionId) : st === 'userId' ? t.context.userId : st === 'sessionId' ? t.context.sessionId : t.context.properties?.[st];
        percent = p.rollout;
      } else continue;
      if (id === undefined || percent === undefined || p.groupId === undefined) continue;
      out.push({ file, description: t.description, groupId: p.groupId, id, percent: Number(percent), expected: t.expectedResult });
    }
  }
  return out;
}

describe('flags: bucketing', () => {
  it('murmur3_x86_32 matches the reference values', () => {
    // Appleby's SMHasher / widely published vectors for MurmurHash3_x86_32.
    expect(murmur3_32('', 0)).toBe(0);
    expect(murmur3_32('', 1)).toBe(0x514e28b7);
    expect(murmur3_32('', 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3_32('test', 0)).toBe(0xba6bd213);
    expect(murmur3_32('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(murmur3_32('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723);
    expect(murmur3_32('abc', 0)).toBe(0xb3dd93fa);
  });

  const vectors = applicableVectors();
  it('finds the client-specification vectors that apply', () => {
    // 03 (gradualRolloutUserId), 10 (flexibleRollout), 12 (custom stickiness) at @unleash/client-specification 6.1.0.
    expect(vectors.length).toBeGreaterThanOrEqual(12);
  });

  it.each(vectors)('$file: $description', (v) => {
    const inside = v.percent >= 100 || (v.percent > 0 && bucketOf(v.groupId, v.id) <= v.percent);
    expect(inside).toBe(v.expected);
  });

  it('raising a rollout only adds users, and each user keeps its answer at a given rollout', () => {
    const users = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
    let previous = new Set<string>();
    let dropped = 0;
    const shares: number[] = [];
    for (let rollout = 0; rollout <= 100; rollout += 1) {
      const inside = new Set(users.filter((u) => evaluate('checkout-v2', { enabled: true, rollout, version: 1 }, u).enabled));
      for (const u of previous) if (!inside.has(u)) dropped += 1;
      shares.push(inside.size / users.length);
      previous = inside;
    }
    expect(dropped).toBe(0);
    expect(shares[0]).toBe(0);
    expect(shares[10]).toBeGreaterThan(0.08);
    expect(shares[10]).toBeLessThan(0.12);
    expect(shares[100]).toBe(1);
  });

  it('a disabled flag is off for everyone whatever its rollout; an unknown one too', () => {
    expect(evaluate('f', { enabled: false, rollout: 100, version: 3 }, 'u')).toEqual({ name: 'f', enabled: false, version: 3, reason: 'disabled' });
    expect(evaluate('f', undefined, 'u')).toEqual({ name: 'f', enabled: false, version: 0, reason: 'unknown' });
    expect(evaluate('f', { enabled: true, rollout: 0, version: 3 }, 'u').reason).toBe('rollout-out');
  });
});
