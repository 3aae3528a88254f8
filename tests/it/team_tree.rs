//! Every command on a tree shaped like the ORE Studio team's own
//! (`tests/fixtures/team_tree`): psql entry scripts, a create, drop and
//! notify-trigger script per entity, its own version table, resets that return
//! `void` after choosing the system tenant, and none of ores-sql's own tables.

#![cfg(feature = "cli")]

use crate::cli_support::{Cli, stderr, stdout};
use crate::common::{assert_same_schema, fixture, schema_dump, write_script};
use std::path::PathBuf;

fn team_tree() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/team_tree")
}

fn run(cli: &Cli, args: &[&str]) -> std::process::Output {
    let out = cli.compass().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

#[test]
fn status_version_and_resets_work_on_a_tree_without_our_tables() {
    let cli = Cli::new("tts");
    let dir = team_tree();
    let dir = dir.to_str().unwrap();
    let label = cli.label().to_string();
    // Built from nothing through `env recreate --sql-dir`.
    run(
        &cli,
        &[
            "env",
            "recreate",
            "-e",
            &label,
            "-y",
            "-k",
            "--sql-dir",
            dir,
        ],
    );
    assert_eq!(
        cli.count("SELECT count(*) FROM pg_class WHERE relname = 'ores_database_builds_tbl'"),
        0,
        "the fixture must not have our record table"
    );

    // The engine's record: current against the tree, from the flag or ORES_SQL_DIR.
    let out = run(&cli, &["db", "status", "--sql-dir", dir]);
    assert!(stdout(&out).contains("current"), "{}", stdout(&out));
    let out = cli
        .compass()
        .args(["db", "status"])
        .env("ORES_SQL_DIR", dir)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("current"), "{}", stdout(&out));
    // Against the compiled tree it is another schema.
    let out = run(&cli, &["db", "status"]);
    assert!(stdout(&out).contains("STALE"), "{}", stdout(&out));

    // version: the record and the tree's own row, in text and JSON.
    let out = run(&cli, &["db", "version", "--sql-dir", dir]);
    assert!(
        stdout(&out).contains("release: fixture-1.0"),
        "{}",
        stdout(&out)
    );
    let out = run(&cli, &["db", "version", "--json", "--sql-dir", dir]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "current", "{v}");
    assert_eq!(v["build_path"], "full", "{v}");
    assert_eq!(v["built_by"], cli.env.config.admin_user.as_str(), "{v}");
    assert_eq!(v["ddl_login"], format!("ores_{label}_ddl_user"), "{v}");
    assert_eq!(v["tree_version"]["release"], "fixture-1.0", "{v}");
    assert_eq!(v["tree_version"]["schema_version"], "7", "{v}");

    // A changed script: stale.
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&team_tree(), copy.path());
    write_script(
        copy.path(),
        "populate/info_populate.sql",
        "INSERT INTO ores_database_info_tbl (release, schema_version) VALUES ('fixture-1.1', 8);\n",
    );
    let out = run(
        &cli,
        &["db", "status", "--sql-dir", copy.path().to_str().unwrap()],
    );
    assert!(stdout(&out).contains("STALE"), "{}", stdout(&out));

    // reset-tenant: the team's function, after choosing the system tenant.
    let accounts = |code: &str| {
        cli.count(&format!(
            "SELECT count(*) FROM ores_iam_accounts_tbl a JOIN ores_iam_tenants_tbl t USING (tenant_id)
              WHERE t.code = '{code}'"
        ))
    };
    assert_eq!((accounts("acme"), accounts("globex")), (2, 2));
    let out = run(
        &cli,
        &["db", "reset-tenant", "-t", "acme", "-y", "--sql-dir", dir],
    );
    assert!(
        stdout(&out).contains(&format!("as ores_{label}_ddl_user")),
        "{}",
        stdout(&out)
    );
    assert_eq!((accounts("acme"), accounts("globex")), (0, 2));
    assert_eq!(
        cli.count("SELECT count(*) FROM ores_iam_tenants_tbl WHERE code = 'acme' AND bootstrap"),
        1
    );
    // A failing command: one line, nothing changed.
    let out = cli
        .compass()
        .args(["db", "reset-tenant", "-t", "nobody", "-y", "--sql-dir", dir])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no tenant nobody"),
        "{}",
        stderr(&out)
    );

    // reset-system: every other tenant and every account go, bootstrap on.
    run(&cli, &["db", "reset-system", "-y", "--sql-dir", dir]);
    assert_eq!(cli.count("SELECT count(*) FROM ores_iam_tenants_tbl"), 1);
    assert_eq!(cli.count("SELECT count(*) FROM ores_iam_accounts_tbl"), 0);
    assert_eq!(
        cli.count("SELECT count(*) FROM ores_iam_tenants_tbl WHERE code = 'system' AND bootstrap"),
        1
    );

    // A tree that describes no commands: the error names the key to add.
    let other = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/entry_tree");
    let out = cli
        .compass()
        .args([
            "db",
            "reset-system",
            "-y",
            "--sql-dir",
            other.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("reset_system") && stderr(&out).contains("[commands]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn recreate_entity_rebuilds_one_entity_of_an_entry_tree() {
    let cli = Cli::new("tte");
    let dir = team_tree();
    let dir = dir.to_str().unwrap();
    ores_sql::recreate_with(&cli.env.config, &fixture("team_tree"), &cli.env.options).unwrap();
    let full = schema_dump(&cli.env.config, cli.database());

    let out = run(&cli, &["db", "recreate-entity", "--list", "--sql-dir", dir]);
    assert!(
        stdout(&out).contains("refdata_currencies"),
        "{}",
        stdout(&out)
    );

    // Rows: refused without --force, nothing changed.
    let out = cli
        .compass()
        .args([
            "db",
            "recreate-entity",
            "refdata_currencies",
            "--sql-dir",
            dir,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    let mut db = cli.db();
    let rows: i64 = db
        .query_one("SELECT count(*) FROM ores_refdata_currencies_tbl", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 2, "refusal changed the rows");

    let out = run(
        &cli,
        &[
            "db",
            "recreate-entity",
            "refdata_currencies",
            "--force",
            "-y",
            "--sql-dir",
            dir,
        ],
    );
    let text = stdout(&out);
    for script in [
        "drop/refdata/currencies_notify_trigger_drop.sql",
        "drop/refdata/currencies_drop.sql",
        "create/refdata/currencies_create.sql",
        "create/refdata/currencies_notify_trigger_create.sql",
    ] {
        assert!(text.contains(script), "{script} not run: {text}");
    }
    assert!(!text.contains("countries_create"), "{text}");
    // The schema is the full build's: table, index, policy, trigger, function, the
    // foreign key countries had on it, the grants and the owner.
    assert_same_schema(
        &full,
        &schema_dump(&cli.env.config, cli.database()),
        "after recreate-entity",
    );
    let owner: String = db
        .query_one(
            "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'ores_refdata_currencies_tbl'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, format!("ores_{}_owner", cli.label()));
    let rows: i64 = db
        .query_one("SELECT count(*) FROM ores_refdata_currencies_tbl", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    // The rest of the database is as it was.
    assert_eq!(cli.count("SELECT count(*) FROM ores_iam_accounts_tbl"), 6);

    // An unknown key suggests the near ones.
    let out = cli
        .compass()
        .args([
            "db",
            "recreate-entity",
            "refdata_currency",
            "--sql-dir",
            dir,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refdata_currencies"),
        "{}",
        stderr(&out)
    );
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        if entry.file_type().is_file() {
            write_script(
                to,
                rel.to_str().unwrap(),
                std::fs::read(entry.path()).unwrap(),
            );
        }
    }
}
