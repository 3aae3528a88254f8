//! Generated schemas of a chosen size and shape, for the benchmark and the scale tests
//! (one generator, so the figures and the tests talk about the same tree).
//!
//! A [`Shape`] says how many entity tables each component gets and how big the seed
//! is; [`generated_manifest`] writes it in our numeric-prefix layout and
//! [`entry_tree`] in the layout of a team that orders its tree with psql entry
//! scripts (`setup_schema.sql` including `create/<component>/…` and `populate/…`).
//! Both write the same tables; the entry tree adds what the real tree's entry
//! closure has besides (more functions and triggers, `DO` blocks, multi-row seed
//! files, functions called by the seed, an unseeded component), and [`edit_populate`]
//! and its siblings make the benchmark's edit mix on it. The shapes are
//! generated from measured proportions ([`Shape::upstream`]), never copied from the
//! real schema.
//!
//! ```no_run
//! use ores_sql::testing::workload::{Shape, entry_tree};
//! let dir = std::path::Path::new("/tmp/upstream-tree");
//! let tree = entry_tree(dir, &Shape::upstream())?;
//! println!("{} tables, {} rows", tree.tables.len(), tree.total_rows());
//! # Ok::<(), ores_sql::Error>(())
//! ```

use crate::error::{Error, PgContext, Result};
use crate::tree::manifest::Manifest;
use std::fmt::Write as _;
use std::path::Path;

mod edits;
mod entry_sql;

use edits::Edits;
pub use edits::{EDITS_FILE, edit_create, edit_create_column, edit_function, edit_populate};

/// What to generate: entity tables per component, how many of them carry a notify
/// function and trigger, extra indexes each, seed rows each, and large plain tables
/// (no trigger, no policy) with their row counts.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Components in order, each with its number of entity tables.
    pub components: Vec<(&'static str, usize)>,
    /// Every `notify_every`-th entity table gets a notify function and trigger.
    pub notify_every: usize,
    /// Every `lookup_fn_every`-th entity table also gets a lookup function by code
    /// (0: none).
    pub lookup_fn_every: usize,
    /// Extra indexes per entity table (the second only on every other table).
    pub extra_indexes: usize,
    /// Seed rows per entity table.
    pub rows_each: usize,
    /// Row counts of the large plain tables, kept in the last component.
    pub large: Vec<usize>,
}

impl Shape {
    /// `tables` bitemporal tables spread over four components, 20 seed rows each,
    /// every one with a notify trigger.
    pub fn synthetic(tables: usize) -> Shape {
        let names = ["iam", "dq", "refdata", "trading"];
        Shape {
            components: names
                .iter()
                .enumerate()
                .map(|(c, n)| {
                    (
                        *n,
                        tables / names.len() + usize::from(c < tables % names.len()),
                    )
                })
                .collect(),
            notify_every: 1,
            lookup_fn_every: 0,
            extra_indexes: 0,
            rows_each: 20,
            large: vec![],
        }
    }

    /// The real schema's proportions as measured (docs/bench.md, "The upstream-sized
    /// workload"): 271 tables in 19
    /// prefixes, ~1,500 indexes, ~300 functions and ~270 triggers (each a trigger
    /// function's worth of work per table, as the real schema's notify and
    /// versioning triggers are), ~71.5 k seed rows of
    /// which ~65.5 k sit in three plain staging tables. Three of the 271 tables are
    /// the large ones, so the entity tables are 268 (the build record is extra).
    pub fn upstream() -> Shape {
        Shape {
            components: vec![
                ("refdata", 84),
                ("dq", 73),
                ("trading", 41),
                ("iam", 15),
                ("compute", 12),
                ("reporting", 8),
                ("synthetic", 7),
                ("marketdata", 5),
                ("telemetry", 4),
                ("mq", 4),
                ("analytics", 4),
                ("assets", 3),
                ("workflow", 2),
                ("scheduler", 2),
                ("workspace", 1),
                ("workspaces", 1),
                ("variability", 1),
                ("geo", 1),
                ("staging", 0),
            ],
            // A notify function and trigger on every entity table and a lookup
            // function on every eighth: ~300 functions, ~270 triggers.
            notify_every: 1,
            lookup_fn_every: 8,
            // PK, exclusion, code and trigram indexes plus one or two more: ~5.5 a table.
            extra_indexes: 2,
            rows_each: 22,
            large: vec![30_000, 22_000, 13_572],
        }
    }

    /// The component holding the large tables: the last one.
    fn large_component(&self) -> (usize, &'static str) {
        (
            self.components.len() - 1,
            self.components.last().map_or("staging", |x| x.0),
        )
    }

