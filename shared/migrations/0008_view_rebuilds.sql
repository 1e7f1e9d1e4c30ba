-- The last rebuild of each read model on this shard (POST /v1/admin/views/{name}/rebuild
-- answers 202 at once; the operator polls GET /v1/admin/views/{name}, see shared/src/views/rebuild-job.ts).
-- A rebuild is running while its runner holds the view's build lock (shared/src/views/locks.ts):
-- started and not finished without that lock means its gateway died (state stays `rebuilding`;
-- the next writer start, or the next rebuild, redoes it).
ALTER TABLE sluice.views
  ADD COLUMN rebuild_started_at  timestamptz,
  ADD COLUMN rebuild_phase       text,        -- waiting (for older transactions), scanning (the recompute), swapping; null when not running
  ADD COLUMN rebuild_finished_at timestamptz, -- set by the swap (also when a writer's start redid an interrupted rebuild), or on failure
  ADD COLUMN rebuild_logged      bigint,      -- batch deltas folded into the new table at the swap
  ADD COLUMN rebuild_error       text;        -- why the last rebuild failed (null: it did not)
