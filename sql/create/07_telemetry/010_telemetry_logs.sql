-- Service logs. Append-only and write-heavy: no versioning, no per-row notification
-- (listeners would drown; they poll by time instead), and a BRIN index on time,
-- which stays tiny because rows arrive in time order.
CREATE TABLE ores_telemetry_logs_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    log_id bigint GENERATED ALWAYS AS IDENTITY,
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    level text NOT NULL CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error')),
    service text NOT NULL DEFAULT coalesce(ores_utility_current_service_fn(), current_user),
    logger text NOT NULL DEFAULT '',
    message text NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT logs_pk_idx PRIMARY KEY (tenant_id, log_id)
);

CREATE INDEX logs_logged_at_idx ON ores_telemetry_logs_tbl USING brin (logged_at);
-- One tenant's latest entries, the usual screen.
CREATE INDEX logs_tenant_time_idx ON ores_telemetry_logs_tbl (tenant_id, logged_at DESC);

CREATE OR REPLACE TRIGGER ores_telemetry_logs_append_only_trg BEFORE UPDATE OR DELETE
    ON ores_telemetry_logs_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_append_only_fn();

ALTER TABLE ores_telemetry_logs_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_telemetry_logs_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_telemetry_logs_tenant_pol ON ores_telemetry_logs_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
