-- Resetting data while keeping the schema and the reference data: what
-- `compass db reset-system` / `reset-tenant` and the IAM service call.
--
-- Row-level security is forced, even for the owner these functions run as, so they
-- purge one tenant at a time with the session's tenant switched to it, and put the
-- caller's tenant back before returning. `ores.purge` (together with running as the
-- table owner) is what lets a DELETE here remove rows for real instead of closing
-- them. (A function SET clause cannot carry these custom settings: PostgreSQL 15
-- refuses placeholder parameters there for roles that are not superuser.)

-- Hard-deletes every row of one tenant from every tenant-scoped table, except the
-- tables named in p_keep. Returns the rows removed.
CREATE OR REPLACE FUNCTION ores_iam_purge_tenant_fn(p_tenant uuid, p_keep text[])
RETURNS bigint LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    tbl text;
    n bigint;
    total bigint := 0;
BEGIN
    PERFORM set_config('ores.tenant_id', p_tenant::text, true);
    FOR tbl IN
        SELECT c.relname::text
          FROM pg_class c
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
           AND c.relname <> ALL (p_keep)
         ORDER BY c.relname
    LOOP
        EXECUTE format('DELETE FROM %I WHERE tenant_id = $1', tbl) USING p_tenant;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;
REVOKE EXECUTE ON FUNCTION ores_iam_purge_tenant_fn(uuid, text[]) FROM PUBLIC;

-- Turns system.bootstrap_mode on for one tenant, as a new version of the setting,
-- and puts the session's tenant back as it was. Returns the rows written (1).
CREATE OR REPLACE FUNCTION ores_iam_enable_bootstrap_fn(p_tenant uuid, p_reason text)
RETURNS bigint LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    caller_tenant text := coalesce(current_setting('ores.tenant_id', true), '');
BEGIN
    PERFORM set_config('ores.tenant_id', p_tenant::text, true);
    INSERT INTO ores_variability_system_settings_tbl
        (tenant_id, name, value, value_type, description, version, change_reason_code)
    SELECT p_tenant, 'system.bootstrap_mode', 'true', 'boolean',
           'No administrator yet: the first account may be created without logging in',
           coalesce((SELECT version FROM ores_variability_system_settings_tbl
                      WHERE tenant_id = p_tenant AND name = 'system.bootstrap_mode'
                        AND valid_to = ores_utility_infinity_timestamp_fn()), 0),
           p_reason;
    PERFORM set_config('ores.tenant_id', caller_tenant, true);
    RETURN 1;
END
$$;
REVOKE EXECUTE ON FUNCTION ores_iam_enable_bootstrap_fn(uuid, text) FROM PUBLIC;

-- Back to a freshly built database: every tenant other than the system tenant is
-- removed with all its data, the system tenant loses its accounts, role grants,
-- sessions and login history, and bootstrap mode is on again. Reference data
-- (currencies, roles, permissions, settings other than bootstrap mode) stays.
CREATE OR REPLACE FUNCTION ores_iam_reset_system_fn()
RETURNS bigint LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    caller_tenant text := coalesce(current_setting('ores.tenant_id', true), '');
    caller_purge text := coalesce(current_setting('ores.purge', true), '');
    sys uuid := ores_utility_system_tenant_id_fn();
    tenant uuid;
    total bigint := 0;
    n bigint;
BEGIN
    PERFORM set_config('ores.purge', 'on', true);
    -- The system tenant's session sees every tenant (ores_iam_tenants_admin_pol).
    PERFORM set_config('ores.tenant_id', sys::text, true);
    FOR tenant IN
        SELECT DISTINCT tenant_id FROM ores_iam_tenants_tbl WHERE tenant_id <> sys
    LOOP
        total := total + ores_iam_purge_tenant_fn(tenant, '{}');
    END LOOP;

    PERFORM set_config('ores.tenant_id', sys::text, true);
    DELETE FROM ores_iam_account_roles_tbl WHERE tenant_id = sys;
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM ores_iam_accounts_tbl WHERE tenant_id = sys;
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM ores_iam_sessions_tbl WHERE tenant_id = sys;
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM ores_iam_login_events_tbl WHERE tenant_id = sys;
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;

    total := total + ores_iam_enable_bootstrap_fn(sys, 'system.reset');
    PERFORM pg_notify('ores_iam_reset', jsonb_build_object(
        'scope', 'system', 'rows', total, 'timestamp', clock_timestamp())::text);
    PERFORM set_config('ores.tenant_id', caller_tenant, true);
    PERFORM set_config('ores.purge', caller_purge, true);
    RETURN total;
END
$$;
REVOKE EXECUTE ON FUNCTION ores_iam_reset_system_fn() FROM PUBLIC;

-- Empties one tenant: all its rows in every table go, except its registration in
-- the tenants table, and its bootstrap mode is on again. Other tenants are not
-- touched. The system tenant is refused: resetting it is ores_iam_reset_system_fn.
CREATE OR REPLACE FUNCTION ores_iam_reset_tenant_fn(p_tenant_code text)
RETURNS bigint LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    caller_tenant text := coalesce(current_setting('ores.tenant_id', true), '');
    caller_purge text := coalesce(current_setting('ores.purge', true), '');
    sys uuid := ores_utility_system_tenant_id_fn();
    tenant uuid;
    total bigint;
BEGIN
    PERFORM set_config('ores.purge', 'on', true);
    PERFORM set_config('ores.tenant_id', sys::text, true);
    SELECT tenant_id INTO tenant FROM ores_iam_tenants_tbl
     WHERE code = p_tenant_code AND valid_to = ores_utility_infinity_timestamp_fn();
    IF tenant IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('no current tenant with code %L', p_tenant_code);
    END IF;
    IF tenant = sys THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'the system tenant is reset with ores_iam_reset_system_fn()';
    END IF;
    total := ores_iam_purge_tenant_fn(tenant, '{ores_iam_tenants_tbl}')
           + ores_iam_enable_bootstrap_fn(tenant, 'system.reset');
    PERFORM pg_notify('ores_iam_reset', jsonb_build_object(
        'scope', 'tenant', 'tenant_id', tenant, 'rows', total,
        'timestamp', clock_timestamp())::text);
    PERFORM set_config('ores.tenant_id', caller_tenant, true);
    PERFORM set_config('ores.purge', caller_purge, true);
    RETURN total;
END
$$;
REVOKE EXECUTE ON FUNCTION ores_iam_reset_tenant_fn(text) FROM PUBLIC;
