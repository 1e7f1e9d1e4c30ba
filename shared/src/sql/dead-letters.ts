import type { Queryable } from '../db/pool.ts';

/**
 * `sluice.dead_letters`: requests the database refused, kept with the error
 * and the payload. The writer inserts them in the batch transaction that
 * commits the rest of the batch; the admin API lists, replays and discards
 * them (a discard is a soft delete: `discarded_at`, see migration 0002).
 */

/** Why a request was refused, as stored. */
export interface Refusal {
  sqlstate: string;
  message: string;
  /** API table name the failure is about, when known. */
  table?: string;
  constraint?: string;
  column?: string;
  detail?: string;
}

/** One dead letter to insert. */
export interface NewDeadLetter {
  writeId: string;
  jobId: string;
  why: Refusal;
  /** The request as JSON text. */
  payload: string;
  attempts: number;
}

// Postgres text and jsonb cannot hold NUL (22021 / 22P05): a request dead-lettered
// for a NUL byte would fail its own dead-letter insert. Store the six characters
// "\u0000" instead; such a payload can never be applied anyway.
const NUL = /\u0000/g;
const clean = (s: string | undefined): string | null => (s === undefined ? null : s.replace(NUL, '\\u0000'));

/** A value as JSON text for the jsonb `payload` column, NUL-free. */
export function payloadJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' ? v.replace(NUL, '\\u0000') : v));
}

const INSERT = `INSERT INTO sluice.dead_letters
  (write_id, job_id, table_name, sqlstate, message, constraint_name, column_name, detail, payload, attempts)
SELECT u.w, u.j, u.t, u.s, u.m, u.c, u.col, u.d, u.p::jsonb, u.a
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[])
       AS u(w, j, t, s, m, c, col, d, p, a)
ON CONFLICT (write_id) DO NOTHING`;

/** Insert dead letters (one statement). A writeId already dead-lettered is left as it was. */
export async function insertDeadLetters(db: Queryable, letters: readonly NewDeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const col = (f: (d: NewDeadLetter) => string | undefined) => letters.map((d) => clean(f(d)));
  await db.query(INSERT, [
    letters.map((d) => d.writeId),
    letters.map((d) => d.jobId),
    col((d) => d.why.table),
    col((d) => d.why.sqlstate),
    col((d) => d.why.message),
    col((d) => d.why.constraint),
    col((d) => d.why.column),
    col((d) => d.why.detail),
    letters.map((d) => d.payload),
    letters.map((d) => Math.max(1, d.attempts)),
  ]);
}

/** The stored refusals of some writeIds (a redelivered job's requests). */
export async function refusalsOf(db: Queryable, writeIds: readonly string[]): Promise<Map<string, Refusal>> {
  if (writeIds.length === 0) return new Map();
  const { rows } = await db.query<{ write_id: string; sqlstate: string; message: string; constraint_name: string | null; column_name: string | null }>(
    'SELECT write_id, sqlstate, message, constraint_name, column_name FROM sluice.dead_letters WHERE write_id = ANY($1::text[])',
    [writeIds],
  );
  return new Map(
    rows.map((r) => [r.write_id, { sqlstate: r.sqlstate, message: r.message, ...(r.constraint_name ? { constraint: r.constraint_name } : {}), ...(r.column_name ? { column: r.column_name } : {}) }]),
  );
}
