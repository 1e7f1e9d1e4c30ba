-- Partitions are named `<shard>.<epoch>.<index>` (shared/src/topology/partitions.ts),
-- so their fencing tokens are keyed by name. The integer-keyed table of
-- migration 0002 is dropped: its rows fenced partitions of the old naming,
-- which no writer consumes any more (a start with jobs still queued under the
-- old naming is refused: topology/bootstrap.ts).
CREATE TABLE sluice.partition_fences (
  partition   text PRIMARY KEY,
  token       bigint NOT NULL,
  owner       text NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now()
);
DROP TABLE sluice.partition_leases;

-- The shard map (topology/shard-map.ts), one row per version, never updated:
-- the latest version is the map every process follows. Written with
-- INSERT … ON CONFLICT (version) DO NOTHING, a compare-and-set on the version.
CREATE TABLE sluice.topology (
  version    bigint PRIMARY KEY,
  map        jsonb NOT NULL,
  reason     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
