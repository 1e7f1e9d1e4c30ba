import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';

/**
 * Redocly CLI's `lint` over an OpenAPI file, with the repository's
 * redocly.yaml (the recommended rules). Offline: no telemetry, no update
 * check (CI reaches only the package registries).
 */

/** What the linter said and its exit code (non-zero on any error). */
export interface LintResult {
  code: number;
  output: string;
}

/** Lint `file`; `format` as `redocly lint --format` takes it (`stylish`, `json`…). */
export function lintOpenApi(file: string, format = 'stylish'): Promise<LintResult> {
  const cli = join(REPO_ROOT, 'node_modules/@redocly/cli/bin/cli.js');
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  const args = [cli, 'lint', file, '--config', join(REPO_ROOT, 'redocly.yaml'), '--format', format];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: REPO_ROOT, env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}
