//! `compass db recreate / setup / drop / teardown / status / version / list / roles /
//! connections / sql` run as a binary against the real server.

#![cfg(feature = "cli")]

use crate::cli_support;

use cli_support::{Cli, stderr, stdout};
use ores_sql::Manifest;
use predicates::prelude::*;

#[test]
fn status_and_version_of_a_missing_database() {
    let cli = Cli::new("clm");
    // Nothing yet: status says so plainly, version is an error.
    cli.compass()
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("missing"));
    cli.compass()
        .args(["db", "version"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not exist"));
}

#[test]
fn recreate_without_a_terminal_or_yes_fails_at_once() {
    let cli = Cli::new("cly");
    // No terminal and no -y: fail at once, never wait.
    let out = cli
        .compass()
        .args(["db", "recreate"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pass -y"), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn recreate_builds_and_status_version_list_and_roles_describe_it() {
    let cli = Cli::new("clc");
    let hash = Manifest::compiled().schema_hash();
    cli.compass()
        .args(["db", "recreate", "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "built {}",
            cli.database()
        )));

    cli.compass()
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("current"))
        .stdout(predicate::str::contains(hash))
        .stdout(predicate::str::contains("connections:   0"));
    let out = cli
        .compass()
        .args(["db", "version", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "current");
    assert_eq!(v["schema_hash"], hash);
    assert_eq!(v["script_count"], Manifest::compiled().scripts().len());
    cli.compass()
        .args(["db", "version"])
        .assert()
        .success()
        .stdout(predicate::str::contains(hash));

    // Inspection.
    cli.compass()
        .args(["db", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(cli.database()));
    let roles = ores_sql::server::roles::roles_for(cli.label()).len();
    cli.compass()
        .args(["db", "roles"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{roles} of {roles} roles exist"
        )))
        .stdout(predicate::str::contains(format!(
            "ores_{}_iam_service",
            cli.label()
        )));
}

#[test]
fn sql_logs_in_as_a_role_of_the_environment() {
    let cli = Cli::new("clq");
    cli.build();
    // psql with credentials from the environment, as a login role of the environment.
    let out = cli
        .compass()
        .args([
            "db",
            "sql",
            "-u",
            "readonly_user",
            "--",
            "-tAc",
            "select current_user",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("ores_{}_readonly_user", cli.label())
    );
}

#[test]
fn an_open_session_blocks_recreate_and_drop_until_kill_and_staleness_shows() {
    let cli = Cli::new("clk");
    cli.build();
    // A session is open: recreate and drop refuse and say who it is.
    let (holder, pid) = cli.open_session();
    let out = cli
        .compass()
        .args(["db", "recreate", "-y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(
        err.contains("cli-test-holder") && err.contains("--kill"),
        "{err}"
    );
    let out = cli
        .compass()
        .args(["db", "drop", cli.database(), "-y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("pid {pid}")),
        "{}",
        stderr(&out)
    );
    cli.compass()
        .args(["db", "connections"])
        .assert()
        .success()
        .stdout(predicate::str::contains(pid.to_string()))
        .stdout(predicate::str::contains("1 session(s)"));
    cli.compass()
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("connections:   1"));

    // Make it stale behind the binary's back: status and version say so.
    cli.db()
        .batch_execute(&format!(
            "UPDATE ores_sql.builds SET schema_hash = '{}'",
            "0".repeat(64)
        ))
        .unwrap();
    cli.compass()
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("STALE"));
    let out = cli
        .compass()
        .args(["db", "version", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "stale");

    // -k: the session is terminated and the rebuild goes through.
    cli.compass()
        .args(["db", "recreate", "-y", "-k"])
        .assert()
        .success()
        .stdout(predicate::str::contains("rebuilt"));
    drop(holder);
    cli.compass()
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("current"));
}

#[test]
fn setup_never_overwrites_a_schema() {
    let cli = Cli::new("clo");
    cli.build();
    // setup never overwrites a schema.
    cli.compass()
        .args(["db", "setup"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already holds a schema"));
}

#[test]
fn connections_kill_needs_confirmation_then_terminates() {
    let cli = Cli::new("clx");
    cli.build();
    // connections --kill needs confirmation, then terminates.
    let (_holder, _) = cli.open_session();
    cli.compass()
        .args(["db", "connections", "--kill"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pass -y"));
    cli.compass()
        .args(["db", "connections", "--kill", "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains("terminated 1 session(s)"));
}

#[test]
fn teardown_needs_confirmation_and_removes_the_database_and_every_role() {
    let cli = Cli::new("clt");
    cli.build();
    // teardown: database and every role of the environment.
    cli.compass()
        .args(["db", "teardown"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pass -y"));
    cli.compass()
        .args(["db", "teardown", "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "dropped {}",
            cli.database()
        )));
    let left: i64 = cli
        .admin()
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)",
            &[&ores_sql::server::roles::roles_for(cli.label())
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[test]
fn setup_a_named_database_then_drop_it() {
    let cli = Cli::new("cls");
    let name = format!("ores_{}_named", cli.label());
    cli.compass()
        .args(["db", "setup", &name])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("set up {name}")));
    let exists =
        |cli: &Cli| ores_sql::server::admin::database_exists(&mut cli.admin(), &name).unwrap();
    assert!(exists(&cli));
    cli.compass()
        .args(["db", "drop", &name])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pass -y"));
    assert!(exists(&cli));
    cli.compass()
        .args(["db", "drop", &name, "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("dropped {name}")));
    assert!(!exists(&cli));
    cli.compass()
        .args(["db", "drop", &name, "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to drop"));
}

#[test]
fn drop_refuses_system_and_foreign_databases() {
    let cli = Cli::new("cld");
    for name in ["postgres", "template0", "template1", "myapp", "ores"] {
        let out = cli
            .compass()
            .args(["db", "drop", name, "-y", "-k"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name} was not refused");
        let err = stderr(&out);
        assert!(err.contains("refusing to touch database"), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // The system databases are still there.
    let n: i64 = cli
        .admin()
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname IN ('postgres', 'template0', 'template1')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
    // Recreate and teardown refuse foreign names as well: they drop what they replace.
    cli.compass()
        .args(["db", "recreate", "-y", "-D", "myapp"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not an ORE Studio database"));
    cli.compass()
        .args(["db", "teardown", "postgres", "-y"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("refusing"));
}

#[test]
fn bad_environment_labels_are_rejected_before_any_sql() {
    let cli = Cli::new("cle");
    for bad in ["Bad", "a;drop", "a-b", "x\"y"] {
        cli.compass()
            .args(["db", "status", "-e", bad])
            .assert()
            .failure()
            .stderr(predicate::str::contains("invalid environment label"));
        cli.compass()
            .env("ORES_ENV", bad)
            .args(["db", "roles"])
            .assert()
            .failure()
            .stderr(predicate::str::contains("invalid environment label"));
    }
}

#[test]
fn a_database_without_build_record_is_not_ores() {
    let cli = Cli::new("cln");
    let name = format!("ores_{}_plain", cli.label());
    cli.admin()
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let run = |args: &[&str]| {
        cli.compass()
            .env("ORES_DB_NAME", &name)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["db", "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("not an ORE Studio database"),
        "{}",
        stdout(&out)
    );
    let out = run(&["db", "version"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no build record"), "{}", stderr(&out));
    let out = run(&["db", "version", "--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "not_ores");
    ores_sql::server::admin::drop_database(&mut cli.admin(), &name, true).unwrap();
}

#[test]
fn sql_refuses_unknown_and_group_roles() {
    let cli = Cli::new("clq");
    cli.compass()
        .args(["db", "sql", "-u", "nobody", "--", "-c", "select 1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no login role"))
        .stderr(predicate::str::contains("cli_user"));
    cli.compass()
        .args(["db", "sql", "-u", "owner"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("group role"));
}

#[test]
fn recreate_says_which_path_built_it_and_takes_workers_from_the_flag_or_the_environment() {
    let cli = Cli::new("clw");
    let path_of = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = cli.compass();
        cmd.args(["db", "recreate", "-y", "-k"]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let recorded: String = cli
            .db()
            .query_one("SELECT build_path FROM ores_sql.builds", &[])
            .unwrap()
            .get(0);
        assert!(
            stdout(&out).contains(&format!("{recorded} build")),
            "{}",
            stdout(&out)
        );
        recorded
    };
    // The default follows the machine's cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let default = if cores > 1 { "parallel" } else { "full" };
    assert_eq!(path_of(&[], &[]), default);
    assert_eq!(path_of(&[], &[]), "cached");
    assert_eq!(path_of(&["--rebuild", "--workers", "2"], &[]), "parallel");
    assert_eq!(
        path_of(&["--rebuild"], &[("ORES_DB_BUILD_WORKERS", "2")]),
        "parallel"
    );
    assert_eq!(
        path_of(
            &["--rebuild", "--workers", "1"],
            &[("ORES_DB_BUILD_WORKERS", "2")]
        ),
        "full"
    );
    // Nonsense is refused before anything is touched, naming what was wrong.
    // A recreate makes a new database: its OID tells whether anything was rebuilt.
    let oid = || -> u32 {
        cli.admin()
            .query_one(
                "SELECT oid FROM pg_database WHERE datname = $1",
                &[&cli.database()],
            )
            .unwrap()
            .get(0)
    };
    let before = oid();
    for (args, env) in [
        (&["--workers", "0"][..], None),
        (&[][..], Some(("ORES_DB_BUILD_WORKERS", "many"))),
        (&[][..], Some(("ORES_DB_BUILD_WORKERS", "0"))),
    ] {
        let mut cmd = cli.compass();
        cmd.args(["db", "recreate", "-y", "-k", "--rebuild"])
            .args(args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{args:?} {env:?} was accepted");
        let err = stderr(&out);
        assert!(
            err.contains("workers") || err.contains("ORES_DB_BUILD_WORKERS"),
            "{err}"
        );
    }
    assert_eq!(oid(), before, "a refused recreate rebuilt the database");
}

#[test]
fn recreate_returns_once_in_place_and_a_process_of_its_own_tidies_under_the_lock() {
    let cli = Cli::new("clt");
    let recreate = || {
        let out = cli
            .compass()
            .args(["db", "recreate", "-y", "-k"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    recreate();
    recreate();
    // The tidying process holds the environment's lock until it is done: taking the
    // lock waits for it, as any other run would (polled, since the process may not
    // have taken the lock yet when compass returned).
    let config = &cli.env.config;
    let db = cli.database().to_string();
    let tidy = vec![
        db.clone(),
        format!("{db}__spare"),
        format!("{db}__template"),
    ];
    let mut names = Vec::new();
    for _ in 0..300 {
        let lock = ores_sql::lifecycle::EnvLock::acquire(
            ores_sql::server::admin::connect_admin(config).unwrap(),
            config,
        )
        .unwrap();
        names = cli
            .admin()
            .query(
                "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
                &[&cli.database()],
            )
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        drop(lock);
        if names == tidy {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(names, tidy, "the previous copy dropped, a spare made");
    // The next unchanged recreate takes that spare.
    let spare_oid: u32 = cli
        .admin()
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = $1",
            &[&format!("{db}__spare")],
        )
        .unwrap()
        .get(0);
    recreate();
    let live_oid: u32 = cli
        .admin()
        .query_one("SELECT oid FROM pg_database WHERE datname = $1", &[&db])
        .unwrap()
        .get(0);
    assert_eq!(live_oid, spare_oid);
}
