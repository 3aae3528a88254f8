-- ISO 4217 currencies (seeded by scripts/generate_iso_seed.py). minor_unit is NULL
-- where ISO says "N.A." (precious metals, testing codes) or has withdrawn the code.
CREATE TABLE ores_refdata_currencies_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    iso_code text NOT NULL CHECK (iso_code ~ '^[A-Z]{3}$'),
    numeric_code text CHECK (numeric_code ~ '^[0-9]{3}$'),
    name text NOT NULL,
    minor_unit smallint CHECK (minor_unit BETWEEN 0 and 9),
    rounding_type_code text NOT NULL DEFAULT 'half_even',
    symbol text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT currencies_pk_idx PRIMARY KEY (tenant_id, iso_code, valid_from),
    CONSTRAINT currencies_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(iso_code, 0) WITH =, iso_code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX currencies_current_idx ON ores_refdata_currencies_tbl (tenant_id, iso_code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
CREATE INDEX currencies_name_trgm_idx ON ores_refdata_currencies_tbl USING gin (name gin_trgm_ops);

CREATE OR REPLACE TRIGGER ores_refdata_currencies_insert_trg BEFORE INSERT ON ores_refdata_currencies_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('iso_code');
CREATE OR REPLACE TRIGGER ores_refdata_currencies_lookup_trg AFTER INSERT ON ores_refdata_currencies_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('rounding_type_code=ores_refdata_rounding_types_tbl.code');
CREATE OR REPLACE TRIGGER ores_refdata_currencies_update_trg BEFORE UPDATE ON ores_refdata_currencies_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_refdata_currencies_delete_trg BEFORE DELETE ON ores_refdata_currencies_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('iso_code');
CREATE OR REPLACE TRIGGER ores_refdata_currencies_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_refdata_currencies_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('iso_code');

ALTER TABLE ores_refdata_currencies_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_refdata_currencies_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_refdata_currencies_tenant_pol ON ores_refdata_currencies_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_refdata_currencies_shared_read_pol ON ores_refdata_currencies_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
