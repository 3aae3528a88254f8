//! What `#[ores_sql::test]` expands to: make the database, run the body, then drop the
//! database, or keep it when the test failed and [`KEEP_FAILED_VAR`] says so.

use super::TestDatabase;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;

/// Set to `1` to keep the database of a failed `#[ores_sql::test]` (its name is
/// printed; a later run's cleanup leaves it alone).
pub const KEEP_FAILED_VAR: &str = "ORES_TEST_KEEP_FAILED";

/// Whether a test's return value means it failed.
#[doc(hidden)]
pub trait Outcome {
    /// `true` for a failure.
    fn failed(&self) -> bool;
}

impl Outcome for () {
    fn failed(&self) -> bool {
        false
    }
}

impl<T, E> Outcome for Result<T, E> {
    fn failed(&self) -> bool {
        self.is_err()
    }
}

fn keep_failed() -> bool {
    std::env::var(KEEP_FAILED_VAR).is_ok_and(|v| v == "1")
}

/// A database for the test `name`; when failed ones are kept, its drop hands it back
/// on `tx` instead of dropping it, so the outcome decides.
fn database(name: &str) -> (TestDatabase, Option<mpsc::Receiver<TestDatabase>>) {
    let mut db = TestDatabase::new()
        .unwrap_or_else(|e| panic!("{name}: could not make its test database: {e}"));
    if !keep_failed() {
        return (db, None);
    }
    let (tx, rx) = mpsc::channel();
    db.hand_back = Some(tx);
    (db, Some(rx))
}

fn finish<R: Outcome>(
    name: &str,
    outcome: std::thread::Result<R>,
    rx: Option<mpsc::Receiver<TestDatabase>>,
) -> R {
    let failed = outcome.as_ref().map_or(true, |r| r.failed());
    // Absent if the body kept it itself (or moved it somewhere that still holds it).
    // A passed test's database drops here.
    if let Some(db) = rx.and_then(|rx| rx.try_recv().ok())
        && failed
    {
        eprintln!("{name} failed; keeping its database ({KEEP_FAILED_VAR}=1)");
        db.keep();
    }
    outcome.unwrap_or_else(|panic| resume_unwind(panic))
}

/// Runs a sync test body with a fresh database.
#[doc(hidden)]
pub fn run<R: Outcome>(name: &str, body: impl FnOnce(TestDatabase) -> R) -> R {
    let (db, rx) = database(name);
    let outcome = catch_unwind(AssertUnwindSafe(|| body(db)));
    finish(name, outcome, rx)
}

/// Runs an async test body with a fresh database on a current-thread runtime of its
/// own (what `#[tokio::test]` gives). Needs the `tokio` feature.
#[cfg(feature = "tokio")]
#[doc(hidden)]
pub fn run_async<R: Outcome, F: std::future::Future<Output = R>>(
    name: &str,
    body: impl FnOnce(TestDatabase) -> F,
) -> R {
    let runtime = tokio_rt::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{name}: could not start a tokio runtime: {e}"));
    let (db, rx) = database(name);
    let outcome = catch_unwind(AssertUnwindSafe(|| runtime.block_on(body(db))));
    finish(name, outcome, rx)
}

/// Runs an async test body with a session (as the DDL user, owner role) on a fresh
/// database, which lives until the body is done.
#[cfg(feature = "tokio")]
#[doc(hidden)]
pub fn run_async_client<R: Outcome, F: std::future::Future<Output = R>>(
    name: &str,
    body: impl FnOnce(tokio_postgres::Client) -> F,
) -> R {
    run_async(name, |db| async move {
        let client = db
            .connect("ddl_user")
            .await
            .unwrap_or_else(|e| panic!("{name}: could not connect to its test database: {e}"));
        let outcome = body(client).await;
        drop(db);
        outcome
    })
}
