//! Seeding during a build skips the versioning trigger's per-row read-and-close
//! (`Config::bulk_seed`): a bulk-seeded build must hold exactly what a row-by-row
//! build holds, and no session but the build may skip the trigger's checks.

use crate::common;

use ores_sql::Config;
use ores_sql::server::admin::connect_admin_to;
use ores_sql::testing::{ScratchEnv, TestDatabase};
use std::collections::BTreeMap;

/// Every versioned table's rows as JSON, without what differs between two builds by
/// nature (timestamps, generated ids) and with the environment's label masked.
fn versioned_rows(config: &Config) -> BTreeMap<String, Vec<String>> {
    let mut db = connect_admin_to(config, &config.database).expect("connect");
    let tables: Vec<(String, Vec<String>)> = db
        .query(
            "SELECT c.table_name::text,
                    array_agg(c.column_name::text ORDER BY c.column_name)
                      FILTER (WHERE c.data_type LIKE 'timestamp%'
                                 OR (c.data_type = 'uuid' AND c.column_name <> 'tenant_id'))
               FROM information_schema.columns c
              WHERE c.table_schema = 'public'
                AND c.table_name IN (SELECT table_name FROM information_schema.columns
                                      WHERE table_schema = 'public' AND column_name = 'valid_to')
              GROUP BY 1 ORDER BY 1",
            &[],
        )
        .expect("versioned tables")
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get::<_, Option<Vec<String>>>(1).unwrap_or_default(),
            )
        })
        .collect();
    tables
        .into_iter()
        .map(|(table, volatile)| {
            let rows: Vec<String> = db
                .query(
                    &format!(
                        "SELECT replace((to_jsonb(t) - $1::text[])::text, $2, 'E')
                              || CASE WHEN valid_to = ores_utility_infinity_timestamp_fn() THEN ' current' ELSE ' closed' END
                           FROM \"{table}\" t ORDER BY 1"
                    ),
                    &[&volatile, &format!("ores_{}_", config.env)],
                )
                .expect("rows")
                .iter()
                .map(|r| r.get(0))
                .collect();
            (table, rows)
        })
        .collect()
}

#[test]
fn a_bulk_seeded_build_holds_what_a_row_by_row_build_holds() {
    let bulk = ScratchEnv::new("bks").unwrap();
    let mut slow = ScratchEnv::new("bkr").unwrap();
    assert!(bulk.options.bulk_seed, "bulk seeding is the default");
    slow.options.bulk_seed = false;
    ores_sql::recreate_with(&bulk.config, ores_sql::Manifest::compiled(), &bulk.options).unwrap();
    ores_sql::recreate_with(&slow.config, ores_sql::Manifest::compiled(), &slow.options).unwrap();
    let (fast_rows, slow_rows) = (versioned_rows(&bulk.config), versioned_rows(&slow.config));
    let seeded: usize = fast_rows.values().map(Vec::len).sum();
    assert!(
        seeded > 100,
        "the seed should reach the versioned tables: {seeded} rows"
    );
    for (table, rows) in &slow_rows {
        assert_eq!(fast_rows.get(table), Some(rows), "{table} differs");
    }
    assert_eq!(fast_rows.len(), slow_rows.len());
    // Versions and validity are part of the rows compared; say it plainly too.
    let mut db = connect_admin_to(&bulk.config, &bulk.config.database).unwrap();
    let odd: i64 = db
        .query_one(
            "SELECT count(*) FROM ores_refdata_currencies_tbl
              WHERE version <> 1 OR valid_to <> ores_utility_infinity_timestamp_fn() OR valid_from > now()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(odd, 0);
}

/// Inserts the party ACME again as if its key were new; the error it must get.
fn insert_acme_again(client: &mut postgres::Client) -> postgres::Error {
    client
        .execute(
            "INSERT INTO ores_refdata_parties_tbl (short_code, name, party_type_code, party_id)
             SELECT short_code, 'again', party_type_code, party_id
               FROM ores_refdata_parties_tbl WHERE short_code = 'ACME'",
            &[],
        )
        .unwrap_err()
}

#[test]
fn a_session_that_asks_for_bulk_seeding_still_gets_every_check() {
    let db = TestDatabase::new().unwrap();
    let tenant = common::create_tenant(&db, "bulk_probe");
    let mut refdata = common::service(&db, "refdata", Some(&tenant));
    refdata.batch_execute("SET ores.bulk_seed = 'on'").unwrap();
    common::insert_party(&mut refdata, "ACME", "Acme Bank");
    // A second write of the key as if it were new: row by row this is a stale write
    // (ORE01); had the trigger skipped its checks, the exclusion constraint would
    // have refused it instead (23P01).
    let err = insert_acme_again(&mut refdata);
    assert_eq!(err.code().unwrap().code(), "ORE01", "{err}");
}

/// A session of `tenant` acting as the build does: the owner group, bulk seeding on.
fn seeding_as_the_build(db: &TestDatabase, tenant: &str) -> postgres::Client {
    let mut owner = db.admin().unwrap();
    owner
        .batch_execute(&format!(
            "SET ores.tenant_id = '{tenant}'; SET ores.service = 'refdata';
             SET ROLE \"{}\"; SET ores.bulk_seed = 'on'",
            db.role("owner")
        ))
        .unwrap();
    owner
}

#[test]
fn the_build_itself_skips_the_read_and_close() {
    let db = TestDatabase::new().unwrap();
    let tenant = common::create_tenant(&db, "bulk_owner");
    let mut owner = seeding_as_the_build(&db, &tenant);
    common::insert_party(&mut owner, "ACME", "Acme Bank");
    // The same key as new again: with the lookup skipped, only the exclusion
    // constraint stands in the way (23P01), where a normal write is refused as
    // stale (ORE01) by the trigger, as the test above shows.
    let err = insert_acme_again(&mut owner);
    assert_eq!(err.code().unwrap().code(), "23P01", "{err}");
}

/// The next notification on `listener`'s channels (5 s at most).
fn next_notification(listener: &mut postgres::Client) -> postgres::Notification {
    use postgres::fallible_iterator::FallibleIterator;
    listener
        .notifications()
        .timeout_iter(std::time::Duration::from_secs(5))
        .next()
        .expect("reading notifications")
        .expect("a notification within 5 seconds")
}

#[test]
fn a_build_seed_announces_nothing_and_any_other_write_is_announced() {
    let db = TestDatabase::new().unwrap();
    let tenant = common::create_tenant(&db, "bulk_quiet");
    let mut listener = common::service(&db, "refdata", Some(&tenant));
    listener
        .batch_execute("LISTEN ores_refdata_parties")
        .unwrap();
    let mut owner = seeding_as_the_build(&db, &tenant);
    common::insert_party(&mut owner, "SEEDED", "Seeded as the build seeds");
    // A service asking for bulk seeding gets no such silence: notifications arrive in
    // commit order, so the first one must be the service's and not the seed's.
    let mut refdata = common::service(&db, "refdata", Some(&tenant));
    refdata.batch_execute("SET ores.bulk_seed = 'on'").unwrap();
    let id = common::insert_party(&mut refdata, "WRITTEN", "Written by a service");
    let note = next_notification(&mut listener);
    let payload: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(payload["ids"]["party_id"], id.as_str(), "{payload}");
    // The owner's announcements come back as soon as it stops seeding.
    owner.batch_execute("RESET ores.bulk_seed").unwrap();
    let again = common::insert_party(&mut owner, "AFTER", "Written after the seed");
    let note = next_notification(&mut listener);
    let payload: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(payload["ids"]["party_id"], again.as_str(), "{payload}");
}
