-- Which roles an account holds. Versioned, so who could do what at any past moment
-- can be answered (audit).
CREATE TABLE ores_iam_account_roles_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    account_id uuid NOT NULL,
    role_code text NOT NULL,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT account_roles_pk_idx PRIMARY KEY (tenant_id, account_id, role_code, valid_from),
    CONSTRAINT account_roles_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(account_id::text || '/' || role_code, 0) WITH =, account_id WITH =, role_code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX account_roles_current_idx ON ores_iam_account_roles_tbl (tenant_id, account_id, role_code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_iam_account_roles_insert_trg BEFORE INSERT ON ores_iam_account_roles_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('account_id,role_code');
CREATE OR REPLACE TRIGGER ores_iam_account_roles_lookup_trg AFTER INSERT ON ores_iam_account_roles_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('account_id=ores_iam_accounts_tbl.account_id', 'role_code=ores_iam_roles_tbl.code');
CREATE OR REPLACE TRIGGER ores_iam_account_roles_update_trg BEFORE UPDATE ON ores_iam_account_roles_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_iam_account_roles_delete_trg BEFORE DELETE ON ores_iam_account_roles_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('account_id,role_code');
CREATE OR REPLACE TRIGGER ores_iam_account_roles_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_iam_account_roles_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('account_id,role_code');

ALTER TABLE ores_iam_account_roles_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_iam_account_roles_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_iam_account_roles_tenant_pol ON ores_iam_account_roles_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
