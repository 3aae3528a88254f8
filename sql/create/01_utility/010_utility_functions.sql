-- Helpers every other script relies on. They read session settings so that a
-- service sets its tenant once per session and every policy and trigger follows.
--
-- The versioning, soft-delete, notification and lookup logic is written once here
-- and attached to each entity table by its triggers; a table says which columns are
-- its key and which columns are lookups through the trigger arguments, so no table
-- carries its own copy of the PL/pgSQL.
--
-- SQLSTATEs raised here (class 'OR' is unused by PostgreSQL, so callers can match
-- on them without colliding with a server error):
--   ORE01  stale version: the row was written by someone else since the caller read
--          it (optimistic concurrency); re-read and retry.
--   ORE02  unknown lookup value; the message lists the valid values.
--   ORE03  history is immutable: versioned rows are never updated in place, and
--          append-only tables are never updated or deleted.
--
-- Every PL/pgSQL function here pins search_path to `public, pg_temp`. Unpinned, a
-- session's own temporary tables come first in name lookup, so a temp table named
-- like a catalog or lookup table (`pg_class`, `ores_iam_tenants_tbl`) would stand
-- in for the real one inside the checks. Listed last, pg_temp can shadow nothing.

-- The valid_to of a current row: far enough that no real period reaches it.
CREATE OR REPLACE FUNCTION ores_utility_infinity_timestamp_fn()
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '9999-12-31 23:59:59+00'::timestamptz $$;

-- The system tenant owns shared reference data; its id is fixed so seed data and
-- policies can name it without a lookup.
CREATE OR REPLACE FUNCTION ores_utility_system_tenant_id_fn()
RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid $$;

-- The tenant of the current session (`SET ores.tenant_id = ...`), NULL when unset,
-- so a session that never chose a tenant sees no tenant-scoped row at all.
CREATE OR REPLACE FUNCTION ores_utility_current_tenant_id_fn()
RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('ores.tenant_id', true), '')::uuid $$;

-- The service the session speaks for (`SET ores.service = ...`), NULL when unset.
CREATE OR REPLACE FUNCTION ores_utility_current_service_fn()
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('ores.service', true), '') $$;

-- Whether a DELETE may remove rows for real. Only the reset functions do that: they
-- run as the table owner (SECURITY DEFINER) and announce it for their transaction.
-- A service cannot pass as the owner, so for services history stays unlosable.
CREATE OR REPLACE FUNCTION ores_utility_purging_fn(p_table oid)
RETURNS boolean LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    -- Asked for every changed row and nearly always with the setting off, which
    -- needs no query (a SQL function with a subquery would run one every time).
    IF coalesce(current_setting('ores.purge', true), '') <> 'on' THEN
        RETURN false;
    END IF;
    RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                    WHERE c.oid = p_table AND c.relowner = current_user::text::regrole);
END
$$;

-- Whether this session is seeding the database while it is being built: the build
-- says so with ores.bulk_seed for its own transaction, and it counts only for a
-- member of the database's owner (the owner group, which owns the database and every
-- table in it and is what the build runs as). No service or ordinary login user is
-- one, so no other session can use it to skip a check; the DDL users are, but they
-- could switch the triggers off outright. Nobody can read or listen to a database
-- that is still being built, and every key it seeds is new. Asked for every seeded
-- row: a SQL function of two built-ins, inlined into the caller, runs no query.
CREATE OR REPLACE FUNCTION ores_utility_bulk_seeding_fn()
RETURNS boolean LANGUAGE sql STABLE
AS $$
    SELECT coalesce(current_setting('ores.bulk_seed', true), '') = 'on'
       AND pg_catalog.pg_has_role(current_user, 'pg_database_owner', 'USAGE')
$$;

-- `tenant_id = ($1).tenant_id AND k1 = ($1).k1 ...`: the predicate selecting the
-- rows of one entity key, with the row passed as $1.
CREATE OR REPLACE FUNCTION ores_utility_key_predicate_fn(p_keys text[])
RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    k text;
    predicate text := 'tenant_id = ($1).tenant_id';
