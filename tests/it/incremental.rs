//! Incremental builds: after an edit of one or two files, a recreate applies only
//! what the edit can affect to a copy of the last build, and the result is the
//! database a full build of the same tree gives (schema dump with grants, every
//! table's contents, sequences, owners, the applied-scripts rows, the build record).
//! Edits the rules refuse build in full; both are checked, each edit naming the path
//! it must take.

use crate::common;

use ores_sql::lifecycle::version::BuildPath;
use ores_sql::server::admin::connect_admin_to;
use ores_sql::testing::ScratchEnv;
use ores_sql::{Config, Manifest, RunOptions};
use std::path::Path;

/// A tree of psql entry scripts with what the rules must tell apart: a utility
/// function populate scripts call, a table filled through a trigger, a service
/// function nothing calls during the build, a late table, a `\copy` data file, every
/// file reached through `\ir`, and a `\gset` whose row feeds a later statement (the
/// real tree has two).
const TREE: &[(&str, &str)] = &[
    (
        "ores-sql.toml",
        "entry = [\"setup_schema.sql\"]\nlogin_users = [\"ddl\", \"cli\"]\n\n[login_groups]\nddl = \"owner\"\ncli = \"rw\"\n\n[[services]]\nname = \"app\"\nowns = [\"app\"]\n",
    ),
    (
        "setup_schema.sql",
        "\\set ON_ERROR_STOP on\n\\echo building :db_name\n\\ir create/create_all.sql\n\\ir populate/populate_all.sql\n",
    ),
    (
        "create/create_all.sql",
        "\\echo creating\n\\ir utility.sql\n\\ir tables.sql\n\\ir late.sql\n\\ir notes.sql\n\\ir services.sql\n",
    ),
    (
        "create/utility.sql",
        "create or replace function ores_app_label_fn(p text) returns text\nlanguage sql immutable as $$ select upper(p) $$;\n",
    ),
    (
        "create/tables.sql",
        "create table ores_app_currencies_tbl (code text primary key, name text not null, label text);\n\
         create table ores_app_events_tbl (id integer generated always as identity primary key, code text not null, note text);\n\
         create function ores_app_events_trg_fn() returns trigger language plpgsql as $$\nbegin\n  new.note := coalesce(new.note, 'n/a');\n  return new;\nend $$;\n\
         create trigger ores_app_events_trg before insert on ores_app_events_tbl\n  for each row execute function ores_app_events_trg_fn();\n\
         create table ores_app_countries_tbl (code text primary key, currency text);\n\
         create index ores_app_countries_currency_idx on ores_app_countries_tbl (currency);\n\
         create table ores_app_flags_tbl (name text primary key);\n\
         create table ores_app_rates_tbl (id integer primary key, code text not null, amount numeric);\n\
         create index ores_app_rates_code_idx on ores_app_rates_tbl (code);\n",
    ),
    (
        "create/late.sql",
        "create table ores_app_audit_tbl (id integer primary key, what text);\ncomment on table ores_app_audit_tbl is 'audit';\n",
    ),
    (
        "create/notes.sql",
        "create table ores_app_notes_tbl (id integer generated always as identity primary key, body text not null, tenant text not null default 'system');\n\
         create index ores_app_notes_body_idx on ores_app_notes_tbl (body);\n\
         create function ores_app_notes_trg_fn() returns trigger language plpgsql as $$\nbegin\n  new.body := trim(new.body);\n  return new;\nend $$;\n\
         create trigger ores_app_notes_trg before insert on ores_app_notes_tbl\n  for each row execute function ores_app_notes_trg_fn();\n\
         alter table ores_app_notes_tbl enable row level security;\n\
         create policy ores_app_notes_pol on ores_app_notes_tbl using (tenant = current_setting('app.tenant', true));\n\
         grant select on ores_app_notes_tbl to public;\n\
         comment on table ores_app_notes_tbl is 'notes';\n\
         comment on column ores_app_notes_tbl.body is 'the text';\n\
         create table ores_app_kinds_tbl (code text primary key);\n\
         create table ores_app_items_tbl (id integer primary key, kind text references ores_app_kinds_tbl (code));\n",
    ),
    (
        "create/services.sql",
        "create or replace function ores_app_lookup_fn(p text) returns text\nlanguage sql stable as $$ select name from ores_app_currencies_tbl where code = p $$;\n",
    ),
    (
        "populate/populate_all.sql",
        "\\echo populating\n\\ir currencies.sql\n\\ir events.sql\n\\ir countries.sql\n\\ir flags.sql\n\\ir notes.sql\n\\ir rates.sql\n",
    ),
    (
        "populate/rates.sql",
        "insert into ores_app_rates_tbl (id, code, amount) values\n  (1, 'a', 1.5),\n  (2, 'b', 2.5),\n  (3, 'c', 3.5);\n\
         insert into ores_app_rates_tbl (id, code, amount) values\n  (10, 'x', 10),\n  (11, 'y', 11);\n\
         do $$ begin\n  if not exists (select 1 from ores_app_rates_tbl where id = 11) then\n    raise exception 'rates stop before 11';\n  end if;\nend $$;\n",
    ),
    (
        "populate/currencies.sql",
        "\\echo currencies\ninsert into ores_app_currencies_tbl (code, name, label) values\n  ('EUR', 'Euro', ores_app_label_fn('eur')),\n  ('USD', 'Dollar', ores_app_label_fn('usd'));\n",
    ),
    (
        "populate/events.sql",
        "insert into ores_app_events_tbl (code) values ('a'), ('b'), ('c');\ninsert into ores_app_events_tbl (code, note) values ('d', 'given');\n",
    ),
    (
        "populate/countries.sql",
        "\\copy ores_app_countries_tbl (code, currency) from 'countries.csv' with (format csv)\n",
    ),
    ("populate/countries.csv", "DE,EUR\nUS,USD\n"),
    (
        "populate/notes.sql",
        "insert into ores_app_notes_tbl (body) values (' first '), ('second');\n\
         insert into ores_app_kinds_tbl (code) values ('k');\n\
         insert into ores_app_items_tbl (id, kind) values (1, 'k');\n",
    ),
    (
        "populate/flags.sql",
        "insert into ores_app_flags_tbl (name) values ('seeded');\n\
         select count(*) as flag_count from ores_app_flags_tbl \\gset\n\
         insert into ores_app_flags_tbl (name) values ('counted ' || :flag_count);\n",
    ),
];