    /// Every table the shape makes, in creation order, with the rows its seed writes.
    pub fn tables(&self) -> Vec<GeneratedTable> {
        let mut out = Vec::new();
        let mut i = 0;
        for (comp, count) in &self.components {
            for _ in 0..*count {
                i += 1;
                out.push(GeneratedTable {
                    name: format!("ores_{comp}_things{i}_tbl"),
                    component: comp,
                    number: i,
                    rows: self.rows_each as u64,
                    large: false,
                });
            }
        }
        let (_, comp) = self.large_component();
        for (n, rows) in self.large.iter().enumerate() {
            out.push(GeneratedTable {
                name: format!("ores_{comp}_bulk{n}_tbl"),
                component: comp,
                number: n,
                rows: *rows as u64,
                large: true,
            });
        }
        out
    }
}

/// One table a [`Shape`] generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedTable {
    /// Table name, `ores_<component>_things<N>_tbl` or `ores_<component>_bulk<N>_tbl`.
    pub name: String,
    /// Its component (prefix).
    pub component: &'static str,
    /// The number in its name.
    pub number: usize,
    /// Rows its seed writes.
    pub rows: u64,
    /// A large plain table (no tenant, trigger or policy), loaded in bulk.
    pub large: bool,
}

/// Writes `text` to `dir/rel`, creating the folders on the way.
fn write(dir: &Path, rel: &str, text: &str) -> Result<()> {
    let path = dir.join(rel);
    let io = |source| Error::Io {
        context: format!("writing {}", path.display()),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(&path, text).map_err(io)
}

/// Copies the tree at `from` (its folders and every file in them) to `to`, for a test
/// or the bench to change a copy and leave the original alone.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let io = |path: &Path, source| Error::Io {
        context: format!("copying {}", path.display()),
        source,
    };
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.map_err(|e| Error::Io {
            context: format!("reading {}", from.display()),
            source: e.into(),
        })?;
        let rel = entry
            .path()
            .strip_prefix(from)
            .expect("walkdir stays inside its root");
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| io(entry.path(), e))?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| io(entry.path(), e))?;
        }
    }
    Ok(())
}

const BUILD_RECORD_SQL: &str = "CREATE TABLE ores_database_builds_tbl (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            schema_hash text NOT NULL, script_count integer NOT NULL, crate_version text NOT NULL,
            server_version text NOT NULL, built_at timestamptz NOT NULL DEFAULT now(),
            built_by text NOT NULL DEFAULT session_user,
            build_path text NOT NULL DEFAULT 'full');\n";

/// The utility functions the tables' defaults and policies call; `create` is
/// `CREATE` or `CREATE OR REPLACE`.
fn utility_sql(create: &str) -> String {
    format!(
        "{create} FUNCTION ores_utility_infinity_timestamp_fn() RETURNS timestamptz LANGUAGE sql IMMUTABLE
           AS $$ SELECT '9999-12-31 23:59:59+00'::timestamptz $$;
         {create} FUNCTION ores_utility_system_tenant_id_fn() RETURNS uuid LANGUAGE sql IMMUTABLE
           AS $$ SELECT 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid $$;
         {create} FUNCTION ores_utility_current_tenant_id_fn() RETURNS uuid LANGUAGE sql STABLE
           AS $$ SELECT nullif(current_setting('ores.tenant_id', true), '')::uuid $$;\n"
    )
}

/// Writes a schema of entity tables shaped like the real ones (bitemporal columns,
/// exclusion constraint, trigram index, notify trigger, forced RLS with a tenant
/// policy, seed rows) per `shape` in our numeric-prefix layout, and scans it.
pub fn generated_manifest(dir: &Path, shape: &Shape) -> Result<Manifest> {
    write(
        dir,
        "create/01_utility/010_utility_functions.sql",
        &utility_sql("CREATE"),
    )?;
    let tables = shape.tables();
    for (c, (comp, _)) in shape.components.iter().enumerate() {
        for t in tables.iter().filter(|t| !t.large && t.component == *comp) {
            let rel = format!(
                "{:02}_{comp}/{:04}_{comp}_things{}.sql",
                c + 2,
                t.number,
                t.number
            );
            write(dir, &format!("create/{rel}"), &entity_create_sql(shape, t))?;
            write(
                dir,
                &format!("populate/{rel}"),
                &entity_populate_sql(t, "ores_utility_system_tenant_id_fn()"),
            )?;
        }
    }
    // The large staging tables go in the last component, the way the real schema
    // keeps them apart from the versioned entities; numbered after the entity tables.
    let (c, comp) = shape.large_component();
    let entity_count: usize = shape.components.iter().map(|x| x.1).sum();
    for t in tables.iter().filter(|t| t.large) {
        let n = t.number;
        let rel = format!(
            "{:02}_{comp}/{:04}_{comp}_bulk{n}.sql",
            c + 2,
            entity_count + n + 1
        );
        write(dir, &format!("create/{rel}"), &large_create_sql(t))?;
        write(
            dir,
            &format!("populate/{rel}"),
            &format!(
                "INSERT INTO {} SELECT g, 'c' || g, repeat(md5(g::text), 2), g * 0.25
                   FROM generate_series(1, {}) g;\n",
                t.name, t.rows
            ),
        )?;
    }
    write(
        dir,
        "create/99_database/010_database_builds.sql",
        BUILD_RECORD_SQL,
    )?;
    Manifest::from_dir(dir)
}

