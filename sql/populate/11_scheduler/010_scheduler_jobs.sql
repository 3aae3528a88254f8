-- Housekeeping every environment runs, owned by the system tenant; tenants add
-- their own report and batch schedules.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_scheduler_jobs_tbl (code, name, job_kind, cron_expression, time_zone, parameters) VALUES
    ('housekeeping.expire_sessions', 'Close idle sessions', 'housekeeping', '*/15 * * * *', 'UTC', '{"task": "expire_sessions"}'),
    ('housekeeping.trim_logs', 'Remove service logs older than the retention period', 'housekeeping', '30 2 * * *', 'UTC', '{"task": "trim_logs", "retention_days": 30}'),
    ('market_data.ecb_fx_rates', 'Load the ECB reference FX rates', 'market_data_load', '15 16 * * 1-5', 'Europe/Berlin', '{"source": "ECB"}');
