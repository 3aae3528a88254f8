SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_iam_tenants_tbl (tenant_id, code, name, type_code, status_code)
VALUES (ores_utility_system_tenant_id_fn(), 'system', 'System', 'system', 'active');
