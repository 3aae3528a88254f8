SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_refdata_party_statuses_tbl (code, name, description) VALUES
    ('active', 'Active', 'May be traded with'),
    ('inactive', 'Inactive', 'No new trades'),
    ('suspended', 'Suspended', 'Temporarily blocked, e.g. pending review');
