-- Every definition a read model was built from, on every shard (writer/src/views/build.ts).
-- Redefinition is one way: a writer whose file holds a definition listed here
-- that is not the view's current one (sluice.views.definition) has an older
-- file; it does not rebuild the view back, it waits for its file to be updated.
-- Only a definition never seen before rebuilds the view.
CREATE TABLE sluice.view_definitions (
  name       text NOT NULL,
  definition text NOT NULL,                                     -- as sluice.views.definition: the file's SQL, trimmed
  hash       text GENERATED ALWAYS AS (md5(definition)) STORED, -- the key (a long definition does not fit a btree entry)
  defined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, hash)
);

INSERT INTO sluice.view_definitions (name, definition, defined_at) SELECT name, definition, created_at FROM sluice.views;
