-- The standard roles every tenant can assign (their permission sets are seeded
-- with role_permissions).
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_iam_roles_tbl (code, name, description) VALUES
    ('admin', 'Administrator', 'Everything, including accounts, roles and resets'),
    ('operations', 'Operations', 'Maintains reference data and settings; reads the rest'),
    ('trader', 'Trader', 'Books and amends trades; reads reference data'),
    ('risk_manager', 'Risk manager', 'Reads trades and reference data'),
    ('viewer', 'Viewer', 'Reads everything that is not security data');
