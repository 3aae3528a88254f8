-- Compute batches: one submission of an ORE run configuration to the compute grid
-- and where it is (queued, running, done, failed, cancelled). Each status change
-- is a new version, so the history of a batch is its timeline.
CREATE TABLE ores_compute_batches_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    batch_id uuid NOT NULL DEFAULT gen_random_uuid(),
    run_configuration_code text NOT NULL,
    as_of_date date NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -10 AND 10),
    task_count integer NOT NULL DEFAULT 0 CHECK (task_count >= 0),
    tasks_done integer NOT NULL DEFAULT 0 CHECK (tasks_done >= 0),
    failure_message text,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT batches_pk_idx PRIMARY KEY (tenant_id, batch_id, valid_from),
    CONSTRAINT batches_validity_idx EXCLUDE USING gist (tenant_id WITH =, batch_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (tasks_done <= task_count),
    CHECK ((status = 'failed') = (failure_message IS NOT NULL)),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX batches_current_idx ON ores_compute_batches_tbl (tenant_id, batch_id)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
-- The grid's queue: current batches still waiting or running, best priority first.
CREATE INDEX batches_queue_idx ON ores_compute_batches_tbl (tenant_id, priority DESC, valid_from)
    WHERE valid_to = ores_utility_infinity_timestamp_fn() AND status IN ('queued', 'running');

CREATE OR REPLACE TRIGGER ores_compute_batches_insert_trg BEFORE INSERT ON ores_compute_batches_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('batch_id');
CREATE OR REPLACE TRIGGER ores_compute_batches_lookup_trg AFTER INSERT ON ores_compute_batches_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('run_configuration_code=ores_ore_run_configurations_tbl.code');
CREATE OR REPLACE TRIGGER ores_compute_batches_update_trg BEFORE UPDATE ON ores_compute_batches_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_compute_batches_delete_trg BEFORE DELETE ON ores_compute_batches_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('batch_id');
CREATE OR REPLACE TRIGGER ores_compute_batches_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_compute_batches_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('batch_id');

ALTER TABLE ores_compute_batches_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_compute_batches_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_compute_batches_tenant_pol ON ores_compute_batches_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
