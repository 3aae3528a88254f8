//! The text of the entry-layout tree's per-table files, in the proportions measured
//! on the real tree's entry closure (docs/bench.md, "How the proportions were
//! chosen"): which table gets which object is decided by its number alone, so the
//! tree is the same on every run.

use super::{GeneratedTable, Shape};
use std::fmt::Write as _;

/// The system tenant, written literally in seed rows as a team's seed files do.
pub(super) const SYSTEM_TENANT: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";

/// Rows per multi-row `INSERT` in the large seed files.
const LARGE_BATCH: usize = 50;

/// How the large tables' rows are spread over files: (table index, first row, rows).
/// Five files of 0.8-4.1 MB, as the real tree's five large populate files.
pub(super) fn large_parts(large: &[usize]) -> Vec<(usize, usize, usize)> {
    let mut parts = Vec::new();
    for (n, rows) in large.iter().enumerate() {
        // The two largest tables are cut so the first file is the real tree's
        // largest (~4 MB) and the rest come out between 0.8 and 2.5 MB.
        let cut = match n {
            0 => rows * 4 / 5,
            1 => rows * 7 / 11,
            _ => *rows,
        };
        parts.push((n, 1, cut));
        if cut < *rows {
            parts.push((n, cut + 1, rows - cut));
        }
    }
    parts
}

/// The markers the edit mix finds its lines by (`super::edits`).
pub(super) const MARK_ROW: &str = "-- (bench edit: row)";
pub(super) const MARK_FUNCTION: &str = "-- (bench edit: function)";
pub(super) const MARK_INDEX: &str = "-- (bench edit: index)";
pub(super) const MARK_COLUMN: &str = "-- (bench edit: column)";

/// What one entity table carries besides its table, by its number `i`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Extras {
    /// A `BEFORE INSERT` stamp trigger and its function (2 in 5: ~107 of 268).
    pub stamp: bool,
    /// Row-level security switched on inside a `DO` block rather than by `ALTER TABLE`
    /// (3 in 11: leaves ~195 `ALTER TABLE`s).
    pub rls_in_do: bool,
    /// A `DO` block in its create file that checks what it made (1 in 5).
    pub create_do: bool,
    /// A `DO` block after its seed checking the count (1 in 3 of the seeded ones).
    pub seed_do: bool,
    /// An index on `valid_from` (every odd table): with the others ~4 a table.
    pub valid_from_index: bool,
    /// Its seed in two `INSERT`s rather than one (3 in 4).
    pub split_seed: bool,
    /// Its seed written in the component's populate script rather than a file of its
    /// own (1 in 7).
    pub inline_seed: bool,
    /// `\echo` in its create file (every third table).
    pub echo_create: bool,
}

impl Extras {
    pub(super) fn of(i: usize) -> Extras {
        Extras {
            stamp: matches!(i % 5, 0 | 2),
            rls_in_do: matches!(i % 11, 0 | 3 | 6),
            create_do: i % 5 == 4,
            seed_do: i.is_multiple_of(3),
            valid_from_index: i % 2 == 1,
            split_seed: !i.is_multiple_of(4),
            inline_seed: i.is_multiple_of(7),
            echo_create: i.is_multiple_of(3),
        }
    }
}

/// Components whose tables the build does not seed (runtime queues: services write
/// them, no script does), so a column added to one is read by no later script.
pub(super) const SEEDLESS: [&str; 1] = ["mq"];

/// Whether the seed of table `t` calls its service-facing upsert function once, at
/// top level (1 in 5 of the seeded tables: ~55 calls, the real tree's 57).
pub(super) fn called(t: &GeneratedTable) -> bool {
    !t.large && !SEEDLESS.contains(&t.component) && t.number % 5 == 1
}

/// A file's opening comment, as a team's files carry a notice and a description.
pub(super) fn header(rel: &str, what: &str) -> String {
    format!(
        "-- -*- mode: sql; tab-width: 4; indent-tabs-mode: nil -*-\n\
         --\n\
         -- {rel}\n\
         --\n\
         -- {what}\n\
         --\n\
         -- Generated for the ores-sql benchmark in the shape of a team's schema tree:\n\
         -- the text is written by the generator, the proportions (files, statements,\n\
         -- bytes) follow the measured tree. Nothing here is meant to be read as a\n\
         -- specification of any real system.\n\
         --\n\
         -- Conventions: one entity per file, bitemporal versions kept by valid_from\n\
         -- and valid_to, rows isolated per tenant by row-level security, every change\n\
         -- announced on a channel named after the entity.\n\
         --\n\
         -- How versions work: a write never updates a row in place. It closes the\n\
         -- current version (valid_to set to the moment of the write) and inserts the\n\
         -- next one (version + 1, valid_from the same moment, valid_to the end of\n\
         -- time). The exclusion constraint on (tenant, key, validity) refuses two\n\
         -- versions of one key that overlap, so a lost update shows up as an error\n\
         -- rather than as two current rows. Reads of the present filter on valid_to\n\
         -- being the end of time; reads as of a moment filter on the range holding it.\n\
         --\n\
         -- How tenants work: every session says which tenant it acts for through the\n\
         -- setting ores.tenant_id. The policy lets it see its own rows and the system\n\
         -- tenant's shared reference rows, and write only its own. Seed scripts act\n\
         -- for the system tenant. Services never bypass the policy; only the owner\n\
         -- group's maintenance sessions see everything, and only when they say so.\n\
         --\n\
         -- How changes are announced: after every insert or update a trigger sends\n\
         -- the key and version on the entity's channel. Caches listen and reload the\n\
         -- key; nothing relies on the payload beyond that.\n\
         --\n"
    )
}

