//! `compass db recreate-entity` against the real server: refusals, foreign keys that
//! point at the entity, objects that would be lost, and rollback.

#![cfg(feature = "cli")]

use crate::cli_support;

use cli_support::{Cli, fixture, stderr, stdout};
use predicates::prelude::*;

/// The fixture schema these tests run against, so they do not move when `sql/` grows.
const SCHEMA: &str = "entity_cli";

fn schema_dir() -> String {
    format!("{}/tests/fixtures/{SCHEMA}", env!("CARGO_MANIFEST_DIR"))
}

/// `compass db recreate-entity --sql-dir <fixture> ARGS...`
fn recreate_entity(cli: &Cli, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = cli.compass();
    cmd.args(["db", "recreate-entity", "--sql-dir", &schema_dir()])
        .args(args);
    cmd
}

#[test]
fn unknown_entities_are_refused_with_close_matches() {
    let cli = Cli::new("cen");
    let out = recreate_entity(&cli, &["iam_tenant"]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("unknown entity \"iam_tenant\""), "{err}");
    assert!(err.contains("iam_tenants"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    recreate_entity(&cli, &["--list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("iam_tenants"))
        .stdout(predicate::str::contains(
            "create/01_iam/020_iam_tenants.sql",
        ));

    // The provisioner's own record is not an entity one may rebuild alone.
    recreate_entity(&cli, &["database_builds", "--force", "-y"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("compass db recreate"));
}

fn rows(cli: &Cli, table: &str) -> i64 {
    cli.count(&format!("SELECT count(*) FROM {table}"))
}

#[test]
fn recreate_entity_keeps_constraints_grants_and_never_loses_rows_silently() {
    let cli = Cli::new("cee");
    ores_sql::recreate_with(&cli.env.config, &fixture(SCHEMA), &cli.env.options).unwrap();
    let types = "ores_iam_tenant_types_tbl";
    let tenants = "ores_iam_tenants_tbl";
    let seeded = rows(&cli, types);
    assert!(seeded > 0);

    // Rows present: refused without --force, and nothing changed.
    let out = recreate_entity(&cli, &["iam_tenant_types"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{types}: {seeded}")),
        "{}",
        stderr(&out)
    );

    // --force discards rows, so it asks first; without a terminal that is a refusal.
    recreate_entity(&cli, &["iam_tenant_types", "--force"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pass -y"));

    // With --force -y: rebuilt, re-seeded, and the foreign key from the tenants
    // table (which DROP ... CASCADE removes) is put back.
    let out = recreate_entity(&cli, &["iam_tenant_types", "--force", "-y"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("discarded {seeded} row(s)")),
        "{text}"
    );
    assert!(text.contains("restored foreign key"), "{text}");
    assert_eq!(rows(&cli, types), seeded);
    let fks = cli.count(&format!(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f'
           AND conrelid = '{tenants}'::regclass AND confrelid = '{types}'::regclass"
    ));
    assert_eq!(fks, 1);
    let mut db = cli.db();
    let owner: String = db
        .query_one(
            &format!("SELECT tableowner::text FROM pg_tables WHERE tablename = '{types}'"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, format!("ores_{}_owner", cli.label()));
    let iam = format!("ores_{}_iam_service", cli.label());
    let trading = format!("ores_{}_trading_service", cli.label());
    let can = |db: &mut postgres::Client, role: &str, privilege: &str| -> bool {
        db.query_one(
            "SELECT has_table_privilege($1, $2, $3)",
            &[&role, &types, &privilege],
        )
        .unwrap()
        .get(0)
    };
    assert!(can(&mut db, &iam, "INSERT"));
    assert!(can(&mut db, &trading, "SELECT"));
    assert!(!can(&mut db, &trading, "INSERT"));

    // An empty table needs no --force; RLS comes back with the script.
    db.batch_execute(&format!("DELETE FROM {tenants}")).unwrap();
    recreate_entity(&cli, &["iam_tenants"]).assert().success();
    assert_eq!(
        rows(&cli, tenants),
        1,
        "populate re-seeds the system tenant"
    );
    let forced: bool = db
        .query_one(
            &format!("SELECT relforcerowsecurity FROM pg_class WHERE oid = '{tenants}'::regclass"),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(forced);

    // Rows elsewhere refer to a type the populate script does not bring back: the
    // foreign key cannot be restored, so everything is rolled back.
    db.batch_execute(&format!(
        "INSERT INTO {types} (code, name) VALUES ('extra', 'Extra');
         INSERT INTO {tenants} (code, type_code) VALUES ('acme', 'extra');"
    ))
    .unwrap();
    let out = recreate_entity(&cli, &["iam_tenant_types", "--force", "-y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("restoring foreign key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(rows(&cli, types), seeded + 1);
    assert_eq!(rows(&cli, tenants), 2);

    // A view of another entity depends on the table: refused, named, rolled back.
    db.batch_execute(&format!(
        "SET ROLE ores_{}_owner;
         CREATE VIEW ores_iam_tenant_codes_vw AS SELECT code FROM {tenants};
         RESET ROLE;",
        cli.label()
    ))
    .unwrap();
    let out = recreate_entity(&cli, &["iam_tenants", "--force", "-y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("ores_iam_tenant_codes_vw"), "{err}");
    assert!(err.contains("recreate the whole database"), "{err}");
    assert_eq!(rows(&cli, tenants), 2);
    assert_eq!(
        cli.count("SELECT count(*) FROM pg_views WHERE viewname = 'ores_iam_tenant_codes_vw'"),
        1
    );
}

#[test]
fn recreate_entity_needs_a_database() {
    let cli = Cli::new("cem");
    recreate_entity(&cli, &["iam_tenants"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not exist"));
}

#[test]
fn an_edited_entity_replaces_its_own_objects_and_keeps_everyone_elses() {
    let cli = Cli::new("ced");
    ores_sql::recreate_with(
        &cli.env.config,
        &cli_support::fixture("entity_v1"),
        &cli.env.options,
    )
    .unwrap();
    let edited = cli_support::fixture("entity_v2");
    let report = ores_sql::lifecycle::entity::recreate_entity_with(
        &cli.env.config,
        &edited,
        "iam_widgets",
        false,
    )
    .unwrap();
    assert!(report.database_was_stale, "built from another manifest");
    assert_eq!(report.tables, ["ores_iam_widgets_tbl"]);
    assert_eq!(report.foreign_keys_restored.len(), 1, "{report:?}");
    let has = |sql: &str| cli.count(sql) == 1;
    assert!(has(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'widgets_lower_name_idx'"
    ));
    assert!(!has(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'widgets_name_idx'"
    ));
    assert!(has(
        "SELECT count(*) FROM information_schema.columns
          WHERE table_name = 'ores_iam_widgets_tbl' AND column_name = 'colour'"
    ));
    assert!(has("SELECT count(*) FROM pg_constraint WHERE contype = 'f'
          AND conrelid = 'ores_iam_gadgets_tbl'::regclass
          AND confrelid = 'ores_iam_widgets_tbl'::regclass"));
}

#[test]
fn a_sql_dir_that_does_not_exist_is_an_error_not_an_empty_tree() {
    let cli = Cli::new("cnd");
    let out = cli
        .compass()
        .args([
            "db",
            "recreate-entity",
            "--sql-dir",
            "/nonexistent/ores-sql-tree",
            "--list",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
}
