//! The one rule of which databases a command may touch, enforced by every library
//! entry point that builds, fills, drops or resets a database.

use crate::common;

use ores_sql::lifecycle::{drop::drop_named, entity::recreate_entity, reset};
use ores_sql::server::admin::{connect_admin, connect_admin_to};
use ores_sql::testing::ScratchEnv;
use ores_sql::{Config, Error, Manifest, RunOptions};

fn fixture() -> Manifest {
    common::fixture("minimal")
}

/// Every entry point that changes a database, run against `config`'s database.
fn every_entry_point(config: &Config) -> Vec<(&'static str, Result<(), Error>)> {
    let options = RunOptions::new().kill(true);
    vec![
        (
            "recreate",
            ores_sql::recreate_with(config, &fixture(), &options).map(drop),
        ),
        (
            "setup",
            ores_sql::setup_with(config, &fixture(), &options).map(drop),
        ),
        (
            "teardown",
            ores_sql::teardown_with(config, &options).map(drop),
        ),
        ("drop", drop_named(config, &config.database, true).map(drop)),
        (
            "entity",
            recreate_entity(config, "iam_tenants", true).map(drop),
        ),
        ("reset", reset::reset_system(config).map(drop)),
    ]
}

fn assert_all_refused(config: &Config, why: &str) {
    for (entry, outcome) in every_entry_point(config) {
        match outcome {
            Err(Error::Protected { reason, .. }) => {
                assert!(reason.contains(why), "{entry}: {reason}")
            }
            other => panic!("{entry} on {} was not refused: {other:?}", config.database),
        }
    }
}

/// A database of someone else's, holding a row that must survive.
fn precious_database(config: &Config, name: &str) {
    let mut admin = connect_admin(config).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    connect_admin_to(config, name)
        .unwrap()
        .batch_execute("CREATE TABLE precious (x text); INSERT INTO precious VALUES ('kept')")
        .unwrap();
}

fn still_precious(config: &Config, name: &str) -> String {
    connect_admin_to(config, name)
        .unwrap()
        .query_one("SELECT x FROM precious", &[])
        .unwrap()
        .get(0)
}

#[test]
fn a_database_outside_the_ores_pattern_is_never_touched() {
    let env = ScratchEnv::new("tgt").unwrap();
    let name = format!("myapp_{}", env.config.env);
    precious_database(&env.config, &name);
    let config = env.config.clone().with_database(&name).unwrap();
    assert_all_refused(&config, "not an ORE Studio database");
    assert_eq!(still_precious(&env.config, &name), "kept");
    connect_admin(&env.config)
        .unwrap()
        .batch_execute(&format!("DROP DATABASE {name}"))
        .unwrap();
}

#[test]
fn the_swap_suffixes_are_not_database_names() {
    let env = ScratchEnv::new("tgs").unwrap();
    for suffix in ["__staging", "__retired", "__template", "__spare", "__stale"] {
        let name = format!("ores_dev_{}{suffix}", env.config.env);
        let config = env.config.clone().with_database(&name).unwrap();
        assert_all_refused(&config, suffix);
    }
}

#[test]
fn one_environment_never_touches_another_environments_database() {
    let a = ScratchEnv::new("tga").unwrap();
    let b = ScratchEnv::new("tgb").unwrap();
    ores_sql::recreate_with(&a.config, &fixture(), &a.options).unwrap();
    connect_admin_to(&a.config, &a.config.database)
        .unwrap()
        .batch_execute("UPDATE ores_iam_widgets_tbl SET name = 'kept'")
        .unwrap();
    let intruder = b.config.clone().with_database(&a.config.database).unwrap();
    assert_all_refused(
        &intruder,
        &format!("belongs to environment `{}`", a.config.env),
    );
    let name: String = connect_admin_to(&a.config, &a.config.database)
        .unwrap()
        .query_one("SELECT name FROM ores_iam_widgets_tbl LIMIT 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(name, "kept");
}
