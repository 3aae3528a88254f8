//! recreate / setup / teardown against the real server.

use crate::common;
use common::fixture;

use ores_sql::server::admin::{connect_admin, connect_admin_to, database_exists};
use ores_sql::server::roles::roles_for;
use ores_sql::testing::ScratchEnv;
use ores_sql::{Error, Manifest};

fn existing_roles(env: &ScratchEnv) -> Vec<String> {
    let names: Vec<String> = roles_for(&env.config.env)
        .into_iter()
        .map(|r| r.name)
        .collect();
    common::existing_roles(&env.config, &names)
}

#[test]
fn recreate_builds_roles_database_extensions_and_build_record() {
    let env = ScratchEnv::new("lc").unwrap();
    let report =
        ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    let manifest = Manifest::compiled();
    assert_eq!(report.scripts_applied, manifest.scripts().len());
    assert!(!report.replaced);

    let expected = roles_for(&env.config.env).len();
    assert_eq!(existing_roles(&env).len(), expected);

    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    let owner: String = db
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, format!("ores_{}_owner", env.config.env));

    let mut exts: Vec<String> = db
        .query(
            "SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    exts.sort();
    assert_eq!(exts, ["btree_gist", "pg_trgm", "pgcrypto"]);

    // Every table belongs to the owner role, not to the superuser that ran the build.
    let foreign: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> $1",
            &[&owner],
        )
        .unwrap()
        .get(0);
    assert_eq!(foreign, 0);
    let tables: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(tables >= 3, "only {tables} tables");

    let info = ores_sql::lifecycle::version::build_info(&mut db)
        .unwrap()
        .expect("build record");
    assert_eq!(info.schema_hash, manifest.schema_hash());
    assert_eq!(info.script_count as usize, manifest.scripts().len());
    assert_eq!(info.crate_version, env!("CARGO_PKG_VERSION"));

    let applied: i64 = db
        .query_one(
            &format!("SELECT count(*) FROM {}", ores_sql::APPLIED_SCRIPTS_TABLE),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(applied as usize, manifest.scripts().len());
}

#[test]
fn recreate_twice_replaces_the_database() {
    let env = ScratchEnv::new("lc").unwrap();
    ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    let second =
        ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    assert!(second.replaced);
    let mut admin = connect_admin(&env.config).unwrap();
    assert!(database_exists(&mut admin, &env.config.database).unwrap());
    let leftovers: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '\\_\\_%'
                AND datname <> $1 || '__template'",
            &[&env.config.database],
        )
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0, "staging or retired database left behind");
}

#[test]
fn setup_refuses_a_database_that_holds_a_schema() {
    let env = ScratchEnv::new("lc").unwrap();
    ores_sql::setup_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    match ores_sql::setup_with(&env.config, ores_sql::Manifest::compiled(), &env.options) {
        Err(Error::AlreadyExists(db)) => assert_eq!(db, env.config.database),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[test]
fn setup_fills_an_existing_empty_database() {
    let env = ScratchEnv::new("lc").unwrap();
    let mut admin = connect_admin(&env.config).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{}\"", env.config.database))
        .unwrap();
    ores_sql::setup_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    assert!(
        ores_sql::lifecycle::version::build_info(&mut db)
            .unwrap()
            .is_some()
    );
}