BEGIN
    -- PL/pgSQL with plain expressions rather than a SQL function over unnest: that
    -- cannot be inlined, so it ran as a query of its own on every inserted row.
    FOREACH k IN ARRAY coalesce(p_keys, '{}') LOOP
        predicate := predicate || format(' AND %1$I = ($1).%1$I', k);
    END LOOP;
    RETURN predicate;
END
$$;

-- One notification per change, on a channel named after the table
-- (`ores_<component>_<entity_plural>`). The payload stays small (well under
-- pg_notify's 8000-byte limit) because listeners re-read what they care about.
CREATE OR REPLACE FUNCTION ores_utility_notify_fn(
    p_table text, p_operation text, p_row jsonb, p_keys text[])
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp
AS $$
DECLARE
    channel text := left(p_table, length(p_table) - 4);
    ids jsonb := '{}';
    k text;
BEGIN
    -- Built with plain expressions, not a query: this runs for every changed row, and
    -- a query (or a SQL function, which is not inlined here) costs an executor start.
    FOREACH k IN ARRAY coalesce(p_keys, '{}') LOOP
        ids := ids || jsonb_build_object(k, p_row -> k);
    END LOOP;
    -- A table keyed by tenant_id alone (tenants) is identified by it.
    IF coalesce(cardinality(p_keys), 0) = 0 THEN
        ids := jsonb_build_object('tenant_id', p_row -> 'tenant_id');
    END IF;
    PERFORM pg_notify(
        channel,
        jsonb_build_object(
            'entity', substr(channel, 6),
            'operation', p_operation,
            'tenant_id', p_row -> 'tenant_id',
            'ids', ids,
            'timestamp', clock_timestamp())::text);
END
$$;

-- Checks one lookup column against the current rows of its lookup table visible to
-- the row's tenant (its own and the system tenant's). p_spec is
-- `column=lookup_table.lookup_column`. NULL means "not given" and is left to the
-- column's NOT NULL constraint.
CREATE OR REPLACE FUNCTION ores_utility_check_lookup_fn(
    p_table text, p_spec text, p_row jsonb)
RETURNS void LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    col text := split_part(p_spec, '=', 1);
    target text := split_part(p_spec, '=', 2);
    lookup_table text := split_part(target, '.', 1);
    lookup_col text := split_part(target, '.', 2);
    val text := p_row ->> col;
    col_type text;
    valid text;
    found_it boolean;
BEGIN
    IF val IS NULL THEN
        RETURN;
    END IF;
    -- Compare in the lookup column's own type so its index can be used.
    SELECT format_type(a.atttypid, a.atttypmod) INTO col_type
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = lookup_table::regclass AND a.attname = lookup_col;
    EXECUTE format(
        'SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1::%s AND valid_to = $2
                          AND tenant_id IN ($3, $4))',
        lookup_table, lookup_col, col_type)
       INTO found_it
      USING val, ores_utility_infinity_timestamp_fn(),
            (p_row ->> 'tenant_id')::uuid, ores_utility_system_tenant_id_fn();
    IF found_it THEN
        RETURN;
    END IF;
    EXECUTE format(
        'SELECT string_agg(v, '', '' ORDER BY v) FROM (
             SELECT DISTINCT %I::text AS v FROM %I
              WHERE valid_to = $1 AND tenant_id IN ($2, $3)
              ORDER BY 1 LIMIT 50) s',
        lookup_col, lookup_table)
       INTO valid
      USING ores_utility_infinity_timestamp_fn(),
            (p_row ->> 'tenant_id')::uuid, ores_utility_system_tenant_id_fn();
    RAISE EXCEPTION USING
        ERRCODE = 'ORE02',
        MESSAGE = format('%s.%s: %L is not a valid value; valid values: %s',
                         p_table, col, val, coalesce(valid, '(none)')),
        HINT = format('valid values are the current %s of %s', lookup_col, lookup_table);
END
$$;

