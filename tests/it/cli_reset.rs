//! `compass db reset-system` / `reset-tenant`: the CLI calls the schema's reset
//! functions. A fixture schema with known rows pins down the plumbing (confirmation,
//! the function's result, errors, rollback); the compiled schema is exercised too
//! once it has the functions.

#![cfg(feature = "cli")]

use crate::cli_support;

use cli_support::{Cli, fixture, stderr, stdout};
use ores_sql::lifecycle::reset::has_function;
use predicates::prelude::*;

fn tenants_and_accounts(cli: &Cli) -> (i64, i64) {
    (
        cli.count("SELECT count(*) FROM ores_iam_tenants_tbl"),
        cli.count("SELECT count(*) FROM ores_iam_accounts_tbl"),
    )
}

#[test]
fn reset_commands_call_the_schema_functions_and_count_rows() {
    let cli = Cli::new("crs");
    ores_sql::recreate_with(&cli.env.config, &fixture("reset"), &cli.env.options).unwrap();
    assert_eq!(tenants_and_accounts(&cli), (3, 4));

    // Destructive: no terminal and no -y is a refusal, and nothing changes.
    cli.compass()
        .args(["db", "reset-tenant", "-t", "acme"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pass -y"));
    cli.compass()
        .args(["db", "reset-system"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pass -y"));
    assert_eq!(tenants_and_accounts(&cli), (3, 4));

    // One tenant: its accounts go, everyone else's stay.
    let out = cli
        .compass()
        .args(["db", "reset-tenant", "-t", "acme", "-y"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ores_iam_reset_tenant_fn: 2"),
        "{}",
        stdout(&out)
    );
    assert_eq!(tenants_and_accounts(&cli), (3, 2));
    assert_eq!(
        cli.count("SELECT count(*) FROM ores_iam_accounts_tbl WHERE username IN ('admin', 'bob')"),
        2
    );
    assert_eq!(
        cli.count("SELECT count(*) FROM ores_iam_tenants_tbl WHERE bootstrap"),
        1
    );

    // A failing function: one line with its message, and the transaction is gone.
    let out = cli
        .compass()
        .args(["db", "reset-tenant", "-t", "initech", "-y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no tenant with code initech"), "{err}");
    assert!(err.contains("P0002"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // The system: every other tenant goes (their accounts with them), the system
    // tenant stays and is back in bootstrap mode.
    let out = cli
        .compass()
        .args(["db", "reset-system", "-y"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ores_iam_reset_system_fn: 2"),
        "{}",
        stdout(&out)
    );
    assert_eq!(tenants_and_accounts(&cli), (1, 1));
    assert_eq!(
        cli.count("SELECT count(*) FROM ores_iam_tenants_tbl WHERE code = 'system' AND bootstrap"),
        1
    );
}

#[test]
fn reset_against_the_compiled_schema() {
    let cli = Cli::new("crc");
    cli.build();
    let config = &cli.env.config;
    assert!(has_function(config, "ores_iam_reset_system_fn()").unwrap());
    assert!(has_function(config, "ores_iam_reset_tenant_fn(text)").unwrap());

    // Reference data (every table outside IAM) must survive a system reset. The
    // settings table is the exception by design: bootstrap mode is switched back on,
    // which writes a new version of that setting (checked below).
    let mut db = cli.db();
    let tables = cli_support::common::texts(
        &mut db,
        "SELECT tablename::text FROM pg_tables
          WHERE schemaname = 'public' AND tablename NOT LIKE 'ores\\_iam\\_%'
            AND tablename <> 'ores_variability_system_settings_tbl'
          ORDER BY 1",
    );
    let counts = |db: &mut postgres::Client| -> Vec<i64> {
        tables
            .iter()
            .map(|t| {
                db.query_one(&format!("SELECT count(*) FROM \"{t}\""), &[])
                    .unwrap()
                    .get(0)
            })
            .collect()
    };
    let before = counts(&mut db);
    cli.compass()
        .args(["db", "reset-system", "-y"])
        .assert()
        .success();
    assert_eq!(
        counts(&mut db),
        before,
        "reference data changed: {tables:?}"
    );
    let system = cli.count(
        "SELECT count(*) FROM ores_iam_tenants_tbl
          WHERE tenant_id = ores_utility_system_tenant_id_fn()",
    );
    assert!(system >= 1, "the system tenant must survive a system reset");
    let bootstrap_on = cli.count(
        "SELECT count(*) FROM ores_variability_system_settings_tbl
          WHERE tenant_id = ores_utility_system_tenant_id_fn()
            AND name = 'system.bootstrap_mode' AND value = 'true'
            AND valid_to = ores_utility_infinity_timestamp_fn()",
    );
    assert_eq!(
        bootstrap_on, 1,
        "reset-system must turn bootstrap mode back on"
    );
}