/// An entity table's create file: table, indexes, row-level security and policy.
pub(super) fn entity_table_sql(shape: &Shape, t: &GeneratedTable, rel: &str) -> String {
    let i = t.number;
    let x = Extras::of(i);
    let entity = format!("{}_things{i}", t.component);
    let name = &t.name;
    let mut out = header(
        rel,
        &format!("The {entity} entity: table, indexes, policy."),
    );
    if x.echo_create {
        let _ = writeln!(out, "\\echo '  {name}'");
    }
    let _ = write!(
        out,
        "CREATE TABLE {name} (
    -- The tenant the row belongs to; the policy below keeps tenants apart.
    tenant_id uuid NOT NULL,
    -- The entity's key, stable across its versions.
    id integer NOT NULL,
    -- Counts the versions of one key, from 1.
    version integer NOT NULL DEFAULT 1,
    -- The business code services look the entity up by.
    code text NOT NULL,
    -- A readable name, searched by similarity.
    name text NOT NULL,
    -- A measure in the entity's own unit.
    amount numeric(18, 4), {MARK_COLUMN}
    -- Who wrote this version and why.
    modified_by text NOT NULL DEFAULT current_user,
    change_reason_code text,
    -- When this version holds: [valid_from, valid_to).
    valid_from timestamptz NOT NULL DEFAULT now(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    PRIMARY KEY (tenant_id, id, valid_from),
    -- No two versions of one key overlap in time.
    EXCLUDE USING gist (tenant_id WITH =, id WITH =, tstzrange(valid_from, valid_to) WITH &&)
);

-- Lookups by code and searches by name.
CREATE INDEX things{i}_code_idx ON {name} (tenant_id, code);
CREATE INDEX things{i}_name_trgm_idx ON {name} USING gin (name gin_trgm_ops);
"
    );
    for col in ["amount", "modified_by"]
        .iter()
        .take(shape.extra_indexes)
        .enumerate()
        .filter(|(x, _)| *x == 0 || i.is_multiple_of(2))
        .map(|(_, c)| c)
    {
        let _ = writeln!(
            out,
            "CREATE INDEX things{i}_{col}_idx ON {name} (tenant_id, {col});"
        );
    }
    if x.valid_from_index {
        let _ = writeln!(
            out,
            "CREATE INDEX things{i}_valid_from_idx ON {name} (tenant_id, valid_from DESC);"
        );
    }
    let _ = writeln!(out, "{MARK_INDEX}");
    out.push_str(
        "
-- Row-level security: every tenant sees its own rows and the system tenant's, and
-- writes only its own. FORCE makes the policy hold for the table's owner too, so a
-- maintenance session cannot write another tenant's rows by mistake; the owner
-- group's migrations that must see everything say so explicitly. The system tenant
-- holds the reference rows every tenant shares; seed scripts write them acting for
-- it, services only read them. A tenant's own copy of a code shadows the shared one
-- in the service's queries, never in the table.
",
    );
    if x.rls_in_do {
        let _ = writeln!(
            out,
            "DO $$
BEGIN
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', '{name}');
END $$;"
        );
    } else {
        let _ = writeln!(
            out,
            "ALTER TABLE {name} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;"
        );
    }
    let _ = writeln!(
        out,
        "CREATE POLICY ores_{entity}_isolation_pol ON {name}
    USING (tenant_id IN (ores_utility_current_tenant_id_fn(), ores_utility_system_tenant_id_fn()))
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());"
    );
    if x.create_do {
        let _ = writeln!(
            out,
            "
-- Refuse to go on if the table did not come out as the services expect it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = '{name}' AND relrowsecurity) THEN
        RAISE EXCEPTION '{name} has no row-level security';
    END IF;
END $$;"
        );
    }
    out
}

