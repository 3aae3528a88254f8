SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_iam_tenant_statuses_tbl (code, name, description) VALUES
    ('active', 'Active', 'Services work for this tenant'),
    ('suspended', 'Suspended', 'Logins refused; data kept'),
    ('terminated', 'Terminated', 'No longer a customer; data kept until purged');
