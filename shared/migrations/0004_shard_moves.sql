-- Online moves of a key range from one shard to another (writer/src/sharding/).

-- The moves and their progress (on the first shard, beside the shard map).
CREATE TABLE sluice.shard_moves (
  id           bigserial PRIMARY KEY,
  lo           bigint,          -- keys in [lo, hi) move; NULL: unbounded on that side
  hi           bigint,
  source       text NOT NULL,
  target       text NOT NULL,
  state        text NOT NULL,   -- pending, copying, catching-up, cutover, cleanup, done, failed, cancelled
  step         text,            -- where in its state a resumed mover continues
  snapshot     text,            -- pg_snapshot of the copy (replayed log entries it already holds are skipped)
  rows_copied  bigint NOT NULL DEFAULT 0,
  rows_logged  bigint NOT NULL DEFAULT 0,
  rows_deleted bigint NOT NULL DEFAULT 0,
  pause_ms     integer,
  verify       jsonb,
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
-- At most one unfinished move at a time (a second would race the first for the same partitions).
CREATE UNIQUE INDEX shard_moves_one_active ON sluice.shard_moves ((true)) WHERE state NOT IN ('done', 'failed', 'cancelled');

-- On a source shard: the ranges being moved out. Every batch transaction that
-- touches a sharded table reads this after its statements and logs the rows
-- it left in a moving range (move_log), in the same transaction.
-- `sealed`: the cutover is verifying; a batch that would still write the range
-- here fails instead (and is retried): nothing may commit on the source after.
CREATE TABLE sluice.active_moves (
  move_id bigint PRIMARY KEY,
  lo      bigint,
  hi      bigint,
  sealed  boolean NOT NULL DEFAULT false
);

-- The rows batches left in a moving range after the copy's snapshot began
-- (row = NULL: deleted). The mover applies them to the target in id order and
-- deletes them; `xid` tells which the copy's snapshot already holds.
CREATE TABLE sluice.move_log (
  id      bigserial PRIMARY KEY,
  move_id bigint NOT NULL,
  tbl     text NOT NULL,
  key     text[] NOT NULL,
  row     text,
  xid     xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX move_log_move ON sluice.move_log (move_id, id);
