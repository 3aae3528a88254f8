SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_dq_data_domains_tbl (code, name, description) VALUES
    ('reference_data', 'Reference data', 'Currencies, countries, parties, calendars'),
    ('trading', 'Trading', 'Trades and their identifiers'),
    ('identity', 'Identity', 'Tenants, accounts and access'),
    ('market_data', 'Market data', 'Quotes, curves and fixings');