fn large_create_sql(t: &GeneratedTable) -> String {
    let (name, comp, n) = (&t.name, t.component, t.number);
    format!(
        "CREATE TABLE {name} (id bigint PRIMARY KEY, code text NOT NULL, payload text, amount numeric(18, 4));
                 CREATE INDEX {comp}_bulk{n}_code_idx ON {name} (code);\n"
    )
}

/// One entity table: table, indexes, policy, every `notify_every`-th with its notify
/// function and trigger, every `lookup_fn_every`-th with a lookup function.
fn entity_create_sql(shape: &Shape, t: &GeneratedTable) -> String {
    let i = t.number;
    let entity = format!("{}_things{i}", t.component);
    let name = &t.name;
    let notify = if i.is_multiple_of(shape.notify_every) {
        format!(
            "CREATE OR REPLACE FUNCTION ores_{entity}_notify_fn() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_notify('{entity}', json_build_object('id', NEW.id)::text); RETURN NEW; END $$;
             CREATE OR REPLACE TRIGGER ores_{entity}_notify_trg AFTER INSERT OR UPDATE ON {name}
                 FOR EACH ROW EXECUTE FUNCTION ores_{entity}_notify_fn();\n"
        )
    } else {
        String::new()
    };
    let lookup = if shape.lookup_fn_every > 0 && i.is_multiple_of(shape.lookup_fn_every) {
        format!(
            "CREATE OR REPLACE FUNCTION ores_{entity}_by_code_fn(p_code text) RETURNS SETOF {name}
                 LANGUAGE sql STABLE AS $$
                 SELECT * FROM {name} WHERE code = p_code
                    AND valid_to = ores_utility_infinity_timestamp_fn() $$;\n"
        )
    } else {
        String::new()
    };
    let extra: String = (0..shape.extra_indexes)
        .filter(|x| *x == 0 || i.is_multiple_of(2))
        .map(|x| {
            let col = ["amount", "modified_by"][x % 2];
            format!("CREATE INDEX things{i}_{col}_idx ON {name} (tenant_id, {col});\n")
        })
        .collect();
    format!(
        "CREATE TABLE {name} (
                tenant_id uuid NOT NULL, id integer NOT NULL, version integer NOT NULL DEFAULT 1,
                code text NOT NULL, name text NOT NULL, amount numeric(18, 4),
                modified_by text NOT NULL DEFAULT current_user, change_reason_code text,
                valid_from timestamptz NOT NULL DEFAULT now(),
                valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
                PRIMARY KEY (tenant_id, id, valid_from),
                EXCLUDE USING gist (tenant_id WITH =, id WITH =, tstzrange(valid_from, valid_to) WITH &&));
             CREATE INDEX things{i}_code_idx ON {name} (tenant_id, code);
             CREATE INDEX things{i}_name_trgm_idx ON {name} USING gin (name gin_trgm_ops);
             {notify}{lookup}{extra}                 ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {name} FORCE ROW LEVEL SECURITY;
             CREATE POLICY ores_{entity}_isolation_pol ON {name}
                 USING (tenant_id IN (ores_utility_current_tenant_id_fn(), ores_utility_system_tenant_id_fn()))
                 WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());\n"
    )
}

/// An entity table's seed, for the tenant `tenant` (an SQL expression).
fn entity_populate_sql(t: &GeneratedTable, tenant: &str) -> String {
    // Session-scoped like the real populate scripts: the per-file psql path runs
    // autocommit, where a transaction-local setting is gone before the INSERT and
    // row-level security refuses it.
    format!(
        "SELECT set_config('ores.tenant_id', {tenant}::text, false);
             INSERT INTO {} (tenant_id, id, code, name, amount)
             SELECT {tenant}, g, 'c' || g, 'name ' || g, g * 1.5
               FROM generate_series(1, {}) g;\n",
        t.name, t.rows
    )
}