-- The version and currency of the latest row of `p_row`'s key in the table (none:
-- NULLs), for the versioning insert trigger.
--
-- Served by the primary key (tenant_id, key..., valid_from), read backwards. The
-- exclusion constraint's GiST index also matches the key's equality conditions, and
-- the planner often rates it a little cheaper; but a text-keyed table's GiST is
-- organised by the key's hash (sql/README.md), which a lookup under row-level
-- security cannot use (the hash function is not leakproof), so a scan of it by the
-- text columns visits most of the tree: 20,000 writes took 13-20 s instead of 3.
-- Only the GiST path needs a sort for the ORDER BY, so switching sorts off here
-- decides it; a function of its own, so the bulk seed path does not pay for the
-- setting.
CREATE OR REPLACE FUNCTION ores_utility_key_latest_fn(
    p_row anyelement, p_schema text, p_table text, p_key_match text,
    OUT last_version integer, OUT has_current boolean)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
SET enable_sort = off
AS $$
BEGIN
    EXECUTE format(
        'SELECT version, valid_to = $2 FROM %I.%I WHERE %s ORDER BY valid_from DESC LIMIT 1',
        p_schema, p_table, p_key_match)
       INTO last_version, has_current
      USING p_row, ores_utility_infinity_timestamp_fn();
END
$$;

-- BEFORE INSERT on a versioned table. TG_ARGV[0] is the comma-separated key (after
-- tenant_id). Lookups are checked after the statement, by
-- ores_utility_versioned_lookup_fn.
--
-- NEW.version is the version the writer last read (0 for a key it believes new).
-- If that is not the current version, someone else wrote in between and the insert
-- is refused with ORE01 instead of silently overwriting their change.
CREATE OR REPLACE FUNCTION ores_utility_versioned_insert_fn()
RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    infinity timestamptz := ores_utility_infinity_timestamp_fn();
    session_tenant uuid := ores_utility_current_tenant_id_fn();
    expected integer := coalesce(NEW.version, 0);
    key_match text;
    has_current boolean;
    current_version integer;
    closed_at timestamptz;
    last_version integer;
BEGIN
    -- A row aimed at another tenant than the session's is left untouched for
    -- row-level security to refuse: that refusal is the meaningful one, and the
    -- versioning below could not see the other tenant's rows anyway. The system
    -- tenant's session is the exception, as it registers tenants.
    IF NEW.tenant_id IS DISTINCT FROM session_tenant
       AND session_tenant IS DISTINCT FROM ores_utility_system_tenant_id_fn() THEN
        RETURN NEW;
    END IF;

    -- Seeding while the database is built: there is no current row to look up or
    -- close. Should a key come twice anyway, the exclusion constraint refuses the
    -- second row rather than letting it in wrong.
    IF ores_utility_bulk_seeding_fn() THEN
        IF expected <> 0 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'ORE01',
                MESSAGE = format('%s: stale version %s, the row no longer exists',
                                 TG_TABLE_NAME, expected),
                HINT = 'a seed inserts every key with version 0';
        END IF;
        NEW.version := 1;
        NEW.valid_from := clock_timestamp();
        NEW.valid_to := infinity;
        NEW.performed_by := current_user;
        RETURN NEW;
    END IF;
    key_match := ores_utility_key_predicate_fn(string_to_array(TG_ARGV[0], ','));

    -- Most inserts, and all of seeding, write a key that has no current row. Asking
    -- with a plain SELECT first is far cheaper than the closing UPDATE (whose
    -- planning and start-up touch every index and trigger of the table), so the
    -- UPDATE only runs when there is a row to close. The key's latest row tells
    -- both: the exclusion constraint makes it the only one that can be current, and
    -- versions grow with valid_from, so it carries the last version ever written (a
    -- key recreated after a soft delete continues its sequence). Planned this way
    -- rather than as max(version) it costs about half as much, paid on every row.
    SELECT l.last_version, l.has_current INTO last_version, has_current
      FROM ores_utility_key_latest_fn(NEW, TG_TABLE_SCHEMA, TG_TABLE_NAME, key_match) l;

    -- Closing the current row also locks it, so two writers of one key serialise
    -- here, and the second one finds that the version it expected is gone: its
    -- UPDATE closes nothing, or closes a newer version than it read.
    IF has_current THEN
        EXECUTE format(
            'UPDATE %I.%I
                SET valid_to = greatest(clock_timestamp(), valid_from + interval ''1 microsecond'')
              WHERE %s AND valid_to = $2
          RETURNING version, valid_to',
            TG_TABLE_SCHEMA, TG_TABLE_NAME, key_match)
           INTO current_version, closed_at
          USING NEW, infinity;
    END IF;

    IF current_version IS NOT NULL THEN
        IF expected <> current_version THEN
            RAISE EXCEPTION USING
                ERRCODE = 'ORE01',
                MESSAGE = format('%s: stale version %s, the current version is %s',
                                 TG_TABLE_NAME, expected, current_version),
                HINT = 're-read the row and apply the change to its current version';
        END IF;
        NEW.valid_from := closed_at;
    ELSE
        IF expected <> 0 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'ORE01',
                MESSAGE = format('%s: stale version %s, the row no longer exists',
                                 TG_TABLE_NAME, expected),
                HINT = 'it was deleted since it was read; insert with version 0 to recreate it';
        END IF;
        NEW.valid_from := clock_timestamp();
    END IF;
    -- The UPDATE's snapshot is newer than the SELECT's: whatever it closed counts too.
    NEW.version := greatest(coalesce(last_version, 0), current_version) + 1;
    NEW.valid_to := infinity;
    -- The database role that wrote the row cannot be claimed by the client.
    NEW.performed_by := current_user;
    RETURN NEW;
