SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_assets_tags_tbl (code, name, description) VALUES
    ('flag', 'Flag', 'Country flags'),
    ('logo', 'Logo', 'Party and application logos'),
    ('icon', 'Icon', 'User interface icons');