/// The real schema's 16 services and the components each owns in the generated
/// tree. The generated shape has no `ore` tables, so `ore` also owns the staging
/// tables; the prefixes without a service of their name go to the nearest one.
pub const UPSTREAM_SERVICES: [(&str, &[&str]); 16] = [
    ("iam", &["iam"]),
    ("refdata", &["refdata", "geo"]),
    ("workspace", &["workspace", "workspaces"]),
    ("dq", &["dq"]),
    ("variability", &["variability"]),
    ("assets", &["assets"]),
    ("scheduler", &["scheduler"]),
    ("reporting", &["reporting"]),
    ("telemetry", &["telemetry"]),
    ("trading", &["trading"]),
    ("compute", &["compute"]),
    ("synthetic", &["synthetic"]),
    ("workflow", &["workflow", "mq"]),
    ("ore", &["ore", "staging"]),
    ("marketdata", &["marketdata"]),
    ("analytics", &["analytics"]),
];

/// The login users of the real schema besides the services, with their groups.
pub const UPSTREAM_LOGIN_USERS: [(&str, &str); 8] = [
    ("ddl", "owner"),
    ("cli", "rw"),
    ("wt", "rw"),
    ("shell", "rw"),
    ("http", "rw"),
    ("readonly", "ro"),
    ("test_ddl", "owner"),
    ("test_dml", "rw"),
];

/// The folder (relative to the tree) holding the `\copy` data files and the script
/// that reads them: psql resolves a `\copy` file against its working directory, so
/// psql must run from here to read the tree as ores-sql does.
pub const COPY_DIR: &str = "populate/staging";

/// An entry-layout tree written by [`entry_tree`].
#[derive(Debug)]
pub struct EntryTree {
    /// The tree as ores-sql reads it.
    pub manifest: Manifest,
    /// Every generated table with the rows its seed writes (the build record, which
    /// the tree also creates, is not among them).
    pub tables: Vec<GeneratedTable>,
    /// The `.sql` files no entry script reaches, relative to the tree.
    pub unreached_sql: Vec<String>,
    /// The tree's own psql variables and their values (`[variables]`), besides the
    /// ones every tree has.
    pub variables: Vec<(String, String)>,
    /// The pgTAP test files (`[tests]`, one per component), relative to the tree;
    /// outside the build's closure, so they leave the schema hash alone.
    pub test_files: Vec<String>,
}

