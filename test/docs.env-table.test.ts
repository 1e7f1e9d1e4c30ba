// The README's configuration table must list every knob the config schema knows, and nothing else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configKeys } from '@sluice/shared/config/schema.ts';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';

describe('README env table', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const documented = new Set([...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!));

  it('documents every config key', () => {
    expect(configKeys.filter((k) => !documented.has(k))).toEqual([]);
  });

  it('documents no key the schema does not know', () => {
    expect([...documented].filter((k) => !configKeys.includes(k))).toEqual([]);
  });
});
