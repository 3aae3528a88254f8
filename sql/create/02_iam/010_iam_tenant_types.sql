-- Kinds of tenant (system, organisation, test). A lookup owned by the system tenant.
CREATE TABLE ores_iam_tenant_types_tbl (
    code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
    name text NOT NULL,
    description text NOT NULL DEFAULT ''
);
