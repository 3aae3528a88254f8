-- Seed rows belong to the system tenant; the session's tenant is their default
-- and what row-level security checks them against.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_iam_tenant_types_tbl (code, name, description) VALUES
    ('system', 'System', 'Owns shared reference data; exactly one tenant has this type'),
    ('organisation', 'Organisation', 'A customer organisation'),
    ('test', 'Test', 'Created by automated tests; safe to purge');
