//! No database the engine builds or copies is reachable before its grants (issue 28,
//! finding 2). While builds and cached copies are made (full, parallel, cached from
//! the spare copy and from the template), sessions of the environment's own logins
//! (one in the owner group, one in `rw`) and another environment's DDL login keep
//! trying to connect to `<db>__staging` and plant a row; none gets in, and nothing
//! any of them did is in the result.

use crate::common;
use ores_sql::server::admin::{connect_admin_to, connect_within};
use ores_sql::testing::ScratchEnv;
use ores_sql::{Config, Manifest, RunOptions};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const TREE: [(&str, &str); 2] = [
    (
        "create/01_iam/010_iam_widgets.sql",
        "CREATE TABLE ores_iam_widgets_tbl (id integer PRIMARY KEY, name text NOT NULL);",
    ),
    (
        "populate/01_iam/010_iam_widgets.sql",
        "INSERT INTO ores_iam_widgets_tbl VALUES (1, 'built');",
    ),
];

/// Tries, until told to stop, to get into `database` as each of `roles` and plant a
/// row; returns who got in.
fn intruders(config: &Config, database: &str, roles: &[String], stop: &AtomicBool) -> Vec<String> {
    let got_in = Mutex::new(Vec::new());
    while !stop.load(Ordering::Relaxed) {
        for role in roles {
            let mut pg = config.role_pg_config(role, None);
            pg.dbname(database);
            if let Ok(mut c) = connect_within(pg, Duration::from_secs(2), role.clone()) {
                got_in.lock().unwrap().push(role.clone());
                let _ = c.batch_execute(
                    "INSERT INTO ores_iam_widgets_tbl VALUES (99, 'planted');
                     CREATE TABLE ores_iam_planted_tbl (x integer);",
                );
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    got_in.into_inner().unwrap()
}

#[test]
fn staging_and_cached_copies_admit_nobody_but_the_build() {
    let env = ScratchEnv::new("sa").expect("scratch env");
    let other = ScratchEnv::new("sao").expect("scratch env");
    let dir = common::tree(&TREE);
    let m = Manifest::from_dir(dir.path()).unwrap();
    ores_sql::recreate_with(&other.config, &m, &other.options).unwrap();
    ores_sql::recreate_with(&env.config, &m, &env.options).unwrap();

    let staging = format!("{}__staging", env.config.database);
    let roles = vec![
        format!("ores_{}_test_ddl_user", env.config.env),
        format!("ores_{}_cli_user", env.config.env),
        format!("ores_{}_ddl_user", other.config.env),
    ];
    let stop = AtomicBool::new(false);
    let got_in = std::thread::scope(|s| {
        let probe = s.spawn(|| intruders(&env.config, &staging, &roles, &stop));
        // A failed run must stop the probe too, or the scope would wait for it forever.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        let runs = [
            (
                "full",
                RunOptions::new().kill(true).rebuild(true).workers(1),
            ),
            (
                "parallel",
                RunOptions::new().kill(true).rebuild(true).workers(2),
            ),
            (
                "cached",
                RunOptions::new().kill(true).retire_in_background(true),
            ),
            ("cached", RunOptions::new().kill(true)),
        ];
        for (path, options) in runs {
            let report = ores_sql::recreate_with(&env.config, &m, &options)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(report.path.as_str(), path);
            ores_sql::lifecycle::retire::wait_for_background();
        }
        stop.store(true, Ordering::Relaxed);
        probe.join().unwrap()
    });
    assert!(got_in.is_empty(), "got into staging: {got_in:?}");
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    assert_eq!(
        common::texts(&mut db, "SELECT name FROM ores_iam_widgets_tbl ORDER BY id"),
        ["built"]
    );
    let planted = common::count(
        &mut db,
        "SELECT count(*) FROM pg_class WHERE relname = 'ores_iam_planted_tbl'",
    );
    assert_eq!(planted, 0);
}