/// One edit: a file's text replaced (`from` → `to` inside it), and the path the
/// recreate after it must take.
struct Edit {
    what: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    incremental: bool,
}

const EDITS: &[Edit] = &[
    Edit {
        what: "a row added to a populate file",
        file: "populate/events.sql",
        from: "('c');",
        to: "('c'), ('e');",
        incremental: true,
    },
    Edit {
        what: "a row changed",
        file: "populate/events.sql",
        from: "('b')",
        to: "('bb')",
        incremental: true,
    },
    Edit {
        what: "a function body replaced",
        file: "create/services.sql",
        from: "select name from",
        to: "select name || '' from",
        incremental: true,
    },
    Edit {
        what: "an index added in a late create file",
        file: "create/late.sql",
        from: "comment on",
        to: "create index ores_app_audit_what_idx on ores_app_audit_tbl (what);\ncomment on",
        incremental: true,
    },
    Edit {
        what: "a column added in a late create file",
        file: "create/late.sql",
        from: "comment on",
        to: "alter table ores_app_audit_tbl add column noted text default 'x';\ncomment on",
        incremental: true,
    },
    Edit {
        what: "a table added in a late create file",
        file: "create/late.sql",
        from: "comment on",
        to: "create table ores_app_extra_tbl (x integer);\ncomment on",
        incremental: true,
    },
    Edit {
        what: "a \\copy data file changed",
        file: "populate/countries.csv",
        from: "US,USD\n",
        to: "US,USD\nFR,EUR\n",
        incremental: true,
    },
    Edit {
        what: "rows that call a utility function",
        file: "populate/currencies.sql",
        from: "('USD', 'Dollar', ores_app_label_fn('usd'))",
        to: "('USD', 'Dollar', ores_app_label_fn('usd')),\n  ('GBP', 'Pound', ores_app_label_fn('gbp'))",
        incremental: true,
    },
    Edit {
        what: "an early utility function the populate scripts call",
        file: "create/utility.sql",
        from: "upper(p)",
        to: "lower(p)",
        incremental: false,
    },
    Edit {
        what: "a column added to a table filled later",
        file: "create/tables.sql",
        from: "label text);",
        to: "label text, symbol text);",
        incremental: true,
    },
    Edit {
        what: "a file removed from an entry script",
        file: "populate/populate_all.sql",
        from: "\\ir countries.sql\n",
        to: "",
        incremental: true,
    },
    Edit {
        what: "the file put back",
        file: "populate/populate_all.sql",
        from: "\\ir events.sql\n",
        to: "\\ir events.sql\n\\ir countries.sql\n",
        incremental: true,
    },
    Edit {
        what: "an index removed",
        file: "create/tables.sql",
        from: "create index ores_app_countries_currency_idx on ores_app_countries_tbl (currency);\n",
        to: "",
        incremental: true,
    },
    Edit {
        what: "an index changed (its columns)",
        file: "create/notes.sql",
        from: "on ores_app_notes_tbl (body);",
        to: "on ores_app_notes_tbl (body, tenant);",
        incremental: true,
    },
    Edit {
        what: "a column added inside the CREATE TABLE of a seeded table",
        file: "create/notes.sql",
        from: "body text not null,",
        to: "body text not null, noted text default 'x',",
        incremental: true,
    },
    Edit {
        what: "a column removed from a CREATE TABLE",
        file: "create/notes.sql",
        from: " noted text default 'x',",
        to: "",
        incremental: true,
    },
    Edit {
        what: "a changed CREATE TABLE of a table another references by foreign key",
        file: "create/notes.sql",
        from: "ores_app_kinds_tbl (code text primary key);",
        to: "ores_app_kinds_tbl (code text primary key, label text);",
        incremental: false,
    },
    Edit {
        what: "a catalog reader added",
        file: "create/services.sql",
        from: "create or replace function ores_app_lookup_fn",
        to: "do $$ declare r record; begin\n  for r in select tablename from pg_tables where schemaname = 'public' loop\n    execute format('grant select on %I to public', r.tablename);\n  end loop;\nend $$;\ncreate or replace function ores_app_lookup_fn",
        incremental: false,
    },
    Edit {
        what: "a table added before the catalog reader",
        file: "create/late.sql",
        from: "comment on",
        to: "create table ores_app_listed_tbl (x integer);\ncomment on",
        incremental: false,
    },
    Edit {
        what: "the catalog reader removed",
        file: "create/services.sql",
        from: "  for r in select tablename from pg_tables where schemaname = 'public' loop\n    execute format('grant select on %I to public', r.tablename);\n  end loop;\n",
        to: "",
        incremental: false,
    },
    Edit {
        what: "a row of a plain table changed (found by key)",
        file: "populate/rates.sql",
        from: "(2, 'b', 2.5)",
        to: "(2, 'b', 2.75)",
        incremental: true,
    },
    Edit {
        what: "a row of a plain table removed (found by key)",
        file: "populate/rates.sql",
        from: ",\n  (3, 'c', 3.5);",
        to: ";",
        incremental: true,
    },
    Edit {
        what: "rows of a plain table added in a statement of their own",
        file: "populate/rates.sql",
        from: "end $$;\n",
        to: "end $$;\ninsert into ores_app_rates_tbl (id, code, amount) values (20, 'z', 20), (21, 'zz', 21);\n",
        incremental: true,
    },
    Edit {
        what: "the row a later check looks up, changed (the table emptied and filled)",
        file: "populate/rates.sql",
        from: "(11, 'y', 11)",
        to: "(11, 'y', 12)",
        incremental: true,
    },
    Edit {
        what: "a function added (owned by the DDL login until the build's end)",
        file: "create/services.sql",
        from: "create or replace function ores_app_lookup_fn",
        to: "create function ores_app_extra_fn() returns integer language sql immutable as $$ select 1 $$;\ncreate or replace function ores_app_lookup_fn",
        incremental: true,
    },
    Edit {
        what: "a function made SECURITY DEFINER (granted to its service at the build's end)",
        file: "create/services.sql",
        from: "language sql stable as",
        to: "language sql stable security definer as",
        incremental: true,
    },
];

