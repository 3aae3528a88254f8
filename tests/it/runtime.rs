//! The library inside tokio runtimes (both flavours): the sync API must not panic
//! there, the async API (feature `tokio`) must work, and no destructor that talks to
//! the server may panic, least of all while a panic is unwinding.

use crate::common;
use common::fixture;

use ores_sql::Config;
use ores_sql::lifecycle::EnvLock;
use ores_sql::lifecycle::version::{Drift, check_database};
use ores_sql::server::admin::{connect_admin, database_exists};
use ores_sql::testing::{ScratchEnv, TestDatabase};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// Asks the server on a thread of its own, away from any runtime, so the check does
/// not rely on what is being tested.
fn exists(config: &Config, database: &str) -> bool {
    let (config, database) = (config.clone(), database.to_string());
    std::thread::spawn(move || database_exists(&mut connect_admin(&config)?, &database))
        .join()
        .unwrap()
        .unwrap()
}

fn sync_test_database_round_trip() {
    let db = TestDatabase::new().unwrap();
    let (config, name) = (db.config().clone(), db.name().to_string());
    assert!(matches!(
        check_database(db.config()).unwrap(),
        Drift::Current(_)
    ));
    let listed = ores_sql::inspect::list_databases(db.config()).unwrap();
    assert!(listed.iter().any(|d| d.name == name), "{name} not listed");
    drop(db);
    assert!(!exists(&config, &name), "{name} survived its handle");
}

#[tokio_rt::test(crate = "tokio_rt", flavor = "current_thread")]
async fn sync_test_database_inside_a_current_thread_runtime() {
    sync_test_database_round_trip();
}

#[tokio_rt::test(crate = "tokio_rt", flavor = "multi_thread", worker_threads = 2)]
async fn sync_test_database_inside_a_multi_thread_runtime() {
    sync_test_database_round_trip();
}

fn sync_lifecycle_round_trip() {
    let env = ScratchEnv::new("rt").unwrap();
    let minimal = fixture("minimal");
    let built = ores_sql::recreate_with(&env.config, &minimal, &env.options).unwrap();
    assert_eq!(built.database, env.config.database);
    assert!(exists(&env.config, &env.config.database));
    let gone = ores_sql::teardown_with(&env.config, &env.options).unwrap();
    assert!(gone.database_dropped);
    assert!(!gone.roles_dropped.is_empty());
    assert!(!exists(&env.config, &env.config.database));
}

#[tokio_rt::test(crate = "tokio_rt", flavor = "current_thread")]
async fn sync_recreate_and_teardown_inside_a_current_thread_runtime() {
    sync_lifecycle_round_trip();
}

#[tokio_rt::test(crate = "tokio_rt", flavor = "multi_thread", worker_threads = 2)]
async fn sync_recreate_and_teardown_inside_a_multi_thread_runtime() {
    sync_lifecycle_round_trip();
}

/// Drops a test database, a scratch environment and an environment lock while a
/// panic unwinds through a runtime: before the fix this aborted the process.
fn drops_during_unwinding() {
    let base = Config::load().unwrap();
    let mut seen = None;
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let db = TestDatabase::new().unwrap();
        let env = ScratchEnv::new("rtp").unwrap();
        ores_sql::recreate_with(&env.config, &fixture("minimal"), &env.options).unwrap();
        let lock = EnvLock::acquire(connect_admin(&env.config).unwrap(), &env.config).unwrap();
        seen = Some((db.name().to_string(), env.config.clone()));
        // A tuple drops in field order: the lock first, or the teardown would wait
        // for it.
        let _held = (lock, db, env);
        panic!("on purpose, with the handles alive");
    }));
    assert!(caught.is_err(), "the closure was meant to panic");
    let (name, env) = seen.expect("the handles were made");
    assert!(!exists(&base, &name), "{name} survived the unwinding");
    assert!(
        !exists(&base, &env.database),
        "{} survived the unwinding",
        env.database
    );
    // The lock went with its session: taking it again does not wait.
    let mut quick = env.clone();
    quick.lock_timeout = Duration::from_millis(200);
    drop(EnvLock::acquire(connect_admin(&quick).unwrap(), &quick).unwrap());
}

#[tokio_rt::test(crate = "tokio_rt", flavor = "current_thread")]
async fn drops_during_unwinding_in_a_current_thread_runtime_do_not_abort() {
    drops_during_unwinding();
}

#[tokio_rt::test(crate = "tokio_rt", flavor = "multi_thread", worker_threads = 2)]
async fn drops_during_unwinding_in_a_multi_thread_runtime_do_not_abort() {
    drops_during_unwinding();
}

#[test]
fn drops_during_unwinding_outside_a_runtime_do_not_abort() {
    drops_during_unwinding();
}

#[cfg(feature = "tokio")]
mod asynchronous {
    use super::{exists, fixture};
    use ores_sql::asynchronous;
    use ores_sql::lifecycle::version::Drift;
    use ores_sql::testing::ScratchEnv;

    async fn test_database_round_trip() {
        let db = asynchronous::test_database().await.unwrap();
        let (config, name) = (db.config().clone(), db.name().to_string());
        let client = db.connect("ddl_user").await.unwrap();
        let row = client
            .query_one("SELECT current_user::text, current_database()::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), db.role("ddl_user"));
        assert_eq!(row.get::<_, String>(1), name);
        let drift = asynchronous::check_database(db.config()).await.unwrap();
        assert!(matches!(drift, Drift::Current(_)), "{drift:?}");
        drop(client);
        drop(db);
        assert!(!exists(&config, &name), "{name} survived its handle");
    }

    #[tokio_rt::test(crate = "tokio_rt", flavor = "current_thread")]
    async fn async_test_database_in_a_current_thread_runtime() {
        test_database_round_trip().await;
    }

    #[tokio_rt::test(crate = "tokio_rt", flavor = "multi_thread", worker_threads = 2)]
    async fn async_test_database_in_a_multi_thread_runtime() {
        test_database_round_trip().await;
    }

    async fn lifecycle_round_trip() {
        let env = ScratchEnv::new("art").unwrap();
        let minimal = fixture("minimal");
        let built = asynchronous::setup_with(&env.config, &minimal, &env.options)
            .await
            .unwrap();
        assert_eq!(built.database, env.config.database);
        let err = asynchronous::setup_with(&env.config, &minimal, &env.options)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ores_sql::Error::AlreadyExists(_)),
            "setup over a schema: {err}"
        );
        asynchronous::recreate_with(&env.config, &minimal, &env.options)
            .await
            .unwrap();
        let gone = asynchronous::teardown_with(&env.config, &env.options)
            .await
            .unwrap();
        assert!(gone.database_dropped);
        assert!(!exists(&env.config, &env.config.database));
    }

    #[tokio_rt::test(crate = "tokio_rt", flavor = "current_thread")]
    async fn async_lifecycle_in_a_current_thread_runtime() {
        lifecycle_round_trip().await;
    }

    #[tokio_rt::test(crate = "tokio_rt", flavor = "multi_thread", worker_threads = 2)]
    async fn async_lifecycle_in_a_multi_thread_runtime() {
        lifecycle_round_trip().await;
    }

    #[tokio_rt::test(crate = "tokio_rt", flavor = "current_thread")]
    async fn a_refused_async_connection_says_who_and_where() {
        let db = asynchronous::test_database().await.unwrap();
        let err = db.connect("no_such_user").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&db.role("no_such_user")), "{text}");
        assert!(text.contains(db.name()), "{text}");
    }
}
