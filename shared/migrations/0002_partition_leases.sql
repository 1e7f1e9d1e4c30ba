-- Fencing tokens of partition ownership. A writer takes a partition's lease in
-- Redis with a token that grows on every acquisition, raises the partition's
-- row here to that token, and every batch transaction of the partition checks
-- it (`UPDATE … WHERE token <= mine`, which also holds the row lock until
-- COMMIT). A writer whose lease lapsed finds a newer token and rolls back, so
-- two writers can never both commit batches of one partition in overlapping
-- transactions.
CREATE TABLE sluice.partition_leases (
  partition   integer PRIMARY KEY,
  token       bigint NOT NULL,
  owner       text NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now()
);

-- Dead letters an operator discarded stay (soft delete): the write's status
-- must keep saying `dead`, and a row that vanished would let
-- `GET /v1/writes/{id}` fall through to its job's `applied_jobs` row and
-- report it as committed.
ALTER TABLE sluice.dead_letters ADD COLUMN discarded_at timestamptz;

-- The admin list pages newest first by id; this index serves the default
-- filter (neither replayed nor discarded) and the `sluice_dead_letters` gauge.
CREATE INDEX dead_letters_pending ON sluice.dead_letters (id) WHERE replayed_at IS NULL AND discarded_at IS NULL;