END
$$;

-- AFTER INSERT FOR EACH STATEMENT on a versioned table, its inserted rows being
-- the transition table `inserted_rows` (REFERENCING NEW TABLE AS inserted_rows).
-- Every argument is a lookup spec for ores_utility_check_lookup_fn. Every row must
-- also belong to a registered tenant and carry a known change reason.
--
-- Checked once per statement, for all rows at once: checked row by row, each lookup
-- cost a freshly planned query per row, which made seeding slow. The error raised
-- is the one the row-by-row check raised, for the first failing row in insertion
-- order and, within that row, the first failing lookup (its own lookups in
-- argument order, then the tenant, then the change reason). Rows of another tenant
-- than the session's were left to row-level security, as in
-- ores_utility_versioned_insert_fn; they only get here past it (a superuser, or the
-- system tenant's session registering tenants).
CREATE OR REPLACE FUNCTION ores_utility_versioned_lookup_fn()
RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    system_tenant uuid := ores_utility_system_tenant_id_fn();
    session_tenant uuid := ores_utility_current_tenant_id_fn();
    -- A slice, so numbered from 1 like the ordinality below (TG_ARGV starts at 0).
    specs text[] := TG_ARGV[0:TG_NARGS - 1];
    check_tenant boolean := TG_TABLE_NAME <> 'ores_iam_tenants_tbl';
    -- Change reasons are dq data, seeded after iam's own seed rows: until the
    -- catalogue holds anything there is nothing to check against.
    check_reason boolean := TG_TABLE_NAME <> 'ores_dq_change_reasons_tbl'
                            AND EXISTS (SELECT 1 FROM ores_dq_change_reasons_tbl);
    checks text;
    unknown text;
    failed_at bigint;
    failed integer;
    failed_row jsonb;
    common_at bigint;
    common integer;
    common_row jsonb;
BEGIN
    -- The table's own lookups name other tables on every table, so they need
    -- dynamic SQL, one `(n, bad)` pair per lookup. The value is compared in the
    -- lookup column's own type so its index can be used; a NULL is left to NOT NULL.
    IF TG_NARGS > 0 THEN
        SELECT string_agg(format(
                   '(%s, r.%I IS NOT NULL AND NOT EXISTS (
                         SELECT 1 FROM %I l WHERE l.%I = r.%I::text::%s
                            AND l.valid_to = $1 AND l.tenant_id IN (r.tenant_id, $2)))',
                   s.n, s.col, s.lookup_table, s.lookup_col, s.col, s.lookup_type),
                   ', ' ORDER BY s.n),
               string_agg(s.spec, ', ') FILTER (WHERE s.lookup_type IS NULL)
          INTO checks, unknown
          FROM (SELECT t.n, t.spec, split_part(t.spec, '=', 1) AS col,
                       split_part(split_part(t.spec, '=', 2), '.', 1) AS lookup_table,
                       split_part(split_part(t.spec, '=', 2), '.', 2) AS lookup_col,
                       (SELECT format_type(a.atttypid, a.atttypmod)
                          FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = split_part(split_part(t.spec, '=', 2), '.', 1)::regclass
                           AND a.attname = split_part(split_part(t.spec, '=', 2), '.', 2)
                           AND NOT a.attisdropped) AS lookup_type
                  FROM unnest(specs) WITH ORDINALITY AS t(spec, n)) s;
        IF unknown IS NOT NULL THEN
            RAISE EXCEPTION '%: lookup of a column its table does not have: %', TG_NAME, unknown;
        END IF;
        EXECUTE format(
            'SELECT r.ores_row, c.n, to_jsonb(r)
               FROM (SELECT row_number() OVER () AS ores_row, i.* FROM inserted_rows i) r
              CROSS JOIN LATERAL (VALUES %s) AS c(n, bad)
              WHERE c.bad AND (r.tenant_id IS NOT DISTINCT FROM $3 OR $3 IS NOT DISTINCT FROM $2)
              ORDER BY r.ores_row, c.n
              LIMIT 1',
            checks)
           INTO failed_at, failed, failed_row
          USING ores_utility_infinity_timestamp_fn(), system_tenant, session_tenant;
    END IF;

    -- The tenant and the change reason are the same columns and tables on every
    -- versioned table, so this query is static: PL/pgSQL compiles a trigger function
    -- once per trigger and keeps its plan, where dynamic SQL is planned every time.
    -- Only rows before an own-lookup failure can come first.
    IF check_tenant OR check_reason THEN
        SELECT r.ores_row, c.n, to_jsonb(r)
          INTO common_at, common, common_row
          FROM (SELECT row_number() OVER () AS ores_row, i.* FROM inserted_rows i) r
         CROSS JOIN LATERAL (VALUES
                 (1, check_tenant AND r.tenant_id <> system_tenant AND NOT EXISTS (
                      SELECT 1 FROM ores_iam_tenants_tbl l
                       WHERE l.tenant_id = r.tenant_id
                         AND l.valid_to = ores_utility_infinity_timestamp_fn())),
                 (2, check_reason AND r.change_reason_code IS NOT NULL AND NOT EXISTS (
                      SELECT 1 FROM ores_dq_change_reasons_tbl l
                       WHERE l.code = r.change_reason_code
                         AND l.valid_to = ores_utility_infinity_timestamp_fn()
                         AND l.tenant_id IN (r.tenant_id, ores_utility_system_tenant_id_fn())))
             ) AS c(n, bad)
         WHERE c.bad
           AND (r.tenant_id IS NOT DISTINCT FROM session_tenant
                OR session_tenant IS NOT DISTINCT FROM system_tenant)
           AND (failed_at IS NULL OR r.ores_row < failed_at)
         ORDER BY r.ores_row, c.n
         LIMIT 1;
        IF common IS NOT NULL THEN
            failed_row := common_row;
            specs := ARRAY[CASE common
                WHEN 1 THEN 'tenant_id=ores_iam_tenants_tbl.tenant_id'
                ELSE 'change_reason_code=ores_dq_change_reasons_tbl.code' END];
            failed := 1;
        END IF;
    END IF;

    IF failed IS NOT NULL THEN
        -- Raises ORE02 with the message listing the valid values.
        PERFORM ores_utility_check_lookup_fn(TG_TABLE_NAME, specs[failed], failed_row);
    END IF;
    RETURN NULL;
