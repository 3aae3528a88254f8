SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_refdata_rounding_types_tbl (code, name, description) VALUES
    ('half_even', 'Half even', 'To nearest, ties to even (banker''s rounding)'),
    ('half_up', 'Half up', 'To nearest, ties away from zero'),
    ('half_down', 'Half down', 'To nearest, ties towards zero'),
    ('up', 'Up', 'Away from zero'),
    ('down', 'Down', 'Towards zero (truncation)'),
    ('none', 'None', 'Amounts are not rounded');