impl EntryTree {
    /// Rows the seed writes over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// The `[variables]` of the generated tree; `{env}` is the environment label.
const TREE_VARIABLES: [(&str, &str); 1] = [("data_label", "generated staging data, {env}")];

/// The psql `-v` variables running the tree written by [`entry_tree`] through psql
/// needs for environment `env` and database `database`: those ores-sql defines for
/// every tree (the ones the tree uses) and the tree's own.
pub fn entry_psql_variables(env: &str, database: &str) -> Vec<(String, String)> {
    let mut vars = vec![
        ("env".to_string(), env.to_string()),
        ("db_name".to_string(), database.to_string()),
        ("owner_role".to_string(), format!("ores_{env}_owner")),
        ("ro_role".to_string(), format!("ores_{env}_ro")),
    ];
    vars.extend(
        TREE_VARIABLES
            .iter()
            .map(|(k, v)| (k.to_string(), v.replace("{env}", env))),
    );
    vars
}

/// Writes `shape` as a tree ordered by psql entry scripts, the way ORE Studio's team
/// lays theirs out, in the proportions of the real tree's entry closure (files,
/// statements, bytes: docs/bench.md, "How the proportions were chosen"), and reads it
/// back with [`Manifest::from_dir`]:
///
/// - `setup_schema.sql`, the entry script: `\set` variables, `\echo` progress,
///   `\ir create/create.sql` and `\ir populate/populate.sql`, and an
///   `\if :{?skip_checks}` block around a post-build check using `\gset`;
/// - `create/<component>/create_<component>.sql` including two files per table
///   (`<component>_things<N>_create.sql`: table, indexes, row-level security,
///   policy, some `DO` blocks; `<component>_things<N>_functions.sql`: notify trigger,
///   a stamp trigger on some, a lookup on some, a service-facing upsert on all), no
///   numeric prefixes; the build record in `create/database/`;
/// - `populate/<component>/populate_<component>.sql` including a seed file per table
///   (multi-row `INSERT`s, a top-level call of the table's upsert on some, a count
///   check in a `DO` block on some; a few tables seeded in the component's script
///   itself); the large tables seeded by multi-row `INSERT`s in five large files
///   under [`COPY_DIR`] (the real tree's entry closure has no `\copy`); the `mq`
///   tables unseeded;
/// - engine variables in the SQL (`:"owner_role"`, `:'db_name'`) and one of the
///   tree's own (`:'data_label'`);
/// - `ores-sql.toml` with `entry`, the 16 services ([`UPSTREAM_SERVICES`], synthetic
///   also writing refdata), the login users and groups, and `validate-allow.txt`
///   giving the reason for that cross-component write;
/// - files no entry reaches: an old drop script, a retired create script, a shell
///   helper, a README and [`EDITS_FILE`] (where the edit mix's lines are);
/// - a pgTAP suite sized like the tree ([`write_tests`]): `test/<component>_test.sql`
///   per component and `test/test.sql`, declared in `[tests]`.
pub fn entry_tree(dir: &Path, shape: &Shape) -> Result<EntryTree> {
    let mut tables = shape.tables();
    for t in tables.iter_mut().filter(|t| !t.large) {
        if entry_sql::SEEDLESS.contains(&t.component) {
            t.rows = 0;
        } else if entry_sql::called(t) {
            t.rows += 1;
        }
    }
    write(dir, "setup_schema.sql", SETUP_SCHEMA)?;
    let mut create_all = String::from(
        "-- Every component's tables, utility functions first.\n\\echo Creating the schema\n\\ir utility/create_utility.sql\n",
    );
    write(
        dir,
        "create/utility/create_utility.sql",
        &utility_sql("CREATE OR REPLACE"),
    )?;
    let mut populate_all = String::from(
        "-- The seed runs for the system tenant; set for the session, as psql keeps it.\n\
         \\echo Seeding\n\
         SELECT set_config('ores.tenant_id', :'system_tenant', false);\n",
    );
    let mut edits = Edits::default();
    for (c, (comp, _)) in shape.components.iter().enumerate() {
        let mine: Vec<&GeneratedTable> = tables.iter().filter(|t| t.component == *comp).collect();
        if mine.is_empty() {
            continue;
        }
        let lists = ComponentLists {
            create_all: &mut create_all,
            populate_all: &mut populate_all,
            edits: &mut edits,
        };
        write_component(dir, shape, (c, comp), &mine, lists)?;
    }
    // The large files sit here whether there are any or not, so psql can always
    // run from it.
    std::fs::create_dir_all(dir.join(COPY_DIR)).map_err(|source| Error::Io {
        context: format!("creating {}", dir.join(COPY_DIR).display()),
        source,
    })?;
    create_all.push_str("\\echo Creating the build record\n\\ir database/create_database.sql\n");
    write(dir, "create/create.sql", &create_all)?;
    write(dir, "create/database/create_database.sql", BUILD_RECORD_SQL)?;
    write(dir, "populate/populate.sql", &populate_all)?;
    let check_table = tables
        .last()
        .map_or("ores_database_builds_tbl", |t| t.name.as_str());
    write(
        dir,
        "populate/check_populate.sql",
        &format!(
            "-- A sanity check the team runs after seeding.\n\
             SELECT count(*) AS seeded_rows FROM {check_table} \\gset\n\
             \\echo seeded :seeded_rows rows into {check_table} of :db_name\n"
        ),
    )?;
    write(dir, EDITS_FILE, &edits.to_text())?;

    let unreached_sql = write_unreached(dir, &tables)?;
    let test_files = write_tests(dir, shape, &tables)?;
    write(dir, "ores-sql.toml", &entry_settings())?;
    write(
        dir,
        "validate-allow.txt",
        "C026 synthetic:refdata # the synthetic data generator writes reference data it derives\n",
    )?;
    let manifest = Manifest::from_dir(dir)?;
    Ok(EntryTree {
        manifest,
        tables,
        unreached_sql,
        variables: TREE_VARIABLES
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        test_files,
    })
}

/// The entry script of the generated tree.
const SETUP_SCHEMA: &str = "-- Builds the whole schema and its seed; run from the tree's root:
--   psql -X -v ON_ERROR_STOP=1 -f setup_schema.sql
\\set ON_ERROR_STOP on
\\pset pager off
\\timing off
\\set system_tenant 'ffffffff-ffff-ffff-ffff-ffffffffffff'
\\echo Creating the schema of :db_name (environment :env)
\\ir create/create.sql
\\echo Populating :db_name
\\ir populate/populate.sql
\\if :{?skip_checks}
\\echo skipping the post-build checks
\\else
\\ir populate/check_populate.sql
\\endif
\\qecho Done
";

/// The entry scripts' lists a component adds itself to, and the edit targets.
struct ComponentLists<'a> {
    create_all: &'a mut String,
    populate_all: &'a mut String,
    edits: &'a mut Edits,
}

