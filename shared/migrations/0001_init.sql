-- Sluice's own schema. Everything Sluice writes besides user data lives here.
CREATE SCHEMA IF NOT EXISTS sluice;

-- One row per BullMQ job applied, written in the same transaction as the
-- job's data: a redelivered job (BullMQ is at-least-once) finds its row and
-- is skipped. One row per job, not per request, keeps the cost per write low.
CREATE TABLE sluice.applied_jobs (
  job_id     text PRIMARY KEY,
  requests   integer NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applied_jobs_applied_at ON sluice.applied_jobs (applied_at);

-- Idempotency-Key records (only for requests that sent the header), written in
-- the data transaction: a retry with a new writeId but the same key is skipped.
CREATE TABLE sluice.idempotency_keys (
  scope        text NOT NULL,
  key          text NOT NULL,
  request_hash text NOT NULL,
  write_id     text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON sluice.idempotency_keys (created_at);

-- Requests the database refused (22xxx/23xxx/42xxx…): kept with the error and
-- the payload so an operator can inspect, replay or discard them.
CREATE TABLE sluice.dead_letters (
  id              bigserial PRIMARY KEY,
  write_id        text NOT NULL UNIQUE,
  job_id          text NOT NULL,
  table_name      text,
  sqlstate        text NOT NULL,
  message         text NOT NULL,
  constraint_name text,
  column_name     text,
  detail          text,
  payload         jsonb NOT NULL,
  attempts        integer NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  replayed_at     timestamptz,
  replay_write_id text
);
CREATE INDEX dead_letters_created_at ON sluice.dead_letters (created_at);
CREATE INDEX dead_letters_table_sqlstate ON sluice.dead_letters (table_name, sqlstate);
