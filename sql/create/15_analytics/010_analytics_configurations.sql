-- Analytics configurations: the parameters of a risk measure (which measure, its
-- confidence level and horizon, measure-specific settings), named so reports and
-- dashboards refer to one definition instead of repeating numbers.
CREATE TABLE ores_analytics_configurations_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    name text NOT NULL CHECK (name <> ''),
    measure text NOT NULL CHECK (measure IN ('npv', 'pv01', 'cs01', 'var', 'expected_shortfall', 'expected_exposure', 'pfe')),
    confidence_level numeric(6,5) CHECK (confidence_level > 0 AND confidence_level < 1),
    horizon_days integer CHECK (horizon_days BETWEEN 1 AND 3660),
    parameters jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT configurations_pk_idx PRIMARY KEY (tenant_id, code, valid_from),
    CONSTRAINT configurations_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(code, 0) WITH =, code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    -- Tail measures are meaningless without a confidence level and a horizon.
    CHECK (measure NOT IN ('var', 'expected_shortfall', 'pfe')
           OR (confidence_level IS NOT NULL AND horizon_days IS NOT NULL)),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX configurations_current_idx ON ores_analytics_configurations_tbl (tenant_id, code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_analytics_configurations_insert_trg BEFORE INSERT ON ores_analytics_configurations_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('code');
CREATE OR REPLACE TRIGGER ores_analytics_configurations_lookup_trg AFTER INSERT ON ores_analytics_configurations_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_analytics_configurations_update_trg BEFORE UPDATE ON ores_analytics_configurations_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_analytics_configurations_delete_trg BEFORE DELETE ON ores_analytics_configurations_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('code');
CREATE OR REPLACE TRIGGER ores_analytics_configurations_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_analytics_configurations_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('code');

ALTER TABLE ores_analytics_configurations_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_analytics_configurations_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_analytics_configurations_tenant_pol ON ores_analytics_configurations_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_analytics_configurations_shared_read_pol ON ores_analytics_configurations_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
