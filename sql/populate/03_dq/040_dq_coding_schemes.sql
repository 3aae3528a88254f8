SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_dq_coding_schemes_tbl (code, name, authority, data_domain_code, description) VALUES
    ('lei', 'Legal Entity Identifier', 'GLEIF', 'reference_data', 'ISO 17442, 20 characters'),
    ('bic', 'Business Identifier Code', 'SWIFT', 'reference_data', 'ISO 9362, 8 or 11 characters'),
    ('isin', 'International Securities Identification Number', 'ANNA', 'reference_data', 'ISO 6166'),
    ('uti', 'Unique Transaction Identifier', 'CPMI-IOSCO', 'trading', 'ISO 23897'),
    ('usi', 'Unique Swap Identifier', 'CFTC', 'trading', 'US swap reporting'),
    ('internal', 'Internal identifier', 'tenant', 'trading', 'Identifier assigned by the tenant''s own systems');
