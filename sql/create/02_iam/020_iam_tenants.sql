-- Tenants. Every tenant-scoped row elsewhere carries one of these ids.
CREATE TABLE ores_iam_tenants_tbl (
    tenant_id uuid NOT NULL DEFAULT gen_random_uuid(),
    code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]*$'),
    name text NOT NULL,
    type_code text NOT NULL REFERENCES ores_iam_tenant_types_tbl (code),
    PRIMARY KEY (tenant_id)
);

-- No unique index on code alone: every unique index of a tenant-scoped table starts
-- with tenant_id (validation rule C009). The full schema keys tenants accordingly.

ALTER TABLE ores_iam_tenants_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_iam_tenants_tbl FORCE ROW LEVEL SECURITY;

-- A session sees its own tenant row and the system tenant's.
CREATE POLICY ores_iam_tenants_isolation_pol ON ores_iam_tenants_tbl
    USING (tenant_id IN (ores_utility_current_tenant_id_fn(), ores_utility_system_tenant_id_fn()))
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
