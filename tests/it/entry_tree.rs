//! Another team's tree: psql entry scripts named in its `ores-sql.toml`, component
//! folders without numeric prefixes, drop scripts, a shell helper and notes beside
//! the SQL (tests/fixtures/entry_tree, written for these tests).
//!
//! The manifest is the include closure of the entry script; the build runs through
//! `ores_sql::recreate_with` with the roles and grants of the tree's own registry,
//! and the result is compared with what `psql -X -1 -v ON_ERROR_STOP=1` makes of the
//! same tree.

use crate::common;

use ores_sql::config::Secret;
use ores_sql::server::admin::{connect_admin, connect_admin_to};
use ores_sql::testing::{ScratchEnv, unique_label};
use ores_sql::tree::scan::sha256_hex;
use ores_sql::{Config, Error, Manifest, validate};
use std::path::{Path, PathBuf};
use std::process::Command;

const TOKEN: &str = "wt-t0ken'with\\odd chars";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/entry_tree")
}

/// A copy of the fixture tree to change, with `edits` (path, new text) applied.
fn copy_with(edits: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    ores_sql::testing::workload::copy_tree(&fixture(), dir.path()).expect("copy the fixture");
    for (path, text) in edits {
        common::write_script(dir.path(), path, text);
    }
    dir
}

