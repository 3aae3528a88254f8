-- The system tenant starts in bootstrap mode: nobody can log in until the first
-- administrator account exists, so the IAM service lets that one be created.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, true);

INSERT INTO ores_variability_system_settings_tbl (name, value, value_type, description) VALUES
    ('system.bootstrap_mode', 'true', 'boolean',
     'No administrator yet: the first account may be created without logging in'),
    ('iam.password_min_length', '12', 'integer', 'Shortest password accepted'),
    ('iam.max_failed_logins', '5', 'integer', 'Failed logins in a row before an account is locked'),
    ('iam.session_timeout_minutes', '480', 'integer', 'Idle time after which a session ends'),
    ('feature.trade_import', 'false', 'boolean', 'Allow importing trades from ORE XML'),
    ('feature.fuzzy_search', 'true', 'boolean', 'Use trigram similarity in name searches');