/// One component's create and populate scripts, included from the entry scripts'
/// `create_all` and `populate_all`.
fn write_component(
    dir: &Path,
    shape: &Shape,
    (c, comp): (usize, &str),
    mine: &[&GeneratedTable],
    lists: ComponentLists,
) -> Result<()> {
    let _ = writeln!(
        lists.create_all,
        "\\echo Creating {comp}\n\\ir {comp}/create_{comp}.sql"
    );
    let mut create = format!("-- The {comp} component's tables.\n\\echo '  {comp}'\n");
    let mut populate = format!(
        "-- The {comp} component's seed.\n\\set component {comp}\n\\echo Populating :component\n"
    );
    let mut seeded = false;
    for (k, t) in mine.iter().enumerate() {
        if t.large {
            let stem = format!("{comp}_bulk{}", t.number);
            let _ = writeln!(create, "\\ir {stem}_create.sql");
            write(
                dir,
                &format!("create/{comp}/{stem}_create.sql"),
                &entry_sql::large_table_sql(t),
            )?;
            continue;
        }
        let stem = format!("{comp}_things{}", t.number);
        let _ = writeln!(create, "\\ir {stem}_create.sql\n\\ir {stem}_functions.sql");
        let rel = format!("create/{comp}/{stem}_create.sql");
        let mut text = entry_sql::entity_table_sql(shape, t, &rel);
        // A restrictive policy on the first table of the first eight components.
        if k == 0 && c < 8 {
            text.push_str(&entry_sql::extra_policy_sql(t));
        }
        write(dir, &rel, &text)?;
        lists.edits.late_table(&rel, t);
        let rel = format!("create/{comp}/{stem}_functions.sql");
        write(dir, &rel, &entry_sql::entity_functions_sql(shape, t, &rel))?;
        if !entry_sql::called(t) {
            lists.edits.function = Some(rel);
        }
        if t.rows == 0 {
            continue;
        }
        seeded = true;
        let seed = entry_sql::entity_seed_sql(t, shape.rows_each);
        if entry_sql::Extras::of(t.number).inline_seed {
            populate.push_str(&seed);
        } else {
            let rel = format!("populate/{comp}/{stem}_populate.sql");
            let _ = writeln!(populate, "\\ir {stem}_populate.sql");
            let text = format!(
                "{}\\echo '  {}'\n{seed}",
                entry_sql::header(&rel, &format!("Seed of {}.", t.name)),
                t.name
            );
            write(dir, &rel, &text)?;
        }
    }
    let large: Vec<usize> = mine
        .iter()
        .filter(|t| t.large)
        .map(|t| t.rows as usize)
        .collect();
    for (n, first, rows) in entry_sql::large_parts(&large) {
        let t = mine
            .iter()
            .filter(|t| t.large)
            .nth(n)
            .expect("a large table");
        seeded = true;
        let stem = format!("{comp}_bulk{}_rows{first}", t.number);
        let _ = writeln!(populate, "\\ir {stem}_populate.sql");
        let rel = format!("populate/{comp}/{stem}_populate.sql");
        let text = format!(
            "{}\\echo '  {} from row {first}'\n{}",
            entry_sql::header(&rel, &format!("Rows of {} from {first}.", t.name)),
            t.name,
            entry_sql::large_seed_sql(t, first, rows)
        );
        lists.edits.populate_file(&rel, text.len());
        write(dir, &rel, &text)?;
    }
    write(dir, &format!("create/{comp}/create_{comp}.sql"), &create)?;
    if seeded {
        let _ = writeln!(
            lists.populate_all,
            "\\echo Populating {comp}\n\\ir {comp}/populate_{comp}.sql"
        );
        write(
            dir,
            &format!("populate/{comp}/populate_{comp}.sql"),
            &populate,
        )?;
    }
    Ok(())
}

/// The files beside the SQL that no entry script reaches; returns the SQL ones.
fn write_unreached(dir: &Path, tables: &[GeneratedTable]) -> Result<Vec<String>> {
    // Beside the SQL and reached by no entry script.
    let unreached_sql = vec![
        "create/refdata/refdata_legacy_create.sql".to_string(),
        "drop/drop_schema.sql".to_string(),
    ];
    write(
        dir,
        "create/refdata/refdata_legacy_create.sql",
        "-- Retired: kept for reference, included by nothing.\nCREATE TABLE ores_refdata_legacy_codes_tbl (code text PRIMARY KEY);\n",
    )?;
    let mut drop = String::from("-- Old teardown script, run by hand before the tool did it.\n");
    for t in tables.iter().rev() {
        let _ = writeln!(drop, "DROP TABLE IF EXISTS {} CASCADE;", t.name);
    }
    write(dir, "drop/drop_schema.sql", &drop)?;
    write(
        dir,
        "scripts/recreate_database.sh",
        "#!/bin/sh\n# The team's old way: drop, create, then run the entry script.\nset -e\ncd \"$(dirname \"$0\")/..\"\npsql -X -v ON_ERROR_STOP=1 -f drop/drop_schema.sql\n(cd populate/staging && psql -X -v ON_ERROR_STOP=1 -f ../../setup_schema.sql)\n",
    )?;
    write(
        dir,
        "README.md",
        "# Generated schema\n\nWritten by `ores_sql::testing::workload::entry_tree` in the shape of a team's\ntree built by psql entry scripts. `setup_schema.sql` is the entry point.\n",
    )?;
    Ok(unreached_sql)
}

