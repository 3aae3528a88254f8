//! `#[ores_sql::test]`: sync and async bodies get a fresh database, it is dropped
//! afterwards, and kept when the test fails and `ORES_TEST_KEEP_FAILED=1`.
//!
//! The keep/drop tests re-run this binary as a child (the `child_*` test, ignored and
//! inert unless `ORES_TEST_CHILD` is set) so the failing test is a real one.

use ores_sql::Config;
use ores_sql::server::admin::{connect_admin, database_exists};
use ores_sql::testing::TestDatabase;
use ores_sql::testing::attribute::KEEP_FAILED_VAR;
use ores_sql::testing::names::KEPT_COMMENT;
use std::process::Command;

#[ores_sql::test]
fn a_sync_test_gets_its_own_database(db: TestDatabase) {
    let mut owner = db.ddl_user().unwrap();
    let row = owner
        .query_one(
            "SELECT current_database()::text, count(*) FROM ores_iam_tenants_tbl",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.name());
    assert!(row.get::<_, i64>(1) >= 1, "the seed data is there");
}

#[ores_sql::test]
fn a_test_may_return_a_result(db: TestDatabase) -> ores_sql::Result<()> {
    let mut iam = db.service("iam")?;
    iam.simple_query("SELECT 1")
        .map_err(|source| ores_sql::Error::Postgres {
            context: "querying as the iam service".into(),
            source,
        })?;
    Ok(())
}

#[ores_sql::test]
async fn an_async_test_gets_its_own_database(db: TestDatabase) {
    let client = db.connect("ddl_user").await.unwrap();
    let row = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.name());
}

#[ores_sql::test]
async fn an_async_test_may_take_a_session(client: tokio_postgres::Client) {
    let row = client
        .query_one(
            "SELECT current_user::text, starts_with(current_database(), 'ores_t_'),
                    count(*) FROM ores_iam_tenants_tbl",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, String>(0).ends_with("_ddl_user"), "{row:?}");
    assert!(row.get::<_, bool>(1), "not a test database");
    assert!(row.get::<_, i64>(2) >= 1, "the seed data is there");
}

#[ores_sql::test]
#[ignore = "run by the keep/drop tests as a child process"]
fn child_fails_with_its_database(db: TestDatabase) {
    if std::env::var_os("ORES_TEST_CHILD").is_none() {
        return;
    }
    println!("DATABASE={}", db.name());
    panic!("failing on purpose");
}

/// Runs the failing child test and returns the name of the database it had.
fn failing_child(keep: bool) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "attribute::child_fails_with_its_database",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("ORES_TEST_CHILD", "1")
    .env_remove(KEEP_FAILED_VAR);
    if keep {
        cmd.env(KEEP_FAILED_VAR, "1");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !out.status.success(),
        "the child was meant to fail:\n{stdout}"
    );
    stdout
        .lines()
        .find_map(|l| l.split_once("DATABASE=").map(|(_, name)| name.trim()))
        .unwrap_or_else(|| {
            panic!(
                "the child printed no database:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string()
}

#[test]
fn a_failed_test_database_is_dropped_unless_asked_to_keep_it() {
    let mut admin = connect_admin(&Config::load().unwrap()).unwrap();
    let dropped = failing_child(false);
    assert!(
        !database_exists(&mut admin, &dropped).unwrap(),
        "{dropped} was kept"
    );

    let kept = failing_child(true);
    let comment: Option<String> = admin
        .query_opt(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&kept],
        )
        .unwrap()
        .map(|r| r.get(0));
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{kept}\" WITH (FORCE)"))
        .unwrap();
    assert_eq!(
        comment.as_deref(),
        Some(KEPT_COMMENT),
        "{kept} was not kept"
    );
}
