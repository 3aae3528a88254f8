-- Groups of change reasons (system, data correction, lifecycle, ...).
CREATE TABLE ores_dq_change_reason_categories_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_.]*$'),
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT change_reason_categories_pk_idx PRIMARY KEY (tenant_id, code, valid_from),
    CONSTRAINT change_reason_categories_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(code, 0) WITH =, code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX change_reason_categories_current_idx ON ores_dq_change_reason_categories_tbl (tenant_id, code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_dq_change_reason_categories_insert_trg BEFORE INSERT ON ores_dq_change_reason_categories_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('code');
CREATE OR REPLACE TRIGGER ores_dq_change_reason_categories_lookup_trg AFTER INSERT ON ores_dq_change_reason_categories_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_dq_change_reason_categories_update_trg BEFORE UPDATE ON ores_dq_change_reason_categories_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_dq_change_reason_categories_delete_trg BEFORE DELETE ON ores_dq_change_reason_categories_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('code');
CREATE OR REPLACE TRIGGER ores_dq_change_reason_categories_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_dq_change_reason_categories_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('code');

ALTER TABLE ores_dq_change_reason_categories_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_dq_change_reason_categories_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_dq_change_reason_categories_tenant_pol ON ores_dq_change_reason_categories_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_dq_change_reason_categories_shared_read_pol ON ores_dq_change_reason_categories_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
