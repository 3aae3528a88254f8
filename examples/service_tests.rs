//! How a service's integration tests use `#[ores_sql::test]`: each test gets a fresh
//! clone of the template database, dropped when the test ends (kept if it failed and
//! `ORES_TEST_KEEP_FAILED=1`). Run with `cargo test --example service_tests`.

fn main() {
    println!("this example holds tests: cargo test --example service_tests");
}

#[cfg(test)]
mod tests {
    use ores_sql::testing::{SYSTEM_TENANT_ID, TestDatabase};

    /// A sync test: sessions are `postgres::Client`s.
    #[ores_sql::test]
    fn the_system_tenant_sees_itself(db: TestDatabase) -> ores_sql::Result<()> {
        let mut iam = db.tenant_session("iam", SYSTEM_TENANT_ID)?;
        let rows = iam
            .query(
                "SELECT 1 FROM ores_iam_tenants_tbl WHERE code = 'system'",
                &[],
            )
            .expect("query as the iam service");
        assert_eq!(rows.len(), 1);
        Ok(())
    }

    /// An async test (feature `tokio`): runs on a current-thread runtime; sessions are
    /// `tokio_postgres::Client`s.
    #[ores_sql::test]
    async fn the_owner_sees_the_seeded_tenants(db: TestDatabase) {
        let owner = db.connect("ddl_user").await.unwrap();
        let row = owner
            .query_one("SELECT count(*) FROM ores_iam_tenants_tbl", &[])
            .await
            .unwrap();
        assert!(row.get::<_, i64>(0) >= 1);
    }
}
