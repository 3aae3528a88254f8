//! A tree's scripts cannot leave the DDL login (issue 23, finding 1): every script
//! runs in a session whose session user is the environment's DDL login, so what
//! needs the administrator's rights is refused, on every builder, under a superuser
//! administrator and under a CREATEDB+CREATEROLE one. Each refusal names the file,
//! the line and SQLSTATE 42501, and the previous database stays.

use crate::common;

use ores_sql::server::admin::{connect_admin, connect_admin_to};
use ores_sql::testing::{EmbeddedCluster, ScratchEnv, unique_label};
use ores_sql::{Config, Error, Manifest, RunOptions};

/// An entry-script tree like the team's; `attack` (if any) is the populate script's
/// second line, after a `RESET ROLE`.
fn entry_tree(attack: Option<&str>) -> tempfile::TempDir {
    let populate = match attack {
        None => "insert into ores_iam_who_tbl select session_user, current_user;\n".to_string(),
        Some(a) => format!("reset role;\n{a};\n"),
    };
    common::tree(&[
        ("ores-sql.toml", "entry = [\"setup.sql\"]\n"),
        ("setup.sql", "\\ir create/who.sql\n\\ir populate/who.sql\n"),
        (
            "create/who.sql",
            "create table ores_iam_who_tbl (session_name text not null, current_name text not null);\n",
        ),
        ("populate/who.sql", populate.as_str()),
    ])
}

/// A numeric-layout tree with the same shape.
fn numeric_tree(attack: Option<&str>) -> tempfile::TempDir {
    let populate = match attack {
        None => "INSERT INTO ores_iam_who_tbl SELECT session_user, current_user;\n".to_string(),
        Some(a) => format!("RESET ROLE;\n{a};\n"),
    };
    common::tree(&[
        (
            "create/01_iam/010_iam_who.sql",
            "CREATE TABLE ores_iam_who_tbl (session_name text NOT NULL, current_name text NOT NULL);\n",
        ),
        ("populate/01_iam/010_iam_who.sql", populate.as_str()),
    ])
}

/// What the tree's attacks try, each needing more than the owner group has.
fn attacks(admin: &str, other_role: &str) -> Vec<String> {
    vec![
        format!("set role \"{admin}\""),
        format!("set session authorization \"{admin}\""),
        "create temp table sh (l text); copy sh from program 'id'".into(),
        "select pg_read_file('/etc/passwd')".into(),
        "create role ores_probe_evil superuser login".into(),
        format!("alter role \"{other_role}\" password 'taken'"),
        "grant pg_execute_server_program to current_user".into(),
    ]
}

fn who(config: &Config) -> Vec<String> {
    let mut db = connect_admin_to(config, &config.database).unwrap();
    common::texts(
        &mut db,
        "SELECT session_name || ' ' || current_name FROM ores_iam_who_tbl",
    )
}

fn taking(workers: usize) -> RunOptions {
    RunOptions::new().kill(true).rebuild(true).workers(workers)
}

/// Builds the good trees, then each attack on both layouts and both builders:
/// every one refused at its own line with 42501, the good database kept.
fn every_attack_is_refused(config: &Config, other_role: &str) {
    let ddl = format!("ores_{}_ddl_user", config.env);
    let owner = format!("ores_{}_owner", config.env);
    for (layout, tree) in [
        ("entry", entry_tree as fn(Option<&str>) -> tempfile::TempDir),
        ("numeric", numeric_tree),
    ] {
        // An entry tree runs as the DDL login itself; a numeric one as the owner group,
        // which the DDL login took with SET ROLE.
        let acting = if layout == "entry" { &ddl } else { &owner };
        for workers in [1, 2] {
            let options = taking(workers);
            let good = tree(None);
            ores_sql::recreate_with(config, &Manifest::from_dir(good.path()).unwrap(), &options)
                .unwrap_or_else(|e| panic!("{layout}, {workers} worker(s): {e}"));
            assert_eq!(
                who(config),
                [format!("{ddl} {acting}")],
                "{layout}, {workers}"
            );

            for attack in attacks(&config.admin_user, other_role) {
                let bad = tree(Some(&attack));
                let m = Manifest::from_dir(bad.path()).unwrap();
                match ores_sql::recreate_with(config, &m, &options) {
                    Err(Error::Script(f)) => {
                        assert_eq!(f.sqlstate, "42501", "{layout}/{workers}: {attack}: {f}");
                        assert_eq!(f.line, Some(2), "{layout}/{workers}: {attack}: {f}");
                        assert!(f.path.contains("who.sql"), "{f}");
                    }
                    other => panic!("{layout}, {workers} worker(s): {attack}: {other:?}"),
                }
                assert_eq!(who(config), [format!("{ddl} {acting}")], "{attack}");
            }
        }
    }
    let mut admin = connect_admin(config).unwrap();
    let evil = common::count(
        &mut admin,
        "SELECT count(*) FROM pg_roles WHERE rolname = 'ores_probe_evil'",
    );
    assert_eq!(evil, 0, "no role was created");
}

#[test]
fn a_tree_cannot_leave_the_ddl_login_under_a_superuser() {
    let env = ScratchEnv::new("ts").expect("scratch env");
    // Another environment's login, which the tree must not be able to change.
    let other = ScratchEnv::new("tso").expect("scratch env");
    ores_sql::recreate_with(
        &other.config,
        &Manifest::from_dir(entry_tree(None).path()).unwrap(),
        &other.options,
    )
    .unwrap();
    let other_role = format!("ores_{}_test_ddl_user", other.config.env);
    let before = verifier(&other.config, &other_role);
    every_attack_is_refused(&env.config, &other_role);
    assert_eq!(verifier(&other.config, &other_role), before);
}

fn verifier(config: &Config, role: &str) -> Option<String> {
    connect_admin(config)
        .unwrap()
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&role],
        )
        .unwrap()
        .get(0)
}

/// A login with CREATEDB and CREATEROLE but not a superuser, as managed services give,
/// on the run's private cluster; dropped (with its environment) at the end.
#[test]
fn a_tree_cannot_leave_the_ddl_login_under_a_createdb_createrole_administrator() {
    let cluster = EmbeddedCluster::for_this_run().expect("private test cluster");
    let base = cluster.config(Config::load().expect("configuration"));
    let env = unique_label("tsm");
    let su = base.with_env(&env).unwrap();
    let admin = format!("mgd_{env}");
    let mut root = connect_admin(&su).unwrap();
    root.batch_execute(&format!(
        "CREATE ROLE \"{admin}\" LOGIN NOSUPERUSER CREATEDB CREATEROLE INHERIT"
    ))
    .unwrap();
    // A role of another environment this login also manages.
    let other_role = format!("ores_{env}x_iam_service");
    root.batch_execute(&format!("CREATE ROLE \"{other_role}\" LOGIN"))
        .unwrap();
    let mut config = su.clone();
    config.admin_user = admin.clone();
    let outcome = std::panic::catch_unwind(|| every_attack_is_refused(&config, &other_role));
    ores_sql::teardown_with(&config, &RunOptions::new().kill(true)).unwrap();
    root.batch_execute(&format!(
        "DROP ROLE \"{other_role}\"; DROP OWNED BY \"{admin}\"; DROP ROLE \"{admin}\""
    ))
    .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}