/// A restrictive policy a few tables carry besides their isolation policy (276
/// policies in all, as measured): rows are deleted by closing their version, never
/// by `DELETE` from a tenant other than their own.
pub(super) fn extra_policy_sql(t: &GeneratedTable) -> String {
    format!(
        "CREATE POLICY ores_{c}_things{i}_delete_pol ON {name} AS RESTRICTIVE FOR DELETE
    USING (tenant_id = ores_utility_current_tenant_id_fn());\n",
        c = t.component,
        i = t.number,
        name = t.name
    )
}

/// An entity table's functions file: notify function and trigger, the stamp trigger
/// on some, the lookup by code on some, the service-facing upsert on all.
pub(super) fn entity_functions_sql(shape: &Shape, t: &GeneratedTable, rel: &str) -> String {
    let i = t.number;
    let x = Extras::of(i);
    let entity = format!("{}_things{i}", t.component);
    let name = &t.name;
    let mut out = header(
        rel,
        &format!("The {entity} entity's functions and triggers."),
    );
    let _ = write!(
        out,
        "-- Announces every change on the entity's channel; listeners reload the row.
CREATE OR REPLACE FUNCTION ores_{entity}_notify_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{entity}', json_build_object('id', NEW.id, 'version', NEW.version)::text);
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER ores_{entity}_notify_trg AFTER INSERT OR UPDATE ON {name}
    FOR EACH ROW EXECUTE FUNCTION ores_{entity}_notify_fn();
"
    );
    if x.stamp {
        let _ = write!(
            out,
            "
-- Fills in who wrote a version and why when the writer did not say.
CREATE OR REPLACE FUNCTION ores_{entity}_stamp_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.modified_by := coalesce(NEW.modified_by, current_user);
    NEW.change_reason_code := coalesce(NEW.change_reason_code, 'system.new_record');
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER ores_{entity}_stamp_trg BEFORE INSERT ON {name}
    FOR EACH ROW EXECUTE FUNCTION ores_{entity}_stamp_fn();
"
        );
    }
    if shape.lookup_fn_every > 0 && i.is_multiple_of(shape.lookup_fn_every) {
        let _ = write!(
            out,
            "
-- The current version of the entity with a code.
CREATE OR REPLACE FUNCTION ores_{entity}_by_code_fn(p_code text) RETURNS SETOF {name}
    LANGUAGE sql STABLE AS $$
    SELECT * FROM {name} WHERE code = p_code
       AND valid_to = ores_utility_infinity_timestamp_fn() $$;
"
        );
    }
    out.push_str(&upsert_fn_sql(&entity, name));
    out
}

/// The service-facing write: closes the current version of the code, if any, and
/// writes the next one. Services call it; a few seed scripts do too.
fn upsert_fn_sql(entity: &str, name: &str) -> String {
    format!(
        "
-- Writes a new version of the entity with code p_code for the current tenant,
-- closing the version that held until now. Returns the entity's id.
--
-- Callers: the services that own the entity, through their own login, acting for
-- the tenant their request came from; a few seed scripts, acting for the system
-- tenant. Arguments:
--   p_code    the business code; required, unique among the tenant's current rows
--   p_name    the readable name shown in lists and searched by similarity
--   p_amount  the measure, in the entity's own unit; may be null
-- Errors: 42501 when the session acts for no tenant; 22023 when the code is
-- missing; 23P01 from the exclusion constraint when another writer closed the same
-- version first (the caller retries with the new current version).
--
-- The current version is locked (FOR UPDATE) before it is closed, so two writers of
-- one code queue up instead of both closing it. A new code takes the next free id
-- of the tenant; ids are never reused, since old versions keep theirs. The moment of
-- the write is taken once (clock_timestamp) so the closed and the new version meet
-- exactly, with neither a gap nor an overlap between them.
CREATE OR REPLACE FUNCTION ores_{entity}_upsert_fn(p_code text, p_name text, p_amount numeric)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid := ores_utility_current_tenant_id_fn();
    v_id integer;
    v_version integer := 0;
    v_now timestamptz := clock_timestamp();
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for {entity}' USING ERRCODE = '42501';
    END IF;
    IF p_code IS NULL OR length(p_code) = 0 THEN
        RAISE EXCEPTION 'a {entity} needs a code' USING ERRCODE = '22023'; {MARK_FUNCTION}
    END IF;
    SELECT id, version INTO v_id, v_version FROM {name}
     WHERE tenant_id = v_tenant AND code = p_code
       AND valid_to = ores_utility_infinity_timestamp_fn()
       FOR UPDATE;
    IF FOUND THEN
        UPDATE {name} SET valid_to = v_now
         WHERE tenant_id = v_tenant AND id = v_id
           AND valid_to = ores_utility_infinity_timestamp_fn();
    ELSE
        SELECT coalesce(max(id), 0) + 1 INTO v_id FROM {name} WHERE tenant_id = v_tenant;
        v_version := 0;
    END IF;
    INSERT INTO {name} (tenant_id, id, version, code, name, amount, valid_from)
    VALUES (v_tenant, v_id, v_version + 1, p_code, p_name, p_amount, v_now);
    RETURN v_id;
END $$;
"
    )
}

