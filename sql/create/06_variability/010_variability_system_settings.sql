-- Settings and feature flags, per tenant. A flag is a setting of type boolean;
-- system.bootstrap_mode tells the IAM service that a tenant has no administrator yet
-- and the first account may be created without logging in. Values are text and the
-- CHECKs keep them parseable as their declared type.
CREATE TABLE ores_variability_system_settings_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$'),
    value text NOT NULL,
    value_type text NOT NULL CHECK (value_type IN ('boolean', 'integer', 'text', 'json')),
    description text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT system_settings_pk_idx PRIMARY KEY (tenant_id, name, valid_from),
    CONSTRAINT system_settings_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(name, 0) WITH =, name WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (value_type <> 'boolean' OR value IN ('true', 'false')),
    CHECK (value_type <> 'integer' OR value ~ '^-?[0-9]{1,18}$'),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX system_settings_current_idx ON ores_variability_system_settings_tbl (tenant_id, name)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_variability_system_settings_insert_trg BEFORE INSERT ON ores_variability_system_settings_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('name');
CREATE OR REPLACE TRIGGER ores_variability_system_settings_lookup_trg AFTER INSERT ON ores_variability_system_settings_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_variability_system_settings_update_trg BEFORE UPDATE ON ores_variability_system_settings_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_variability_system_settings_delete_trg BEFORE DELETE ON ores_variability_system_settings_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('name');
CREATE OR REPLACE TRIGGER ores_variability_system_settings_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_variability_system_settings_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('name');

ALTER TABLE ores_variability_system_settings_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_variability_system_settings_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_variability_system_settings_tenant_pol ON ores_variability_system_settings_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