#[test]
fn teardown_removes_one_environment_and_spares_another() {
    let doomed = ScratchEnv::new("td").unwrap();
    let survivor = ScratchEnv::new("td").unwrap();
    ores_sql::recreate_with(
        &doomed.config,
        ores_sql::Manifest::compiled(),
        &doomed.options,
    )
    .unwrap();
    ores_sql::recreate_with(
        &survivor.config,
        ores_sql::Manifest::compiled(),
        &survivor.options,
    )
    .unwrap();

    let report = ores_sql::teardown_with(&doomed.config, &doomed.options).unwrap();
    assert!(report.database_dropped);
    assert_eq!(
        report.roles_dropped.len(),
        roles_for(&doomed.config.env).len()
    );

    let mut admin = connect_admin(&doomed.config).unwrap();
    assert!(!database_exists(&mut admin, &doomed.config.database).unwrap());
    assert!(existing_roles(&doomed).is_empty());
    assert!(database_exists(&mut admin, &survivor.config.database).unwrap());
    assert_eq!(
        existing_roles(&survivor).len(),
        roles_for(&survivor.config.env).len()
    );
    // The survivor still works.
    let mut db = connect_admin_to(&survivor.config, &survivor.config.database).unwrap();
    assert!(
        ores_sql::lifecycle::version::build_info(&mut db)
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_broken_script_reports_path_line_and_sqlstate_and_leaves_nothing() {
    let env = ScratchEnv::new("br").unwrap();
    let err =
        ores_sql::recreate_with(&env.config, &fixture("broken_middle"), &env.options).unwrap_err();
    let Error::Script(failure) = &err else {
        panic!("expected a script failure, got {err:?}");
    };
    assert!(
        failure.path.ends_with("create/01_iam/020_iam_gadgets.sql"),
        "{}",
        failure.path
    );
    assert_eq!(failure.sqlstate, "42P01");
    assert_eq!(failure.line, Some(4));
    assert!(err.to_string().contains("020_iam_gadgets.sql:4"), "{err}");

    let mut admin = connect_admin(&env.config).unwrap();
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '%'",
            &[&env.config.database],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "a half-built database was left behind");
}

#[test]
fn a_failed_rebuild_leaves_the_previous_database_intact() {
    let env = ScratchEnv::new("br").unwrap();
    ores_sql::recreate_with(&env.config, &fixture("minimal"), &env.options).unwrap();
    ores_sql::recreate_with(&env.config, &fixture("broken_middle"), &env.options).unwrap_err();
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    let name: String = db
        .query_one("SELECT name FROM ores_iam_widgets_tbl WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(name, "first");
}

#[test]
fn recreate_refuses_while_others_are_connected_unless_told_to_terminate() {
    let env = ScratchEnv::new("cn").unwrap();
    ores_sql::recreate_with(&env.config, &fixture("minimal"), &env.options).unwrap();
    let _other = connect_admin_to(&env.config, &env.config.database).unwrap();

    let polite = env.options.clone().kill(false);
    match ores_sql::recreate_with(&env.config, &fixture("minimal"), &polite) {
        Err(Error::ActiveConnections { database, sessions }) => {
            assert_eq!(database, env.config.database);
            assert_eq!(sessions.len(), 1);
            assert!(sessions[0].contains("ores-sql"), "{sessions:?}");
        }
        other => panic!("expected ActiveConnections, got {other:?}"),
    }
    // Terminating works and the database is rebuilt.
    assert!(
        ores_sql::recreate_with(&env.config, &fixture("minimal"), &env.options)
            .unwrap()
            .replaced
    );
}

#[test]
fn scratch_environments_of_dead_processes_are_swept_and_live_ones_kept() {
    use ores_sql::testing::owner::{Owner, base36};
    let live = ScratchEnv::new("swl").unwrap();
    ores_sql::recreate_with(&live.config, &fixture("minimal"), &live.options).unwrap();

    // A process that has exited: its pid no longer carries its start time.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let me = Owner::current();
    let dead_label = format!(
        "swd__{}_{}_{}_0",
        me.host,
        base36(pid as u64),
        base36(me.start + 1)
    );
    let dead = live.config.clone().with_env(&dead_label).unwrap();
    ores_sql::recreate_with(&dead, &fixture("minimal"), &live.options).unwrap();
    let dead_env = ScratchEnv {
        config: dead.clone(),
        options: live.options.clone(),
    };

    let removed = ores_sql::testing::sweep_dead_scratch_envs(&live.config).unwrap();
    assert!(removed.contains(&dead_label), "{removed:?}");
    assert!(!removed.contains(&live.config.env), "{removed:?}");
    let mut admin = connect_admin(&live.config).unwrap();
    assert!(!database_exists(&mut admin, &dead.database).unwrap());
    assert!(existing_roles(&dead_env).is_empty());
    assert!(database_exists(&mut admin, &live.config.database).unwrap());
    assert_eq!(
        existing_roles(&live).len(),
        roles_for(&live.config.env).len()
    );
}

#[test]
fn a_session_that_slips_into_staging_cannot_break_the_swap() {
    let env = ScratchEnv::new("sw").unwrap();
    ores_sql::recreate_with(&env.config, &fixture("minimal"), &env.options).unwrap();
    let staging = format!("{}__staging", env.config.database);
    let config = env.config.clone();
    // An intruder connects to staging while it is being built and stays there.
    let intruder = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if let Ok(c) = connect_admin_to(&config, &staging) {
                return Some(c);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        None
    });
    let built = ores_sql::recreate_with(&env.config, Manifest::compiled(), &env.options);
    let mut intruder = intruder
        .join()
        .unwrap()
        .expect("the intruder reached the staging database");
    let report = built.unwrap();
    assert!(report.replaced);
    // Its session was ended before the swap; the database is open under its name.
    assert!(intruder.simple_query("SELECT 1").is_err());
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    let tables: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'ores_iam_tenants_tbl'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1);
    let mut admin = connect_admin(&env.config).unwrap();
    for leftover in ["__staging", "__retired"] {
        let name = format!("{}{leftover}", env.config.database);
        assert!(
            !database_exists(&mut admin, &name).unwrap(),
            "{name} left behind"
        );
    }
}

#[test]
fn teardown_of_another_database_name_refuses_while_the_roles_still_own_one_and_drops_nothing() {
    let env = ScratchEnv::new("tu").unwrap();
    ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    // The same environment, another database name (as `ORES_DB_NAME` unset would
    // give): its roles own the database built above.
    let other = env
        .config
        .clone()
        .with_database(&format!("{}_elsewhere", env.config.database))
        .unwrap();
    let err = ores_sql::teardown_with(&other, &env.options).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, ores_sql::Error::EnvironmentInUse { databases, .. }
            if databases == std::slice::from_ref(&env.config.database)),
        "{message}"
    );
    assert!(message.contains("compass db drop") && message.contains("nothing was dropped"));
    let mut admin = connect_admin(&env.config).unwrap();
    assert!(database_exists(&mut admin, &env.config.database).unwrap());
    assert_eq!(existing_roles(&env).len(), roles_for(&env.config.env).len());
    // Its own database name tears it down.
    ores_sql::teardown_with(&env.config, &env.options).unwrap();
    assert!(existing_roles(&env).is_empty());
}
