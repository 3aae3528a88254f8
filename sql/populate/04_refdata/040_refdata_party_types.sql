SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_refdata_party_types_tbl (code, name, description) VALUES
    ('bank', 'Bank', 'Credit institution'),
    ('broker', 'Broker', 'Broker or dealer'),
    ('central_counterparty', 'Central counterparty', 'Clearing house'),
    ('corporate', 'Corporate', 'Non-financial company'),
    ('fund', 'Fund', 'Investment fund'),
    ('internal', 'Internal', 'An entity of the tenant''s own group');
