-- Scheduled jobs: what runs when. The schedule is a five-field cron expression read
-- in the job's time zone, so a daily 07:00 London job stays at 07:00 across a
-- clock change; the scheduler service computes the next run from it.
CREATE TABLE ores_scheduler_jobs_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_.]{0,63}$'),
    name text NOT NULL CHECK (name <> ''),
    job_kind text NOT NULL CHECK (job_kind IN ('report_run', 'compute_batch', 'market_data_load', 'housekeeping')),
    -- Five space-separated fields; each field's own syntax is the scheduler's to parse.
    cron_expression text NOT NULL CHECK (cron_expression ~ '^\S+( \S+){4}$'),
    time_zone text NOT NULL DEFAULT 'UTC' CHECK (time_zone ~ '^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$'),
    -- Kind-specific arguments (the report definition, the run configuration, ...).
    parameters jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
    is_enabled boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT jobs_pk_idx PRIMARY KEY (tenant_id, code, valid_from),
    CONSTRAINT jobs_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(code, 0) WITH =, code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX jobs_current_idx ON ores_scheduler_jobs_tbl (tenant_id, code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_scheduler_jobs_insert_trg BEFORE INSERT ON ores_scheduler_jobs_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('code');
CREATE OR REPLACE TRIGGER ores_scheduler_jobs_lookup_trg AFTER INSERT ON ores_scheduler_jobs_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_scheduler_jobs_update_trg BEFORE UPDATE ON ores_scheduler_jobs_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_scheduler_jobs_delete_trg BEFORE DELETE ON ores_scheduler_jobs_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('code');
CREATE OR REPLACE TRIGGER ores_scheduler_jobs_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_scheduler_jobs_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('code');

ALTER TABLE ores_scheduler_jobs_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_scheduler_jobs_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_scheduler_jobs_tenant_pol ON ores_scheduler_jobs_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_scheduler_jobs_shared_read_pol ON ores_scheduler_jobs_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
