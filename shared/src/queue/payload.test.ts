import { describe, expect, it } from 'vitest';
import { buildOf, readPayload, writePayload } from './payload.ts';

const reqs = [{ id: 'main.1.0.n.1.0', ops: [{ t: 'kv', op: 'upsert' as const, row: { k: 'a', v: '1' } }] }];

describe('job payload versions', () => {
  it('writes the configured version; v2 carries the build', () => {
    expect(writePayload(reqs, 1, 'b1')).toEqual({ v: 1, reqs });
    expect(writePayload(reqs, 2, 'b1')).toEqual({ v: 2, b: 'b1', reqs });
  });

  it('reads every version up to the newest it knows', () => {
    const v1 = readPayload({ v: 1, reqs });
    const v2 = readPayload({ v: 2, b: 'canary', reqs });
    expect(v1).toMatchObject({ kind: 'ok', version: 1 });
    expect(v2).toMatchObject({ kind: 'ok', version: 2 });
    expect(v1.kind === 'ok' && buildOf(v1.job)).toBe('');
    expect(v2.kind === 'ok' && buildOf(v2.job)).toBe('canary');
  });

  it('a version above the cap (an older build) or above what it knows is newer, not malformed', () => {
    expect(readPayload({ v: 2, b: 'x', reqs }, 1)).toEqual({ kind: 'newer', version: 2 });
    expect(readPayload({ v: 3, whatever: true })).toEqual({ kind: 'newer', version: 3 });
    // A cap above what the build knows does not make it read more.
    expect(readPayload({ v: 3, reqs }, 99)).toEqual({ kind: 'newer', version: 3 });
  });

  it('a payload of no version is malformed', () => {
    for (const bad of [null, 'x', {}, { v: 0, reqs }, { v: '1', reqs }, { v: 1.5, reqs }, { v: 1 }, { v: 1, reqs: [{ ops: [] }] }, { v: 2, reqs }]) {
      expect(readPayload(bad).kind, JSON.stringify(bad)).toBe('malformed');
    }
  });
});
