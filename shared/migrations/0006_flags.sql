-- Feature flags (shared/src/flags, gateway/src/routes/flags.ts), on the first shard.
--
-- Every change (create, update, delete) takes the next value of one sequence
-- as its version, under one transaction-scoped advisory lock
-- (shared/src/sql/flags.ts), so versions commit in order: a gateway that has
-- seen version N has seen every change up to N, and the whole set's version is
-- max(version) of the audit table (deletes included). That one number is what
-- gateways compare to know whether they are behind.
CREATE SEQUENCE sluice.flag_version;

CREATE TABLE sluice.flags (
  name        text PRIMARY KEY,
  enabled     boolean NOT NULL,
  rollout     smallint NOT NULL CHECK (rollout BETWEEN 0 AND 100),
  description text NOT NULL DEFAULT '',
  version     bigint NOT NULL,
  updated_by  text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per change, never updated: who, when, the flag before and after
-- (null before a create, null after a delete).
CREATE TABLE sluice.flag_changes (
  version bigint PRIMARY KEY,
  name    text NOT NULL,
  actor   text NOT NULL,
  at      timestamptz NOT NULL DEFAULT now(),
  before  jsonb,
  after   jsonb
);
CREATE INDEX flag_changes_by_name ON sluice.flag_changes (name, version DESC);
