-- Login accounts of a tenant. Only a bcrypt hash of the password is stored (pgcrypto
-- crypt with a gen_salt('bf') salt); the CHECK refuses anything that is not one, so
-- a plain-text password cannot be stored by mistake.
CREATE TABLE ores_iam_accounts_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    account_id uuid NOT NULL DEFAULT gen_random_uuid(),
    username text NOT NULL CHECK (username ~ '^[A-Za-z0-9._@-]{1,128}$'),
    email text NOT NULL DEFAULT '',
    password_hash text NOT NULL CHECK (password_hash ~ '^\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53}$'),
    locked boolean NOT NULL DEFAULT false,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT accounts_pk_idx PRIMARY KEY (tenant_id, account_id, valid_from),
    CONSTRAINT accounts_validity_idx EXCLUDE USING gist (tenant_id WITH =, account_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX accounts_current_idx ON ores_iam_accounts_tbl (tenant_id, account_id)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_iam_accounts_insert_trg BEFORE INSERT ON ores_iam_accounts_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('account_id');
CREATE OR REPLACE TRIGGER ores_iam_accounts_lookup_trg AFTER INSERT ON ores_iam_accounts_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_iam_accounts_update_trg BEFORE UPDATE ON ores_iam_accounts_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_iam_accounts_delete_trg BEFORE DELETE ON ores_iam_accounts_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('account_id');
CREATE OR REPLACE TRIGGER ores_iam_accounts_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_iam_accounts_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('account_id');

ALTER TABLE ores_iam_accounts_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_iam_accounts_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_iam_accounts_tenant_pol ON ores_iam_accounts_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());

-- A username identifies one current account within its tenant.
CREATE UNIQUE INDEX accounts_username_idx ON ores_iam_accounts_tbl (tenant_id, lower(username))
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

-- The only way passwords should reach the table. Cost 10 keeps a login check in the
-- tens of milliseconds while making offline guessing expensive.
CREATE OR REPLACE FUNCTION ores_iam_hash_password_fn(p_password text)
RETURNS text LANGUAGE sql VOLATILE STRICT
AS $$ SELECT crypt(p_password, gen_salt('bf', 10)) $$;

-- The current account of the session's tenant with that username and password, or
-- NULL. crypt() re-hashes with the stored salt, so the comparison needs no secret.
CREATE OR REPLACE FUNCTION ores_iam_check_password_fn(p_username text, p_password text)
RETURNS uuid LANGUAGE sql STABLE STRICT
AS $$
    SELECT account_id FROM ores_iam_accounts_tbl
     WHERE tenant_id = ores_utility_current_tenant_id_fn()
       AND lower(username) = lower(p_username)
       AND valid_to = ores_utility_infinity_timestamp_fn()
       AND NOT locked
       AND password_hash = crypt(p_password, password_hash)
$$;
