-- Tenants. The row's tenant_id is the tenant's own id, so a tenant "owns" its row,
-- and every tenant-scoped row elsewhere carries one of these ids.
CREATE TABLE ores_iam_tenants_tbl (
    -- A new tenant gets a new id; the session's tenant (the system tenant, which
    -- registers tenants) would make the insert a new version of the system tenant.
    tenant_id uuid NOT NULL DEFAULT gen_random_uuid(),
    code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]*$'),
    name text NOT NULL,
    type_code text NOT NULL,
    status_code text NOT NULL DEFAULT 'active',
    hostname text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT tenants_pk_idx PRIMARY KEY (tenant_id, valid_from),
    CONSTRAINT tenants_validity_idx EXCLUDE USING gist (tenant_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    -- Codes name tenants in commands (`reset-tenant -t CODE`), so no two current
    -- tenants share one. Unlike every other uniqueness rule this one spans tenants
    -- (it is about tenants), hence an exclusion constraint rather than a unique
    -- index led by tenant_id.
    CONSTRAINT tenants_code_excl EXCLUDE USING btree (code WITH =)
        WHERE (valid_to = ores_utility_infinity_timestamp_fn()),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX tenants_current_idx ON ores_iam_tenants_tbl (tenant_id)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_iam_tenants_insert_trg BEFORE INSERT ON ores_iam_tenants_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('');
CREATE OR REPLACE TRIGGER ores_iam_tenants_lookup_trg AFTER INSERT ON ores_iam_tenants_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('type_code=ores_iam_tenant_types_tbl.code', 'status_code=ores_iam_tenant_statuses_tbl.code');
CREATE OR REPLACE TRIGGER ores_iam_tenants_update_trg BEFORE UPDATE ON ores_iam_tenants_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_iam_tenants_delete_trg BEFORE DELETE ON ores_iam_tenants_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('');
CREATE OR REPLACE TRIGGER ores_iam_tenants_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_iam_tenants_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('');

ALTER TABLE ores_iam_tenants_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_iam_tenants_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_iam_tenants_tenant_pol ON ores_iam_tenants_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());

-- Tenants are administered from the system tenant: a system session of a role that
-- may register tenants sees and manages every tenant; any other session sees its
-- own row and the system tenant's. The tenant setting alone is not enough, as every
-- session may set it: a service that only reads tenants must not list them all.
CREATE POLICY ores_iam_tenants_admin_pol ON ores_iam_tenants_tbl
    USING (ores_utility_current_tenant_id_fn() = ores_utility_system_tenant_id_fn()
           AND has_table_privilege('public.ores_iam_tenants_tbl', 'INSERT'))
    WITH CHECK (ores_utility_current_tenant_id_fn() = ores_utility_system_tenant_id_fn()
                AND has_table_privilege('public.ores_iam_tenants_tbl', 'INSERT'));
CREATE POLICY ores_iam_tenants_shared_read_pol ON ores_iam_tenants_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());

-- A newly registered tenant has no administrator yet, so it starts in bootstrap
-- mode. The setting is variability data, which the IAM service may not write, hence
-- SECURITY DEFINER (as the owner) for exactly this one insert.
CREATE OR REPLACE FUNCTION ores_iam_tenant_registered_fn()
RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM ores_iam_enable_bootstrap_fn(NEW.tenant_id, 'system.new_record');
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION ores_iam_tenant_registered_fn() FROM PUBLIC;

CREATE OR REPLACE TRIGGER ores_iam_tenants_registered_trg AFTER INSERT ON ores_iam_tenants_tbl
    FOR EACH ROW WHEN (NEW.version = 1)
    EXECUTE FUNCTION ores_iam_tenant_registered_fn();