/// The edits that change rows found by key (`build/incremental/keys.rs`), and a row
/// each must leave where it is: its `xmin` is kept, where emptying the table and
/// inserting its rows again would write it anew. The row is one no earlier edit
/// wrote (the changed statement's own rows are all written again, and the live
/// database and the template it is next copied from write them in transactions of
/// their own).
const FOUND_BY_KEY: &[(&str, &str)] = &[
    (
        "a row of a plain table changed (found by key)",
        "SELECT xmin::text FROM ores_app_rates_tbl WHERE id = 10",
    ),
    (
        "a row of a plain table removed (found by key)",
        "SELECT xmin::text FROM ores_app_rates_tbl WHERE id = 10",
    ),
    (
        "rows of a plain table added in a statement of their own",
        "SELECT xmin::text FROM ores_app_rates_tbl WHERE id = 10",
    ),
];

fn apply(root: &Path, edit: &Edit) {
    let path = root.join(edit.file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(edit.from),
        "{}: {:?} not in {}",
        edit.what,
        edit.from,
        edit.file
    );
    std::fs::write(&path, text.replacen(edit.from, edit.to, 1)).unwrap();
}

/// Owners of every relation and function of `public`.
fn owners(config: &Config, database: &str) -> Vec<(String, String)> {
    connect_admin_to(config, database)
        .unwrap()
        .query(
            "SELECT relname::text, pg_get_userbyid(relowner)::text FROM pg_class
              WHERE relnamespace = 'public'::regnamespace
             UNION ALL
             SELECT proname::text || '()', pg_get_userbyid(proowner)::text FROM pg_proc
              WHERE pronamespace = 'public'::regnamespace
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The environment's database beside `config`'s, for the full build each result is
/// compared with; dropped when the guard goes.
fn full_beside(config: &Config) -> (Config, common::DropOnExit) {
    let full = config
        .clone()
        .with_database(&format!("{}_f", config.database))
        .unwrap();
    (full.clone(), common::DropOnExit(full))
}

/// A recreate of `config` from the tree at `root` as it is now; the path it took.
fn recreate_from(root: &Path, config: &Config, options: &RunOptions) -> BuildPath {
    let manifest = Manifest::from_dir(root).unwrap();
    ores_sql::recreate_with(config, &manifest, options)
        .unwrap()
        .path
}

/// The engine's record: schema hash, script count, path, and what it was based on.
fn record(config: &Config, database: &str) -> (String, i32, String, Option<String>) {
    let r = connect_admin_to(config, database)
        .unwrap()
        .query_one(
            "SELECT schema_hash, script_count, build_path, based_on FROM ores_sql.builds",
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

/// Everything the two databases must agree on, with the edit named on failure.
fn assert_same(incremental: &Config, full: &Config, what: &str) {
    let (a, b) = (&incremental.database, &full.database);
    common::assert_same_schema(
        &common::schema_dump(incremental, a),
        &common::schema_dump(full, b),
        what,
    );
    // Our tree's copy of the build record says which path built it; the engine's
    // record is compared below.
    let contents = |c: &Config, d: &str| {
        let mut all = common::stable_contents(c, d);
        all.remove(ores_sql::lifecycle::version::BUILD_TABLE);
        all
    };
    let (x, y) = (contents(incremental, a), contents(full, b));
    assert_eq!(
        x.keys().collect::<Vec<_>>(),
        y.keys().collect::<Vec<_>>(),
        "{what}: tables"
    );
    for (t, rows) in &x {
        assert!(rows == &y[t], "{what}: the rows of {t} differ");
    }
    assert_eq!(
        common::sequence_values(incremental, a),
        common::sequence_values(full, b),
        "{what}: sequences"
    );
    assert_eq!(owners(incremental, a), owners(full, b), "{what}: owners");
    assert_eq!(
        common::applied_scripts(incremental, a),
        common::applied_scripts(full, b),
        "{what}: applied scripts"
    );
    let (ra, rb) = (record(incremental, a), record(full, b));
    assert_eq!((&ra.0, ra.1), (&rb.0, rb.1), "{what}: build record");
}

#[test]
fn every_edit_gives_the_database_a_full_build_gives() {
    let env = ScratchEnv::new("inc").unwrap();
    let dir = common::tree(TREE);
    let root = dir.path();
    let options = env.options.clone();
    let incremental = env.config.clone();
    let (full, _cleanup) = full_beside(&env.config);
    let recreate = |config: &Config, options: &RunOptions| recreate_from(root, config, options);
    recreate(&incremental, &options);
    let xmin = |query: &str| -> String {
        connect_admin_to(&incremental, &incremental.database)
            .unwrap()
            .query_one(query, &[])
            .unwrap()
            .get(0)
    };
    for edit in EDITS {
        apply(root, edit);
        let untouched = FOUND_BY_KEY
            .iter()
            .find(|(what, _)| *what == edit.what)
            .map(|(_, query)| (*query, xmin(query)));
        let path = recreate(&incremental, &options);
        if let Some((query, before)) = untouched {
            assert_eq!(
                xmin(query),
                before,
                "{}: a row the edit did not touch was written again",
                edit.what
            );
        }
        let expected = if edit.incremental {
            BuildPath::Incremental
        } else {
            path_of_full(&options, &incremental)
        };
        assert_eq!(path, expected, "{}: the path taken", edit.what);
        recreate(&full, &options.clone().rebuild(true));
        assert_same(&incremental, &full, edit.what);
        let (_, _, build_path, based_on) = record(&incremental, &incremental.database);
        assert_eq!(
            build_path,
            expected.as_str(),
            "{}: the record's path",
            edit.what
        );
        assert_eq!(
            based_on.is_some(),
            edit.incremental,
            "{}: the record names the build it started from",
            edit.what
        );
    }
}

/// The path of a full build with `options`: one connection or several.
fn path_of_full(options: &RunOptions, config: &Config) -> BuildPath {
    if options.workers_for(config) > 1 {
        BuildPath::Parallel
    } else {
        BuildPath::Full
    }
}

#[test]
fn an_unchanged_tree_is_still_the_cached_copy() {
    let env = ScratchEnv::new("inu").unwrap();
    let dir = common::tree(TREE);
    let manifest = Manifest::from_dir(dir.path()).unwrap();
    ores_sql::recreate_with(&env.config, &manifest, &env.options).unwrap();
    let again = ores_sql::recreate_with(&env.config, &manifest, &env.options).unwrap();
    assert_eq!(again.path, BuildPath::Cached);
}

/// Our own tree, numeric layout, read with `--sql-dir`: a function body and a row of
/// reference data, each compared with a full build of the same tree.
#[test]
fn our_tree_read_from_a_directory_builds_incrementally_and_equal() {
    let env = ScratchEnv::new("ino").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sql");
    ores_sql::testing::workload::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("sql"),
        &root,
    )
    .unwrap();
    let (full, _cleanup) = full_beside(&env.config);
    let recreate = |config: &Config, options: &RunOptions| recreate_from(&root, config, options);
    recreate(&env.config, &env.options);
    let edits = [
        Edit {
            what: "a function nothing calls during the build",
            file: "create/02_iam/110_iam_reset.sql",
            from: "    RETURN total;",
            to: "    RETURN total; -- rows deleted",
            incremental: true,
        },
        Edit {
            what: "a row of reference data",
            file: "populate/04_refdata/010_refdata_rounding_types.sql",
            from: "'Amounts are not rounded'",
            to: "'Amounts are never rounded'",
            incremental: false,
        },
    ];
    for edit in &edits {
        apply(&root, edit);
        let path = recreate(&env.config, &env.options);
        // Reference data is filled through versioning triggers the rules may refuse;
        // either way the result must be the full build's.
        if edit.incremental {
            assert_eq!(path, BuildPath::Incremental, "{}", edit.what);
        }
        recreate(&full, &env.options.clone().rebuild(true));
        assert_same(&env.config, &full, edit.what);
    }
}
