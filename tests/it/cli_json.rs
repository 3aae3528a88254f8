//! `--json` on `db status`, `version`, `list`, `roles`, `connections` and `validate`:
//! one JSON document on standard output and nothing else (each test parses all of
//! it), in the shapes docs/json.md documents.

#![cfg(feature = "cli")]

use crate::cli_support;

use cli_support::{Cli, stderr};
use ores_sql::Manifest;
use serde_json::Value;

/// Runs compass with `args`, parses its whole standard output as one JSON value.
fn json(cli: &Cli, args: &[&str]) -> (bool, Value) {
    let out = cli.compass().args(args).output().unwrap();
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    (out.status.success(), value)
}

#[test]
fn status_json_reports_the_build_and_who_is_connected() {
    let cli = Cli::new("jst");
    cli.build();
    let (_session, pid) = cli.open_session();
    let (ok, v) = json(&cli, &["db", "status", "--json"]);
    assert!(ok, "{v}");
    assert_eq!(v["state"], "current");
    assert_eq!(v["database"], cli.database());
    assert_eq!(v["env"], cli.label());
    assert_eq!(v["schema_hash"], Manifest::compiled().schema_hash());
    assert_eq!(
        v["compiled_schema_hash"],
        Manifest::compiled().schema_hash()
    );
    assert_eq!(
        v["compiled_script_count"],
        Manifest::compiled().scripts().len()
    );
    assert_eq!(v["connections"], 1, "{v}");
    assert_eq!(v["sessions"][0]["pid"], pid, "{v}");
    assert_eq!(v["connections_by_user"][0]["count"], 1, "{v}");
    assert_eq!(
        v["connections_by_user"][0]["user"], v["sessions"][0]["user"],
        "{v}"
    );
}

#[test]
fn version_json_of_a_missing_database_says_missing_and_fails() {
    let cli = Cli::new("jvm");
    let (ok, v) = json(&cli, &["db", "version", "--json"]);
    assert!(!ok, "a database without a build record must exit 1: {v}");
    assert_eq!(v["state"], "missing");
    assert!(v["schema_hash"].is_null(), "{v}");
    assert_eq!(
        v["compiled_schema_hash"],
        Manifest::compiled().schema_hash()
    );
}

#[test]
fn list_json_names_the_environment_database_and_its_owner() {
    let cli = Cli::new("jls");
    cli.build();
    let (ok, v) = json(&cli, &["db", "list", "--json"]);
    assert!(ok, "{v}");
    assert_eq!(v["env_database"], cli.database());
    let ours: Vec<&Value> = v["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == cli.database())
        .collect();
    assert_eq!(ours.len(), 1, "{v}");
    assert_eq!(ours[0]["owner"], format!("ores_{}_owner", cli.label()));
    assert_eq!(ours[0]["allows_connections"], true);
    assert_eq!(ours[0]["kind"], Value::Null);
    // The build's cached copy is listed for what it is.
    let kind_of = |name: String| {
        v["databases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name.as_str())
            .map(|d| d["kind"].clone())
    };
    assert_eq!(
        kind_of(format!("{}__template", cli.database())),
        Some(Value::from("cached build")),
        "{v}"
    );
    assert!(
        v["databases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["name"].as_str().unwrap().starts_with("ores_")),
        "{v}"
    );
}

#[test]
fn roles_json_lists_every_role_and_a_role_altered_by_hand() {
    let cli = Cli::new("jrl");
    cli.build();
    let expected: Vec<String> = ores_sql::server::roles::roles_for(cli.label())
        .into_iter()
        .map(|r| r.name)
        .collect();
    let cli_user = format!("ores_{}_cli_user", cli.label());
    cli.admin()
        .batch_execute(&format!("ALTER ROLE \"{cli_user}\" CREATEDB"))
        .unwrap();
    let (ok, v) = json(&cli, &["db", "roles", "--json"]);
    assert!(ok, "{v}");
    assert_eq!(v["env"], cli.label());
    let roles = v["roles"].as_array().unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, expected);
    assert!(roles.iter().all(|r| r["exists"] == true), "{v}");
    for r in roles {
        let problems = r["problems"].as_array().unwrap();
        if r["name"] == cli_user.as_str() {
            assert!(
                problems
                    .iter()
                    .any(|p| p.as_str().unwrap().contains("CREATEDB")),
                "{r}"
            );
        } else {
            assert!(problems.is_empty(), "{r}");
        }
    }
}

#[test]
fn connections_json_lists_a_held_session() {
    let cli = Cli::new("jcn");
    cli.build();
    let (_session, pid) = cli.open_session();
    let (ok, v) = json(&cli, &["db", "connections", "--json"]);
    assert!(ok, "{v}");
    assert_eq!(v["database"], cli.database());
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{v}");
    assert_eq!(sessions[0]["pid"], pid);
}

#[test]
fn validate_json_is_clean_on_the_built_schema_and_names_a_broken_table() {
    let cli = Cli::new("jvd");
    cli.build();
    let (ok, v) = json(&cli, &["db", "validate", "--json"]);
    assert!(ok, "{v}");
    assert_eq!(v["violations"], Value::Array(vec![]), "{v}");
    assert!(v["plpgsql_checked"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["database"], cli.database());

    cli.db()
        .batch_execute("ALTER TABLE ores_iam_tenants_tbl NO FORCE ROW LEVEL SECURITY")
        .unwrap();
    let (ok, v) = json(&cli, &["db", "validate", "--json"]);
    assert!(!ok, "a violation must exit 1: {v}");
    let hits: Vec<&Value> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["object"] == "ores_iam_tenants_tbl")
        .collect();
    assert_eq!(hits.len(), 1, "{v}");
    assert!(hits[0]["rule"].as_str().unwrap().starts_with('C'), "{v}");
    assert!(
        hits[0]["message"].as_str().unwrap().contains("not forced"),
        "{v}"
    );
    // Every violation carries its rule's level, category and remedy, and the
    // summary counts them per rule, worst first.
    assert_eq!(hits[0]["level"], "error", "{v}");
    assert_eq!(hits[0]["category"], "security", "{v}");
    assert!(
        hits[0]["remediation"].as_str().unwrap().contains("FORCE"),
        "{v}"
    );
    assert_eq!(v["by_rule"][0]["rule"], hits[0]["rule"], "{v}");
    assert_eq!(v["by_rule"][0]["count"], 1, "{v}");
    assert_eq!(v["fail_on"], "warning", "{v}");
    assert!(v["sets"].as_array().unwrap().len() > 1, "{v}");
}