/// The service the generated tests try a forbidden write as: one that neither owns
/// nor writes `comp`.
fn outsider(comp: &str) -> &'static str {
    if comp == "telemetry" {
        "iam"
    } else {
        "telemetry"
    }
}

/// The psql variables the generated test files use (`:"<name>_service_user"` for
/// every service), as `compass db test` defines them for environment `env`: what
/// `pg_prove --set` needs to run the same files on a database built for `env`.
pub fn entry_test_variables(env: &str) -> Vec<(String, String)> {
    UPSTREAM_SERVICES
        .iter()
        .map(|(name, _)| {
            (
                format!("{name}_service_user"),
                format!("ores_{env}_{name}_service"),
            )
        })
        .collect()
}

/// Writes the tree's pgTAP suite: `test/test.sql` (the setup: pgTAP only) and one
/// `test/<component>_test.sql` per component, each in a rolled-back transaction:
/// `has_table` for every table of the component, its first tables' seed counts,
/// versioning on an entity table (every seeded row current, a second current version
/// refused by the exclusion constraint, the notify trigger, the lookup function
/// where the component has one), and a forbidden write as another service
/// (`SET LOCAL ROLE`, `throws_ok` 42501). Only what the generated schema has, and
/// nothing the build's grants decide alone: the same files pass on a database the
/// team's own scripts built. Returns the test files, relative to the tree.
pub fn write_tests(dir: &Path, shape: &Shape, tables: &[GeneratedTable]) -> Result<Vec<String>> {
    write(
        dir,
        "test/test.sql",
        "-- Run once on the test template as the DDL login, after the administrator\n\
         -- installed pgTAP; the generated suite needs nothing more.\n\
         create extension if not exists pgtap;\n",
    )?;
    let mut files = Vec::new();
    for (comp, _) in &shape.components {
        let mine: Vec<&GeneratedTable> = tables.iter().filter(|t| t.component == *comp).collect();
        let Some(first) = mine.first() else { continue };
        let mut body = String::new();
        let mut n = 0;
        for t in &mine {
            n += 1;
            let _ = writeln!(body, "select has_table('{}');", t.name);
        }
        for t in mine.iter().take(3) {
            n += 1;
            let _ = writeln!(
                body,
                "select is((select count(*) from {name}), {rows}::bigint, '{name} holds its seed');",
                name = t.name,
                rows = t.rows
            );
        }
        let (checks, m) = if first.large {
            large_checks(first)
        } else {
            versioning_checks(shape, &mine)
        };
        body.push_str(&checks);
        n += m + 1;
        let other = outsider(comp);
        let _ = writeln!(
            body,
            "set local role :\"{other}_service_user\";\n\
             select throws_ok($$insert into {name} (id, code) values (-1, 'x')$$, '42501', null,\n\
             \x20                '{other} does not write {comp}');\n\
             reset role;",
            name = first.name
        );
        let rel = format!("test/{comp}_test.sql");
        write(
            dir,
            &rel,
            &format!(
                "-- Generated: the {comp} component's tables, seed, versioning and rights.\n\
                 begin;\nselect plan({n});\n{body}select * from finish();\nrollback;\n"
            ),
        )?;
        files.push(rel);
    }
    Ok(files)
}

