-- Helpers every other script relies on. They read session settings so that a
-- service sets its tenant once per session and every policy and trigger follows.

-- The valid_to of a current row: far enough that no real period reaches it.
CREATE OR REPLACE FUNCTION ores_utility_infinity_timestamp_fn()
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '9999-12-31 23:59:59+00'::timestamptz $$;

-- The system tenant owns shared reference data; its id is fixed so seed data and
-- policies can name it without a lookup.
CREATE OR REPLACE FUNCTION ores_utility_system_tenant_id_fn()
RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid $$;

-- The tenant of the current session (`SET ores.tenant_id = ...`), NULL when unset.
CREATE OR REPLACE FUNCTION ores_utility_current_tenant_id_fn()
RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('ores.tenant_id', true), '')::uuid $$;

-- The service the session speaks for (`SET ores.service = ...`), NULL when unset.
CREATE OR REPLACE FUNCTION ores_utility_current_service_fn()
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('ores.service', true), '') $$;
