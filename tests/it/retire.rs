//! Dropping the previous copy in the background: the new database is in place when
//! recreate returns, runs stay serialised while the drop runs, and a copy left behind
//! (the process ended first) is removed by the next run.

use ores_sql::lifecycle::retire::wait_for_background;
use ores_sql::lifecycle::target::RETIRED_SUFFIX;
use ores_sql::server::admin::{connect_admin, connect_admin_to, database_exists};
use ores_sql::testing::ScratchEnv;
use ores_sql::{Config, Manifest};
use std::path::Path;

fn fixture() -> Manifest {
    Manifest::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal"))
        .expect("fixture manifest")
}

fn widget(config: &Config) -> String {
    connect_admin_to(config, &config.database)
        .unwrap()
        .query_one("SELECT name FROM ores_iam_widgets_tbl WHERE id = 1", &[])
        .unwrap()
        .get(0)
}

#[test]
fn the_previous_copy_is_dropped_in_the_background_and_runs_stay_serialised() {
    let env = ScratchEnv::new("rb").unwrap();
    let config = env.config.clone();
    let options = env.options.clone().retire_in_background(true);
    ores_sql::recreate_with(&config, &fixture(), &options).unwrap();
    let report = ores_sql::recreate_with(&config, &fixture(), &options).unwrap();
    assert!(report.replaced);
    assert!(report.usable_after <= report.elapsed);
    // Usable now, whatever the background thread is doing.
    assert_eq!(widget(&config), "first");
    // Two more runs right away, from two threads: each waits for the lock the
    // previous drop holds, and all succeed.
    std::thread::scope(|s| {
        let a = s.spawn(|| ores_sql::recreate_with(&config, &fixture(), &options));
        let b = s.spawn(|| ores_sql::recreate_with(&config, &fixture(), &options));
        a.join().unwrap().unwrap();
        b.join().unwrap().unwrap();
    });
    wait_for_background();
    let retired = format!("{}{RETIRED_SUFFIX}", config.database);
    let mut admin = connect_admin(&config).unwrap();
    assert!(!database_exists(&mut admin, &retired).unwrap());
    assert_eq!(widget(&config), "first");
}

#[test]
fn a_retired_copy_left_next_to_the_live_database_is_dropped_by_the_next_run() {
    let env = ScratchEnv::new("rl").unwrap();
    ores_sql::recreate_with(&env.config, &fixture(), &env.options).unwrap();
    // What a process that ended before its background drop leaves: the previous
    // copy, closed, beside the live database.
    let retired = format!("{}{RETIRED_SUFFIX}", env.config.database);
    let mut admin = connect_admin(&env.config).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{retired}\""))
        .unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{retired}\" WITH ALLOW_CONNECTIONS false"
        ))
        .unwrap();
    connect_admin_to(&env.config, &env.config.database)
        .unwrap()
        .batch_execute("UPDATE ores_iam_widgets_tbl SET name = 'live' WHERE id = 1")
        .unwrap();
    // setup refuses the live database (it holds a schema) but first cleans up.
    assert!(ores_sql::setup_with(&env.config, &fixture(), &env.options).is_err());
    assert!(!database_exists(&mut admin, &retired).unwrap());
    assert_eq!(widget(&env.config), "live");
}
