-- Read models (SLUICE_VIEWS_DIR): one row per view on every shard; the view's
-- rows live in the schema sluice_views (writer/src/views/).
CREATE SCHEMA IF NOT EXISTS sluice_views;

CREATE TABLE sluice.views (
  name        text PRIMARY KEY,
  definition  text NOT NULL,          -- the SQL it was built from (a change needs a rebuild)
  state       text NOT NULL,          -- building: writers log deltas; ready: writers fold them into the view
  rows        bigint,
  verified_at timestamptz,
  differing   integer,
  created_at  timestamptz NOT NULL DEFAULT now(),
  ready_at    timestamptz
);
