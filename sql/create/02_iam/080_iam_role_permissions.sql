-- The permission sets of roles. The system tenant's sets come with the standard
-- roles and are readable by every tenant.
CREATE TABLE ores_iam_role_permissions_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    role_code text NOT NULL,
    permission_code text NOT NULL,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT role_permissions_pk_idx PRIMARY KEY (tenant_id, role_code, permission_code, valid_from),
    CONSTRAINT role_permissions_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(role_code || '/' || permission_code, 0) WITH =, role_code WITH =, permission_code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX role_permissions_current_idx ON ores_iam_role_permissions_tbl (tenant_id, role_code, permission_code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_iam_role_permissions_insert_trg BEFORE INSERT ON ores_iam_role_permissions_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('role_code,permission_code');
CREATE OR REPLACE TRIGGER ores_iam_role_permissions_lookup_trg AFTER INSERT ON ores_iam_role_permissions_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('role_code=ores_iam_roles_tbl.code', 'permission_code=ores_iam_permissions_tbl.code');
CREATE OR REPLACE TRIGGER ores_iam_role_permissions_update_trg BEFORE UPDATE ON ores_iam_role_permissions_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_iam_role_permissions_delete_trg BEFORE DELETE ON ores_iam_role_permissions_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('role_code,permission_code');
CREATE OR REPLACE TRIGGER ores_iam_role_permissions_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_iam_role_permissions_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('role_code,permission_code');

ALTER TABLE ores_iam_role_permissions_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_iam_role_permissions_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_iam_role_permissions_tenant_pol ON ores_iam_role_permissions_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_iam_role_permissions_shared_read_pol ON ores_iam_role_permissions_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