/// A component's versioning checks on its first entity table, and how many.
fn versioning_checks(shape: &Shape, mine: &[&GeneratedTable]) -> (String, usize) {
    let t = mine[0];
    let entity = format!("{}_things{}", t.component, t.number);
    // An unseeded table gets its first version here, inside the file's transaction;
    // dated before the transaction, or the second would collide on the primary key
    // (same valid_from) before the exclusion constraint could refuse it.
    let first = if t.rows == 0 {
        format!(
            "insert into {} (tenant_id, id, code, name, valid_from) values (ores_utility_system_tenant_id_fn(), 1, 'c1', 'first', now() - interval '1 day');\n",
            t.name
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "select is((select count(*) from {name} where valid_to = ores_utility_infinity_timestamp_fn()),\n\
         \x20         {rows}::bigint, 'every seeded row of {name} is current');\n\
         {first}select throws_ok($$insert into {name} (tenant_id, id, code, name)\n\
         \x20                  values (ores_utility_system_tenant_id_fn(), 1, 'c1', 'again')$$,\n\
         \x20                '23P01', null, 'a second current version of a row is refused');\n",
        name = t.name,
        rows = t.rows
    );
    let mut n = 2;
    if t.number.is_multiple_of(shape.notify_every) {
        n += 1;
        let _ = writeln!(
            out,
            "select has_trigger('{}', 'ores_{entity}_notify_trg');",
            t.name
        );
    }
    let lookup = mine
        .iter()
        .find(|x| shape.lookup_fn_every > 0 && x.number.is_multiple_of(shape.lookup_fn_every));
    if let Some(x) = lookup {
        n += 1;
        let _ = writeln!(
            out,
            "select is((select count(*) from ores_{c}_things{i}_by_code_fn('c1')), 1::bigint,\n\
             \x20         'the lookup by code finds the current version');",
            c = x.component,
            i = x.number
        );
    }
    (out, n)
}

/// A large table's checks (no versioning: a plain table): its key, and how many.
fn large_checks(t: &GeneratedTable) -> (String, usize) {
    (
        format!(
            "select throws_ok($$insert into {name} (id, code) values (1, 'again')$$, '23505', null,\n\
             \x20                'a staging row is keyed by its id');\n\
             select has_index('{name}', '{comp}_bulk{n}_code_idx');\n",
            name = t.name,
            comp = t.component,
            n = t.number
        ),
        2,
    )
}

/// The generated tree's `ores-sql.toml`.
fn entry_settings() -> String {
    let quoted = |xs: &[&str]| {
        xs.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stems: Vec<&str> = UPSTREAM_LOGIN_USERS.iter().map(|u| u.0).collect();
    let mut out = format!(
        "# Generated by ores_sql::testing::workload::entry_tree.\n\
         entry = [\"setup_schema.sql\"]\n\
         login_users = [{}]\n\n[login_groups]\n",
        quoted(&stems)
    );
    for (stem, group) in UPSTREAM_LOGIN_USERS {
        let _ = writeln!(out, "{stem} = {group:?}");
    }
    out.push_str("\n[extensions]\nrequired = [\"btree_gist\", \"pg_trgm\"]\n");
    for (name, owns) in UPSTREAM_SERVICES {
        let _ = write!(
            out,
            "\n[[services]]\nname = {name:?}\nowns = [{}]\n",
            quoted(owns)
        );
        if name != "iam" {
            out.push_str("reads = [\"iam\"]\n");
        }
        if name == "synthetic" {
            out.push_str("writes = [\"refdata\"]\n");
        }
    }
    out.push_str(
        "\n[tests]\ndir = \"test\"\npattern = \"*_test.sql\"\nsetup = [\"test.sql\"]\n\
         role = \"admin\"\nextensions = [\"pgtap\"]\n",
    );
    out.push_str("\n[variables]\n");
    for (k, v) in TREE_VARIABLES {
        let _ = writeln!(out, "{k} = {v:?}");
    }
    out
}

/// What a build made, counted in its catalog: the objects the build created (object
/// ids from `FirstNormalObjectId` up, in `public`), not what the server or the
/// extensions bring. The benchmark prints them beside its figures, and the scale
/// tests hold a generated shape to the proportions it claims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogCounts {
    /// Relations with storage: tables, their indexes, TOAST tables and sequences.
    pub relations: i64,
    /// Indexes on the schema's tables.
    pub indexes: i64,
    /// Functions, the extensions' own excluded.
    pub functions: i64,
    /// Triggers, the internal ones (foreign keys) excluded.
    pub triggers: i64,
    /// Row-level security policies.
    pub policies: i64,
}

impl CatalogCounts {
    /// Counts them in the database `db` is connected to.
    pub fn of(db: &mut postgres::Client) -> Result<CatalogCounts> {
        let row = db
            .query_one(
                "SELECT (SELECT count(*) FROM pg_class
                          WHERE oid >= 16384 AND relkind IN ('r', 'i', 't', 'S', 'm')),
                        (SELECT count(*) FROM pg_class
                          WHERE oid >= 16384 AND relkind = 'i'
                            AND relnamespace = 'public'::regnamespace),
                        (SELECT count(*) FROM pg_proc p
                          WHERE p.oid >= 16384 AND p.pronamespace = 'public'::regnamespace
                            AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                             WHERE d.classid = 'pg_proc'::regclass
                                               AND d.objid = p.oid AND d.deptype = 'e')),
                        (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal),
                        (SELECT count(*) FROM pg_policy)",
                &[],
            )
            .context("counting the catalog")?;
        Ok(CatalogCounts {
            relations: row.get(0),
            indexes: row.get(1),
            functions: row.get(2),
            triggers: row.get(3),
            policies: row.get(4),
        })
    }
}