#[test]
fn the_manifest_is_the_include_closure_in_psql_order() {
    let m = Manifest::from_dir(&fixture()).expect("fixture reads");
    assert!(m.entry_mode());
    let label = fixture().display().to_string();
    let paths: Vec<String> = m
        .scripts()
        .iter()
        .map(|s| {
            s.path
                .strip_prefix(&format!("{label}/"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        paths,
        [
            "setup_schema.sql",
            "create/create_all.sql",
            "create/utility/utility_create.sql",
            "create/iam/iam_create.sql",
            "create/iam/iam_tenants_create.sql",
            "create/iam/iam_accounts_create.sql",
            "create/refdata/refdata_create.sql",
            "create/synthetic/synthetic_create.sql",
            "populate/populate_all.sql",
            "populate/iam/iam_populate.sql",
            "populate/refdata/refdata_populate.sql",
            "populate/synthetic/synthetic_populate.sql",
        ]
    );
    let data: Vec<&str> = m.data_files().iter().map(|s| s.path.as_ref()).collect();
    assert_eq!(
        data,
        [format!("{label}/populate/refdata/currencies.csv").as_str()]
    );
    // Old and drop scripts are not built and do not fail the build; the shell helper
    // and the notes are not even looked at.
    assert_eq!(
        m.unreached(),
        ["create/legacy/old_create.sql", "drop/drop_all.sql"]
    );
    for s in m.scripts().iter().chain(m.data_files()) {
        let on_disk = std::fs::read_to_string(s.path.as_ref()).expect("read");
        assert_eq!(s.sha256, sha256_hex(on_disk.as_bytes()), "{}", s.path);
    }
}

#[test]
fn the_schema_hash_covers_every_reached_file_and_nothing_else() {
    let base = Manifest::from_dir(copy_with(&[]).path()).unwrap();
    let hash = |edits: &[(&str, &str)]| {
        Manifest::from_dir(copy_with(edits).path())
            .unwrap()
            .schema_hash()
            .to_string()
    };
    let included = std::fs::read_to_string(fixture().join("create/iam/iam_create.sql")).unwrap();
    assert_eq!(
        hash(&[("create/iam/iam_create.sql", &included.replace('\n', "\r\n"))]),
        base.schema_hash(),
        "line endings are normalised"
    );
    assert_ne!(
        hash(&[(
            "create/iam/iam_create.sql",
            &format!("{included}-- changed\n")
        )]),
        base.schema_hash(),
        "an included file is covered"
    );
    assert_ne!(
        hash(&[("populate/refdata/currencies.csv", "code,name\nEUR,Euro\n")]),
        base.schema_hash(),
        "a \\copy data file is covered"
    );
    assert_eq!(
        hash(&[
            ("drop/drop_all.sql", "drop everything;"),
            ("recreate_database.sh", "#!/bin/sh\n")
        ]),
        base.schema_hash(),
        "unreached files are not"
    );
}

/// The refusal reading the tree with `edits` applied.
fn refused(edits: &[(&str, &str)]) -> (String, String) {
    let dir = copy_with(edits);
    match Manifest::from_dir(dir.path()) {
        Err(Error::Psql(e)) => {
            let prefix = format!("{}/", dir.path().display());
            let path = e.path.strip_prefix(&prefix).unwrap_or(&e.path).to_string();
            (format!("{path}:{}", e.line), e.message)
        }
        Err(other) => panic!("{edits:?}: not a psql refusal: {other}"),
        Ok(_) => panic!("{edits:?}: accepted"),
    }
}

#[test]
fn a_strict_tree_fails_on_static_rules_and_a_lenient_one_does_not() {
    let upgrade = "alter table ores_iam_tenants_tbl add column extra text;\n";
    let lenient = copy_with(&[("create/synthetic/synthetic_create.sql", upgrade)]);
    Manifest::from_dir(lenient.path()).expect("violations alone do not fail the tree");
    let toml = std::fs::read_to_string(fixture().join("ores-sql.toml")).unwrap();
    let strict = copy_with(&[
        ("create/synthetic/synthetic_create.sql", upgrade),
        ("ores-sql.toml", &format!("strict = true\n{toml}")),
    ]);
    match Manifest::from_dir(strict.path()) {
        Err(Error::StrictTree(violations)) => {
            let message = violations.join("\n");
            assert!(message.contains("S003"), "{message}");
            assert!(
                message.contains("create/synthetic/synthetic_create.sql:1"),
                "{message}"
            );
        }
        other => panic!("a strict tree with an upgrade script was accepted: {other:?}"),
    }
}

#[test]
fn broken_trees_are_refused_naming_file_and_line() {
    let all = "\\ir utility/utility_create.sql\n\\ir iam/iam_create.sql\n";
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 8] = [
        (
            &[(
                "create/create_all.sql",
                &format!("{all}\\ir missing/gone.sql\n"),
            )],
            "create/create_all.sql:3",
            "cannot read create/missing/gone.sql",
        ),
        (
            &[("create/iam/iam_create.sql", "\\ir ../create_all.sql\n")],
            "create/iam/iam_create.sql:1",
            "include cycle",
        ),
        (
            &[("create/create_all.sql", "\n\\ir ../../outside.sql\n")],
            "create/create_all.sql:2",
            "leaves sql/",
        ),
        (
            &[("create/create_all.sql", "select :nobody_set_this;\n")],
            "create/create_all.sql:1",
            "undefined variable :nobody_set_this",
        ),
        (
            &[("create/create_all.sql", "select 1;\n\\gexec\n")],
            "create/create_all.sql:2",
            "unsupported psql meta-command \\gexec",
        ),
        (
            &[("create/create_all.sql", "\\set x `ls /`\n")],
            "create/create_all.sql:1",
            "backtick command `ls /` refused",
        ),
        (
            &[(
                "populate/refdata/refdata_populate.sql",
                "\\copy t from '../../../etc/passwd'\n",
            )],
            "populate/refdata/refdata_populate.sql:1",
            "leaves sql/",
        ),
        (
            &[("create/create_all.sql", "\\if true\nselect 1;\n")],
            "create/create_all.sql:2",
            "missing \\endif",
        ),
    ];
    for (edits, at, message) in cases {
        let (where_, what) = refused(edits);
        assert_eq!(where_, at, "{edits:?}: {what}");
        assert!(what.contains(message), "{edits:?}: {what}");
    }
}

/// The same tree through psql, as the DDL user, into a database of the same owner.
fn through_psql(config: &Config, database: &str) {
    through_psql_at(config, database, &fixture());
}

/// [`through_psql`] for the tree at `root`.
fn through_psql_at(config: &Config, database: &str, root: &Path) {
    let env = &config.env;
    let mut admin = connect_admin(config).expect("admin");
    admin
        .batch_execute(&format!(
            "CREATE DATABASE \"{database}\" OWNER \"ores_{env}_owner\""
        ))
        .expect("create psql database");
    connect_admin_to(config, database)
        .expect("connect")
        .batch_execute("CREATE EXTENSION pgcrypto")
        .expect("extension");
    let role = |s: &str| format!("ores_{env}_{s}");
    let vars = [
        ("env", env.to_string()),
        ("db_name", config.database.clone()),
        ("owner_role", role("owner")),
        ("ddl_user", role("ddl_user")),
        ("seed_label", format!("fixture_{env}")),
    ];
    let mut psql = Command::new("psql");
    // psql reads a \copy file relative to its working directory; ores-sql relative to
    // the script, which is the same place when psql runs from there.
    psql.current_dir(root.join("populate/refdata"))
        .args(["-X", "-q", "-1", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &config.host, "-p", &config.port.to_string()])
        .args(["-U", &role("ddl_user"), "-d", database])
        .arg("-f")
        .arg(root.join("setup_schema.sql"))
        .env("ORES_DB_WT_USER_PASSWORD", TOKEN)
        .env_remove("PGPASSWORD");
    for (k, v) in &vars {
        psql.arg("-v").arg(format!("{k}={v}"));
    }
    let out = psql.output().expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Drops the databases a test made besides the environment's own.
struct Extra<'a>(&'a Config, Vec<String>);

impl Drop for Extra<'_> {
    fn drop(&mut self) {
        if let Ok(mut admin) = connect_admin(self.0) {
            for name in &self.1 {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

fn refusal(result: Result<u64, postgres::Error>) -> String {
    match result {
        Ok(n) => panic!("expected a refusal, {n} row(s) changed"),
        Err(e) => e
            .code()
            .map(|c| c.code().to_string())
            .expect("server error"),
    }
}

#[test]
fn builds_with_its_own_roles_and_grants_as_psql_builds_it() {
    let mut env = ScratchEnv::new("et").expect("scratch env");
    env.config
        .passwords
        .insert("wt_user".into(), Secret::new(TOKEN));
    let config = env.config.clone();
    let e = &config.env;
    let manifest = Manifest::from_dir(&fixture()).expect("fixture reads");
    let report =
        ores_sql::recreate_with(&config, &manifest, &env.options).expect("the tree builds");
    assert_eq!(report.scripts_applied, manifest.scripts().len());

    let mut db = connect_admin_to(&config, &config.database).expect("connect");
    // Every object ends up the owner group's, though the scripts ran as the DDL user.
    let owners: Vec<(String, String)> = db
        .query(
            "SELECT c.relname::text, pg_get_userbyid(c.relowner)::text FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(owners.len() >= 6, "{owners:?}");
    for (rel, owner) in &owners {
        assert_eq!(owner, &format!("ores_{e}_owner"), "{rel}");
    }
    let fn_owner: String = db
        .query_one(
            "SELECT pg_get_userbyid(proowner)::text FROM pg_proc WHERE proname = 'ores_utility_label_fn'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(fn_owner, format!("ores_{e}_owner"));
    let made_by: Vec<String> = db
        .query("SELECT DISTINCT made_by FROM ores_synthetic_runs_tbl", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(made_by, [format!("ores_{e}_ddl_user")]);
    // The optional extension the server lacks was skipped; the required one is there.
    let exts: Vec<String> = db
        .query("SELECT extname::text FROM pg_extension ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(exts.contains(&"pgcrypto".to_string()), "{exts:?}");

    // Login users and services are the tree's: wt exists, synthetic writes refdata.
    let mut member_of = |role: &str| -> Vec<String> {
        db.query(
            "SELECT g.rolname::text FROM pg_auth_members m
               JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
              WHERE r.rolname = $1",
            &[&role],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    assert_eq!(
        member_of(&format!("ores_{e}_wt_user")),
        [format!("ores_{e}_rw")]
    );
    let service = |name: &str| {
        config
            .role_pg_config(&format!("ores_{e}_{name}_service"), None)
            .connect(postgres::NoTls)
            .expect("service connection")
    };
    let mut synthetic = service("synthetic");
    synthetic
        .execute(
            "INSERT INTO ores_refdata_currencies_tbl (code, name) VALUES ('CHF', 'Franc')",
            &[],
        )
        .expect("synthetic writes refdata, as its toml says");
    assert_eq!(
        refusal(synthetic.execute("DELETE FROM ores_iam_tenants_tbl", &[])),
        "42501",
        "synthetic only reads the tenants"
    );
    let mut refdata = service("refdata");
    assert_eq!(
        refusal(refdata.execute(
            "INSERT INTO ores_synthetic_runs_tbl (label) VALUES ('x')",
            &[]
        )),
        "42501",
        "refdata may not write synthetic"
    );
    assert_eq!(
        refusal(refdata.execute("DELETE FROM ores_iam_accounts_tbl", &[])),
        "42501"
    );
    synthetic
        .execute(
            "DELETE FROM ores_refdata_currencies_tbl WHERE code = 'CHF'",
            &[],
        )
        .unwrap();

    let theirs = format!("{}_psql", unique_label("et"));
    let _extra = Extra(&config, vec![theirs.clone()]);
    through_psql(&config, &theirs);
    let ours = common::table_contents(&config, &config.database);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        [
            "ores_iam_accounts_tbl",
            "ores_iam_tenants_tbl",
            "ores_refdata_currencies_tbl",
            "ores_refdata_regions_tbl",
            "ores_synthetic_runs_tbl"
        ]
    );
    assert_eq!(ours["ores_refdata_currencies_tbl"].len(), 3, "{ours:?}");
    assert_eq!(ours["ores_synthetic_runs_tbl"].len(), 4, "{ours:?}");
    assert!(
        ours["ores_synthetic_runs_tbl"]
            .iter()
            .any(|r| r.contains("currencies: 3")),
        "a \\gset value reached a later statement: {ours:?}"
    );
    assert_eq!(ours, common::table_contents(&config, &theirs));

    // Validation runs on the foreign tree with its own registry: entry-script rules
    // instead of the layout ones, the catalog rules unchanged, the unreached files
    // listed, and its violations reported without having failed the build above.
    let report = validate::run_with(&config, &manifest, "").expect("validation runs");
    assert!(report.fires("C026", "synthetic:refdata"), "{report}");
    assert!(report.fires("C010", "ores_iam_accounts_tbl"), "{report}");
    for layout_rule in ["S001", "S002", "S005", "S006", "S008"] {
        assert!(report.of_rule(layout_rule).is_empty(), "{report}");
    }
    assert!(
        report.of_rule("C021").is_empty() && report.of_rule("C022").is_empty(),
        "grants follow the tree's registry: {report}"
    );
    assert_eq!(
        report.unreached,
        ["create/legacy/old_create.sql", "drop/drop_all.sql"]
    );
    assert!(
        report
            .to_string()
            .contains("unreached drop/drop_all.sql: no entry script includes it"),
        "{report}"
    );
    let allow = "C026 synthetic:refdata # the generator seeds reference data\n";
    let report = validate::run_with(&config, &manifest, allow).unwrap();
    assert!(!report.fires("C026", "synthetic:refdata"), "{report}");
    assert_eq!(
        report.allowed[0].reason,
        "the generator seeds reference data"
    );
}

#[test]
fn a_failing_statement_in_an_included_file_names_that_file_and_line() {
    let mut env = ScratchEnv::new("et").expect("scratch env");
    env.config
        .passwords
        .insert("wt_user".into(), Secret::new(TOKEN));
    let good = Manifest::from_dir(&fixture()).unwrap();
    ores_sql::recreate_with(&env.config, &good, &env.options).expect("first build");

    let synthetic =
        std::fs::read_to_string(fixture().join("create/synthetic/synthetic_create.sql")).unwrap();
    let broken = copy_with(&[(
        "create/synthetic/synthetic_create.sql",
        &format!("{synthetic}\n-- line 7 is next\ninsert into no_such_table values (1);\n"),
    )]);
    let manifest = Manifest::from_dir(broken.path()).unwrap();
    match ores_sql::recreate_with(&env.config, &manifest, &env.options) {
        Err(Error::Script(f)) => {
            assert_eq!(
                f.path,
                format!(
                    "{}/create/synthetic/synthetic_create.sql",
                    broken.path().display()
                )
            );
            assert_eq!(f.line, Some(8), "{f}");
            assert_eq!(f.sqlstate, "42P01", "{f}");
        }
        other => panic!("expected a script failure, got {other:?}"),
    }
    // A password read with a backtick is never quoted back, here by the server's
    // "invalid input syntax" message.
    let populate =
        std::fs::read_to_string(fixture().join("populate/synthetic/synthetic_populate.sql"))
            .unwrap();
    let leaky = copy_with(&[(
        "populate/synthetic/synthetic_populate.sql",
        &format!(
            "{populate}select :'token'::integer;\nselect 1 where :'token' = 'x'::integer::text;\n"
        ),
    )]);
    let leaky = Manifest::from_dir(leaky.path()).unwrap();
    match ores_sql::recreate_with(&env.config, &leaky, &env.options) {
        Err(Error::Script(f)) => {
            let shown = Error::Script(f.clone()).to_string();
            assert!(!shown.contains(TOKEN), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
            assert_eq!(f.sqlstate, "22P02", "{f}");
            assert_eq!(f.line, Some(8), "{f}");
        }
        other => panic!("expected a script failure, got {other:?}"),
    }
    // The previous database is untouched.
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    let n: i64 = db
        .query_one("SELECT count(*) FROM ores_synthetic_runs_tbl", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 4);
}

#[test]
fn recreate_entity_refuses_an_unknown_entry_key_before_touching_anything() {
    // An entry tree's keys name its create scripts (`iam_tenants` for
    // `create/iam/iam_tenants_create.sql`); a path-shaped key is unknown, with the
    // near keys suggested, before any connection.
    let manifest = Manifest::from_dir(&fixture()).unwrap();
    let config = Config::load().unwrap();
    let e = ores_sql::lifecycle::entity::recreate_entity_with(
        &config,
        &manifest,
        "create_iam_iam_tenants_create",
        false,
    )
    .expect_err("refused");
    assert!(matches!(e, ores_sql::Error::UnknownEntity { .. }), "{e}");
}

#[test]
fn a_parallel_build_of_the_tree_equals_the_one_transaction_build() {
    let mut env = ScratchEnv::new("ep").expect("scratch env");
    env.config
        .passwords
        .insert("wt_user".into(), Secret::new(TOKEN));
    let (sequential, parallel, _cleanup) =
        common::sequential_and_parallel(&env.config, &env.options, 3);
    let manifest = Manifest::from_dir(&fixture()).expect("fixture reads");
    common::build_both(&sequential, &parallel, &manifest);
    // The same schema, the same rows (the `\gset` value included), the same owners.
    assert_eq!(
        common::schema_dump(&sequential, &sequential.database),
        common::schema_dump(&parallel, &parallel.database)
    );
    let rows = common::table_contents(&sequential, &sequential.database);
    assert!(
        rows["ores_synthetic_runs_tbl"]
            .iter()
            .any(|r| r.contains("currencies: 3")),
        "{rows:?}"
    );
    assert_eq!(rows, common::table_contents(&parallel, &parallel.database));
    let owners = |c: &Config| -> Vec<(String, String)> {
        connect_admin_to(c, &c.database)
            .unwrap()
            .query(
                "SELECT relname::text, pg_get_userbyid(relowner)::text FROM pg_class
                  WHERE relnamespace = 'public'::regnamespace ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    assert_eq!(owners(&sequential), owners(&parallel));

    // A failing statement deep in an included file: its path and line, and the
    // previous parallel build stays in place.
    let synthetic =
        std::fs::read_to_string(fixture().join("create/synthetic/synthetic_create.sql")).unwrap();
    let broken = copy_with(&[(
        "create/synthetic/synthetic_create.sql",
        &format!("{synthetic}\n-- line 7 is next\ninsert into no_such_table values (1);\n"),
    )]);
    match parallel.recreate(&Manifest::from_dir(broken.path()).unwrap()) {
        Err(Error::Script(f)) => {
            assert!(
                f.path.ends_with("create/synthetic/synthetic_create.sql"),
                "{f}"
            );
            assert_eq!((f.line, f.sqlstate.as_str()), (Some(8), "42P01"), "{f}");
        }
        other => panic!("expected a script failure, got {other:?}"),
    }
    assert_eq!(rows, common::table_contents(&parallel, &parallel.database));
}

/// `path` of the fixture with `more` after its last line, and the line `more` starts on.
fn appended(path: &str, more: &str) -> (String, usize) {
    let text = std::fs::read_to_string(fixture().join(path)).unwrap();
    let text = text.trim_end();
    (format!("{text}\n{more}\n"), text.lines().count() + 1)
}

fn run_labels(config: &Config, database: &str) -> Vec<String> {
    connect_admin_to(config, database)
        .unwrap()
        .query("SELECT label FROM ores_synthetic_runs_tbl ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn settings_a_file_leaves_in_the_session_hold_in_later_files_on_every_path() {
    // psql's session carries a file's settings into the files after it; the parallel
    // build runs those files on other connections and must hand them on.
    let (utility, _) = appended(
        "create/utility/utility_create.sql",
        "select set_config('fixture.origin', 'set in utility_create', false);\n\
         set datestyle = 'SQL, DMY';\nset intervalstyle = 'postgres_verbose';",
    );
    let (iam, _) = appended("create/iam/iam_create.sql", "reset intervalstyle;");
    let (populate, _) = appended(
        "populate/synthetic/synthetic_populate.sql",
        "insert into ores_synthetic_runs_tbl (label) values\n\
         (current_setting('fixture.origin')), (date '2024-03-01'::text), (interval '90 minutes'::text);",
    );
    let tree = copy_with(&[
        ("create/utility/utility_create.sql", &utility),
        ("create/iam/iam_create.sql", &iam),
        ("populate/synthetic/synthetic_populate.sql", &populate),
    ]);
    let manifest = Manifest::from_dir(tree.path()).expect("tree reads");
    let mut env = ScratchEnv::new("es").expect("scratch env");
    env.config
        .passwords
        .insert("wt_user".into(), Secret::new(TOKEN));
    let (sequential, parallel, _cleanup) =
        common::sequential_and_parallel(&env.config, &env.options, 3);
    common::build_both(&sequential, &parallel, &manifest);
    let psql_db = format!("{}_q", env.config.database);
    let _psql = Extra(&env.config, vec![psql_db.clone()]);
    through_psql_at(&sequential, &psql_db, tree.path());

    let by_psql = run_labels(&sequential, &psql_db);
    for expected in ["set in utility_create", "01/03/2024", "01:30:00"] {
        assert!(
            by_psql.iter().any(|l| l == expected),
            "{expected}: {by_psql:?}"
        );
    }
    assert_eq!(run_labels(&sequential, &sequential.database), by_psql);
    assert_eq!(run_labels(&parallel, &parallel.database), by_psql);
}

#[test]
fn a_session_change_a_parallel_build_cannot_hand_on_builds_on_one_connection() {
    let (utility, _) = appended(
        "create/utility/utility_create.sql",
        "select set_config('fixture.origin', 'mixed', false), 1 as other_work;",
    );
    let tree = copy_with(&[("create/utility/utility_create.sql", &utility)]);
    let manifest = Manifest::from_dir(tree.path()).expect("tree reads");
    let mut env = ScratchEnv::new("eo").expect("scratch env");
    env.config
        .passwords
        .insert("wt_user".into(), Secret::new(TOKEN));
    // Asked for two connections, it takes psql's one: the setting holds in every
    // file after it, which the workers could not have replayed.
    env.options.workers = Some(2);
    let report = ores_sql::recreate_with(&env.config, &manifest, &env.options).expect("built");
    assert_eq!(report.path, ores_sql::lifecycle::version::BuildPath::Full);
    let mut admin = connect_admin(&env.config).unwrap();
    let staging = format!("{}__staging", env.config.database);
    assert!(
        !ores_sql::server::admin::database_exists(&mut admin, &staging).unwrap(),
        "{staging} was left"
    );
}
