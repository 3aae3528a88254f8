-- The other side of trades, optionally the same legal entity as one of the
-- tenant's parties. Searched by name like parties.
CREATE TABLE ores_refdata_counterparties_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    counterparty_id uuid NOT NULL DEFAULT gen_random_uuid(),
    short_code text NOT NULL CHECK (short_code ~ '^[A-Z0-9_.-]{1,32}$'),
    name text NOT NULL,
    party_id uuid,
    status_code text NOT NULL DEFAULT 'active',
    country_code text,
    lei text CHECK (lei ~ '^[A-Z0-9]{18}[0-9]{2}$'),
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT counterparties_pk_idx PRIMARY KEY (tenant_id, counterparty_id, valid_from),
    CONSTRAINT counterparties_validity_idx EXCLUDE USING gist (tenant_id WITH =, counterparty_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX counterparties_current_idx ON ores_refdata_counterparties_tbl (tenant_id, counterparty_id)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
CREATE INDEX counterparties_name_trgm_idx ON ores_refdata_counterparties_tbl USING gin (name gin_trgm_ops);

CREATE OR REPLACE TRIGGER ores_refdata_counterparties_insert_trg BEFORE INSERT ON ores_refdata_counterparties_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('counterparty_id');
CREATE OR REPLACE TRIGGER ores_refdata_counterparties_lookup_trg AFTER INSERT ON ores_refdata_counterparties_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('party_id=ores_refdata_parties_tbl.party_id', 'status_code=ores_refdata_party_statuses_tbl.code', 'country_code=ores_refdata_countries_tbl.alpha2_code');
CREATE OR REPLACE TRIGGER ores_refdata_counterparties_update_trg BEFORE UPDATE ON ores_refdata_counterparties_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_refdata_counterparties_delete_trg BEFORE DELETE ON ores_refdata_counterparties_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('counterparty_id');
CREATE OR REPLACE TRIGGER ores_refdata_counterparties_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_refdata_counterparties_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('counterparty_id');

ALTER TABLE ores_refdata_counterparties_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_refdata_counterparties_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_refdata_counterparties_tenant_pol ON ores_refdata_counterparties_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());

CREATE UNIQUE INDEX counterparties_short_code_idx ON ores_refdata_counterparties_tbl (tenant_id, short_code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
