-- The build record: what built this database. ores-sql writes the single row at the
-- end of the build transaction; services compare its schema_hash with their own at
-- start-up (the drift check), which is why it is one row behind a primary key.
-- build_path says how this copy was made: from the SQL in one transaction (full), on
-- several connections at once (parallel), cloned from the environment's cached
-- template of an earlier build of the same schema (cached), or a copy of the last
-- build with only what a change affects applied again (incremental).
CREATE TABLE ores_database_builds_tbl (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    schema_hash text NOT NULL CHECK (schema_hash ~ '^[0-9a-f]{64}$'),
    script_count integer NOT NULL CHECK (script_count > 0),
    crate_version text NOT NULL,
    server_version text NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now(),
    built_by text NOT NULL DEFAULT session_user,
    build_path text NOT NULL DEFAULT 'full' CHECK (build_path IN ('full', 'parallel', 'cached', 'incremental'))
);
