import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * A controller's progress on disk, so a controller killed mid-way can be run
 * again and resume (or roll back). Written to a temporary file and renamed:
 * a crash mid-write leaves the previous state, never half of one.
 */
export function saveState(file: string, state: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${file}.tmp`, file);
}

/** The state saved in `file`, or null when there is none (a first run). */
export function loadState<T>(file: string): T | null {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : null;
}
