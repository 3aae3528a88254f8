-- ISO 3166-1 countries (seeded by scripts/generate_iso_seed.py).
CREATE TABLE ores_refdata_countries_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    alpha2_code text NOT NULL CHECK (alpha2_code ~ '^[A-Z]{2}$'),
    alpha3_code text NOT NULL CHECK (alpha3_code ~ '^[A-Z]{3}$'),
    numeric_code text NOT NULL CHECK (numeric_code ~ '^[0-9]{3}$'),
    name text NOT NULL,
    official_name text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT countries_pk_idx PRIMARY KEY (tenant_id, alpha2_code, valid_from),
    CONSTRAINT countries_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(alpha2_code, 0) WITH =, alpha2_code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX countries_current_idx ON ores_refdata_countries_tbl (tenant_id, alpha2_code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
CREATE INDEX countries_name_trgm_idx ON ores_refdata_countries_tbl USING gin (name gin_trgm_ops);
CREATE INDEX countries_official_name_trgm_idx ON ores_refdata_countries_tbl USING gin (official_name gin_trgm_ops);

CREATE OR REPLACE TRIGGER ores_refdata_countries_insert_trg BEFORE INSERT ON ores_refdata_countries_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('alpha2_code');
CREATE OR REPLACE TRIGGER ores_refdata_countries_lookup_trg AFTER INSERT ON ores_refdata_countries_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_refdata_countries_update_trg BEFORE UPDATE ON ores_refdata_countries_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_refdata_countries_delete_trg BEFORE DELETE ON ores_refdata_countries_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('alpha2_code');
CREATE OR REPLACE TRIGGER ores_refdata_countries_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_refdata_countries_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('alpha2_code');

ALTER TABLE ores_refdata_countries_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_refdata_countries_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_refdata_countries_tenant_pol ON ores_refdata_countries_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_refdata_countries_shared_read_pol ON ores_refdata_countries_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
