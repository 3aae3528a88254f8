-- Workflow instances: one run of a named workflow (trade approval, data correction
-- sign-off, ...) about one subject, and the state it has reached. Each transition
-- is a new version, so who moved it and why is the version history.
CREATE TABLE ores_workflow_instances_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    instance_id uuid NOT NULL DEFAULT gen_random_uuid(),
    workflow_code text NOT NULL CHECK (workflow_code ~ '^[a-z][a-z0-9_.]{0,63}$'),
    -- What the workflow is about: an entity key and the subject's key within it.
    subject_entity text NOT NULL CHECK (subject_entity ~ '^[a-z]+_[a-z0-9_]+$'),
    subject_key text NOT NULL CHECK (subject_key <> ''),
    state text NOT NULL DEFAULT 'started' CHECK (state ~ '^[a-z][a-z0-9_]*$'),
    is_terminal boolean NOT NULL DEFAULT false,
    context jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context) = 'object'),
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT instances_pk_idx PRIMARY KEY (tenant_id, instance_id, valid_from),
    CONSTRAINT instances_validity_idx EXCLUDE USING gist (tenant_id WITH =, instance_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX instances_current_idx ON ores_workflow_instances_tbl (tenant_id, instance_id)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
-- "What is open about this trade?": current instances by subject.
CREATE INDEX instances_subject_idx ON ores_workflow_instances_tbl (tenant_id, subject_entity, subject_key)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_workflow_instances_insert_trg BEFORE INSERT ON ores_workflow_instances_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('instance_id');
CREATE OR REPLACE TRIGGER ores_workflow_instances_lookup_trg AFTER INSERT ON ores_workflow_instances_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_workflow_instances_update_trg BEFORE UPDATE ON ores_workflow_instances_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_workflow_instances_delete_trg BEFORE DELETE ON ores_workflow_instances_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('instance_id');
CREATE OR REPLACE TRIGGER ores_workflow_instances_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_workflow_instances_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('instance_id');

ALTER TABLE ores_workflow_instances_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_workflow_instances_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_workflow_instances_tenant_pol ON ores_workflow_instances_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