/// One seed row of an entity table.
fn entity_row(g: usize) -> String {
    format!(
        "    ('{SYSTEM_TENANT}', {g}, 'c{g}', 'name {g}', {}.{})",
        g * 3 / 2,
        if g % 2 == 1 { "5" } else { "0" }
    )
}

/// An entity table's seed: multi-row `INSERT`s of `rows_each` rows (two on most
/// tables), a top-level call of its upsert on some, a count check in a `DO` block on
/// some. The tenant is the session's, set once by the populate entry script.
pub(super) fn entity_seed_sql(t: &GeneratedTable, rows: usize) -> String {
    let x = Extras::of(t.number);
    let name = &t.name;
    let mut out = String::new();
    let cut = if x.split_seed { rows / 2 } else { rows };
    for (from, to) in [(1, cut), (cut + 1, rows)] {
        if from > to {
            continue;
        }
        let _ = writeln!(
            out,
            "INSERT INTO {name} (tenant_id, id, code, name, amount) VALUES"
        );
        let body: Vec<String> = (from..=to).map(entity_row).collect();
        let _ = writeln!(out, "{};", body.join(",\n"));
    }
    if called(t) {
        let g = rows + 1;
        let _ = writeln!(
            out,
            "SELECT ores_{}_things{}_upsert_fn('c{g}', 'name {g}', {g}.0);",
            t.component, t.number
        );
    }
    if x.seed_do {
        let _ = writeln!(
            out,
            "DO $$
BEGIN
    IF (SELECT count(*) FROM {name}) < {rows} THEN
        RAISE EXCEPTION '{name} holds fewer than {rows} seed rows';
    END IF;
END $$;"
        );
    }
    out
}

/// A large table's rows `first..first + rows` as multi-row `INSERT`s of
/// [`LARGE_BATCH`] rows, one row on two lines (key and amount, then payload); the
/// first line of the middle row carries the edit marker.
pub(super) fn large_seed_sql(t: &GeneratedTable, first: usize, rows: usize) -> String {
    let mut out = String::with_capacity(rows * 180);
    let mark_row = first + rows / 2;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (t.number as u64);
    let last = first + rows - 1;
    for g in first..=last {
        // An xorshift stream stands in for a hash: payloads that do not compress to
        // nothing, without a digest dependency.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (g - first).is_multiple_of(LARGE_BATCH) {
            let _ = writeln!(
                out,
                "INSERT INTO {} (id, code, amount, payload) VALUES",
                t.name
            );
        }
        let end = if (g - first + 1).is_multiple_of(LARGE_BATCH) || g == last {
            ";"
        } else {
            ","
        };
        let mark = if g == mark_row { MARK_ROW } else { "" };
        let _ = writeln!(
            out,
            "    ({g}, 'c{g}', {}.{:02}, {mark}\n     '{x:016x}{:016x}{:016x}{:016x}{:016x}{:016x}{:016x}{:016x}'){end}",
            g / 4,
            (g % 4) * 25,
            !x,
            x.rotate_left(17),
            x.rotate_right(29),
            x.swap_bytes(),
            x.rotate_left(7) ^ 0x5555_5555_5555_5555,
            x.rotate_right(11).wrapping_mul(3),
            x.reverse_bits(),
        );
    }
    let _ = writeln!(
        out,
        "DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {name} WHERE id = {last}) THEN
        RAISE EXCEPTION '{name} stops before row {last}';
    END IF;
END $$;",
        name = t.name
    );
    out
}

/// A large plain table: no tenant, trigger or policy; its code, amount and payload
/// prefix indexed.
pub(super) fn large_table_sql(t: &GeneratedTable) -> String {
    let (name, comp, n) = (&t.name, t.component, t.number);
    format!(
        "CREATE TABLE {name} (id bigint PRIMARY KEY, code text NOT NULL, payload text, amount numeric(18, 4));
CREATE INDEX {comp}_bulk{n}_code_idx ON {name} (code);
CREATE INDEX {comp}_bulk{n}_amount_idx ON {name} (amount);
CREATE INDEX {comp}_bulk{n}_payload_idx ON {name} (left(payload, 8));
ALTER TABLE {name} OWNER TO :\"owner_role\";
COMMENT ON TABLE {name} IS :'data_label';
"
    )
}
