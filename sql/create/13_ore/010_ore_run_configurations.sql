-- ORE run configurations: how the risk engine is run for a tenant (as-of date rule,
-- base currency, which analytics, how many Monte Carlo samples). A compute batch
-- runs one of them; changing it writes a new version, so a past batch's settings
-- stay readable as of its submission.
CREATE TABLE ores_ore_run_configurations_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    name text NOT NULL CHECK (name <> ''),
    base_currency_code text NOT NULL,
    -- Business days before today the run values as of (0: today).
    as_of_lag_days smallint NOT NULL DEFAULT 0 CHECK (as_of_lag_days BETWEEN 0 AND 31),
    analytics text[] NOT NULL DEFAULT '{npv}'
        CHECK (cardinality(analytics) > 0
               AND analytics <@ '{npv,cashflow,sensitivity,exposure,xva,var}'::text[]),
    simulation_samples integer NOT NULL DEFAULT 0 CHECK (simulation_samples BETWEEN 0 AND 1000000),
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT run_configurations_pk_idx PRIMARY KEY (tenant_id, code, valid_from),
    CONSTRAINT run_configurations_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(code, 0) WITH =, code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    -- Exposure and XVA need paths; the other analytics do not.
    CHECK (simulation_samples > 0 OR NOT analytics && '{exposure,xva}'::text[]),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX run_configurations_current_idx ON ores_ore_run_configurations_tbl (tenant_id, code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_ore_run_configurations_insert_trg BEFORE INSERT ON ores_ore_run_configurations_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('code');
CREATE OR REPLACE TRIGGER ores_ore_run_configurations_lookup_trg AFTER INSERT ON ores_ore_run_configurations_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('base_currency_code=ores_refdata_currencies_tbl.iso_code');
CREATE OR REPLACE TRIGGER ores_ore_run_configurations_update_trg BEFORE UPDATE ON ores_ore_run_configurations_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_ore_run_configurations_delete_trg BEFORE DELETE ON ores_ore_run_configurations_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('code');
CREATE OR REPLACE TRIGGER ores_ore_run_configurations_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_ore_run_configurations_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('code');

ALTER TABLE ores_ore_run_configurations_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_ore_run_configurations_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_ore_run_configurations_tenant_pol ON ores_ore_run_configurations_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
