-- Market data series: one named, sourced sequence of observations (an FX rate, an
-- overnight index fixing, a discount curve), what valuations are built from. The
-- observations themselves are loaded by the market data service per series code.
CREATE TABLE ores_marketdata_series_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    code text NOT NULL CHECK (code ~ '^[A-Z0-9][A-Z0-9_./-]{0,63}$'),
    name text NOT NULL CHECK (name <> ''),
    series_type text NOT NULL CHECK (series_type IN ('fx_rate', 'index_fixing', 'discount_curve', 'volatility_surface', 'credit_spread')),
    currency_code text NOT NULL,
    -- The second currency of an FX rate (code = currency per quote currency); NULL otherwise.
    quote_currency_code text,
    source text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT series_pk_idx PRIMARY KEY (tenant_id, code, valid_from),
    CONSTRAINT series_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(code, 0) WITH =, code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK ((series_type = 'fx_rate') = (quote_currency_code IS NOT NULL)),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX series_current_idx ON ores_marketdata_series_tbl (tenant_id, code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_marketdata_series_insert_trg BEFORE INSERT ON ores_marketdata_series_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('code');
CREATE OR REPLACE TRIGGER ores_marketdata_series_lookup_trg AFTER INSERT ON ores_marketdata_series_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('currency_code=ores_refdata_currencies_tbl.iso_code', 'quote_currency_code=ores_refdata_currencies_tbl.iso_code');
CREATE OR REPLACE TRIGGER ores_marketdata_series_update_trg BEFORE UPDATE ON ores_marketdata_series_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_marketdata_series_delete_trg BEFORE DELETE ON ores_marketdata_series_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('code');
CREATE OR REPLACE TRIGGER ores_marketdata_series_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_marketdata_series_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('code');

ALTER TABLE ores_marketdata_series_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_marketdata_series_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_marketdata_series_tenant_pol ON ores_marketdata_series_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_marketdata_series_shared_read_pol ON ores_marketdata_series_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