END
$$;

-- BEFORE DELETE on a versioned table: closes the current row instead of removing
-- it, so the history stays. Deleting a closed row does nothing.
CREATE OR REPLACE FUNCTION ores_utility_versioned_delete_fn()
RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    keys text[] := string_to_array(TG_ARGV[0], ',');
BEGIN
    IF ores_utility_purging_fn(TG_RELID) THEN
        RETURN OLD;
    END IF;
    IF OLD.valid_to = ores_utility_infinity_timestamp_fn() THEN
        EXECUTE format(
            'UPDATE %I.%I SET valid_to = greatest(clock_timestamp(), valid_from + interval ''1 microsecond'')
              WHERE %s AND valid_to = $2',
            TG_TABLE_SCHEMA, TG_TABLE_NAME, ores_utility_key_predicate_fn(keys))
          USING OLD, ores_utility_infinity_timestamp_fn();
        -- The closing UPDATE runs inside this trigger, where the notify trigger
        -- stays quiet, so the deletion is announced here.
        PERFORM ores_utility_notify_fn(TG_TABLE_NAME, 'delete', to_jsonb(OLD), keys);
    END IF;
    RETURN NULL;
END
$$;

-- BEFORE UPDATE on a versioned table: only the versioning triggers themselves may
-- close a row; a direct UPDATE would rewrite history (or move it to another tenant).
--
-- Being called from inside a trigger (pg_trigger_depth() > 1) is not proof enough:
-- anyone who can attach a trigger to a table of their own would pass. So the update
-- must also have the one shape our triggers give it: the current row closed now,
-- every other column unchanged.
CREATE OR REPLACE FUNCTION ores_utility_versioned_update_fn()
RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF pg_trigger_depth() > 1
       AND OLD.valid_to = ores_utility_infinity_timestamp_fn()
       AND (NEW.valid_to BETWEEN statement_timestamp() AND clock_timestamp()
            OR NEW.valid_to = OLD.valid_from + interval '1 microsecond')
       AND to_jsonb(NEW) - 'valid_to' = to_jsonb(OLD) - 'valid_to' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'ORE03',
        MESSAGE = format('%s: versioned rows are not updated in place', TG_TABLE_NAME),
        HINT = 'INSERT the new version (with the version you read) or DELETE the entity';
