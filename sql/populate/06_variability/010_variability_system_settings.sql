-- Defaults of the system tenant. system.bootstrap_mode is not here: registering a
-- tenant (the system tenant included, in the iam seed) turns it on for that tenant.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_variability_system_settings_tbl (name, value, value_type, description) VALUES
    ('iam.password_min_length', '12', 'integer', 'Shortest password accepted'),
    ('iam.max_failed_logins', '5', 'integer', 'Failed logins in a row before an account is locked'),
    ('iam.session_timeout_minutes', '480', 'integer', 'Idle time after which a session ends'),
    ('feature.trade_import', 'false', 'boolean', 'Allow importing trades from ORE XML'),
    ('feature.fuzzy_search', 'true', 'boolean', 'Use trigram similarity in name searches');
