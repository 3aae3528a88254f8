-- Tenants. Every tenant-scoped row elsewhere carries one of these ids.
CREATE TABLE ores_iam_tenants_tbl (
    tenant_id uuid NOT NULL DEFAULT gen_random_uuid(),
    code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]*$'),
    name text NOT NULL,
    type_code text NOT NULL REFERENCES ores_iam_tenant_types_tbl (code),
    PRIMARY KEY (tenant_id)
);

CREATE UNIQUE INDEX tenants_code_uniq_idx ON ores_iam_tenants_tbl (code);

ALTER TABLE ores_iam_tenants_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_iam_tenants_tbl FORCE ROW LEVEL SECURITY;

-- A session sees its own tenant row and the system tenant's.
CREATE POLICY ores_iam_tenants_isolation_pol ON ores_iam_tenants_tbl
    USING (tenant_id IN (ores_utility_current_tenant_id_fn(), ores_utility_system_tenant_id_fn()))
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