END
$$;

-- BEFORE UPDATE OR DELETE on an append-only table (logs, login events).
CREATE OR REPLACE FUNCTION ores_utility_append_only_fn()
RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' AND ores_utility_purging_fn(TG_RELID) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'ORE03',
        MESSAGE = format('%s is append-only', TG_TABLE_NAME);
END
$$;

-- AFTER INSERT OR UPDATE OR DELETE on an entity table; TG_ARGV[0] is the key.
-- Changes made by our own triggers (closing the previous version) are part of the
-- change that caused them and are not announced twice; purges by the reset
-- functions are announced once by those functions.
CREATE OR REPLACE FUNCTION ores_utility_notify_trigger_fn()
RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    -- Nobody can listen to a database that is still being built: a seed's
    -- notifications would only fill the server's queue.
    IF pg_trigger_depth() > 1 OR ores_utility_purging_fn(TG_RELID)
       OR ores_utility_bulk_seeding_fn() THEN
        RETURN NULL;
    END IF;
    PERFORM ores_utility_notify_fn(
        TG_TABLE_NAME, lower(TG_OP),
        CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END,
        string_to_array(TG_ARGV[0], ','));
    RETURN NULL;
END
$$;

-- BEFORE INSERT OR UPDATE on a table that is not versioned but references lookups
-- (sessions, events): every argument is a lookup spec.
CREATE OR REPLACE FUNCTION ores_utility_lookup_trigger_fn()
RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    -- A row aimed at another tenant is refused by row-level security; checking its
    -- lookups first would only replace that refusal with a confusing one.
    IF NEW.tenant_id IS DISTINCT FROM ores_utility_current_tenant_id_fn() THEN
        RETURN NEW;
    END IF;
    FOR i IN 0 .. TG_NARGS - 1 LOOP
        PERFORM ores_utility_check_lookup_fn(TG_TABLE_NAME, TG_ARGV[i], to_jsonb(NEW));
    END LOOP;
    RETURN NEW;
END
$$;
