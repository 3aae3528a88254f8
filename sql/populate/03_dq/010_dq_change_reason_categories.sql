SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_dq_change_reason_categories_tbl (code, name, description) VALUES
    ('system', 'System', 'Changes made by the platform itself'),
    ('data_correction', 'Data correction', 'Fixing data that was wrong'),
    ('business', 'Business', 'Changes that follow a business event'),
    ('regulatory', 'Regulatory', 'Changes required by a regulator or an audit');
