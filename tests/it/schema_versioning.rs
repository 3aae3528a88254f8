//! The bitemporal pattern (versions, stale-version refusal, soft delete, history),
//! lookup validation, password hashing and change notifications.

use crate::common;

use common::*;
use ores_sql::testing::TestDatabase;
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use std::time::Duration;

fn next_notification(listener: &mut postgres::Client) -> postgres::Notification {
    listener
        .notifications()
        .timeout_iter(Duration::from_secs(5))
        .next()
        .expect("reading notifications")
        .expect("a notification within 5 seconds")
}

/// Tenant A's refdata service, and a second connection of it listening to party
/// changes, as a service's cache would.
fn party_writer_and_listener(env: &TestDatabase) -> (String, Client, Client) {
    let a = create_tenant(env, "tenant_a");
    let writer = service(env, "refdata", Some(&a));
    let mut listener = service(env, "refdata", Some(&a));
    listener
        .batch_execute("LISTEN ores_refdata_parties")
        .unwrap();
    (a, writer, listener)
}

#[test]
fn versions_refuse_stale_writes_soft_delete_keeps_history_and_changes_are_announced() {
    let env = built();
    let (a, mut ra, mut listener) = party_writer_and_listener(&env);

    let id = insert_party(&mut ra, "ACME", "Acme Bank");
    let note = next_notification(&mut listener);
    assert_eq!(note.channel(), "ores_refdata_parties");
    let payload: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(payload["entity"], "refdata_parties");
    assert_eq!(payload["operation"], "insert");
    assert_eq!(payload["tenant_id"], a.as_str());
    assert_eq!(payload["ids"]["party_id"], id.as_str());
    assert!(payload["timestamp"].is_string(), "{payload}");

    // A new version: written with the version the writer read.
    let amend = "INSERT INTO ores_refdata_parties_tbl
                     (party_id, short_code, name, party_type_code, version, change_reason_code)
                 VALUES ($1::text::uuid, 'ACME', $2, 'bank', $3, 'data_correction.typo')
                 RETURNING version";
    let v: i32 = ra
        .query_one(amend, &[&id, &"Acme Bank plc", &1i32])
        .unwrap()
        .get(0);
    assert_eq!(v, 2);
    // Closing version 1 is part of the same change: one notification, not two.
    let note = next_notification(&mut listener);
    let payload: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(payload["operation"], "insert");
    let extra = listener
        .notifications()
        .timeout_iter(Duration::from_millis(200))
        .next()
        .unwrap();
    assert!(
        extra.is_none(),
        "closing the old version was announced: {extra:?}"
    );

    // Someone still holding version 1 is refused with ORE01, as is a blind write.
    let err = ra
        .query_one(amend, &[&id, &"Lost update", &1i32])
        .unwrap_err();
    let db = err.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "ORE01");
    assert!(db.message().contains("stale version 1"), "{}", db.message());
    assert_eq!(
        sqlstate(ra.query_one(amend, &[&id, &"Blind", &0i32])),
        "ORE01"
    );

    // History is immutable: no update in place.
    assert_eq!(
        sqlstate(ra.execute(
            "UPDATE ores_refdata_parties_tbl SET name = 'rewritten'",
            &[]
        )),
        "ORE03"
    );

    // Soft delete closes the current row and keeps both versions, even for a
    // service claiming the purge setting the reset functions use (it is not the owner).
    ra.batch_execute("SET ores.purge = 'on'").unwrap();
    let deleted = ra
        .execute(
            "DELETE FROM ores_refdata_parties_tbl WHERE party_id = $1::text::uuid",
            &[&id],
        )
        .unwrap();
    assert_eq!(deleted, 0, "the rows stay; only valid_to moves");
    // ... and it cannot silence notifications either.
    let v: i32 = ra
        .query_one(
            "INSERT INTO ores_refdata_parties_tbl (short_code, name, party_type_code)
             VALUES ('QUIET', 'Quiet', 'bank') RETURNING version",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(v, 1);
    ra.batch_execute("RESET ores.purge").unwrap();
    let note = next_notification(&mut listener);
    let payload: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(payload["operation"], "delete");
    assert_eq!(payload["ids"]["party_id"], id.as_str());
    let note = next_notification(&mut listener);
    let payload: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(
        payload["operation"], "insert",
        "the insert under ores.purge was silenced"
    );
    let history: Vec<(i32, String, bool)> = ra
        .query(
            "SELECT version, name, valid_to = ores_utility_infinity_timestamp_fn()
               FROM ores_refdata_parties_tbl WHERE party_id = $1::text::uuid ORDER BY version",
            &[&id],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        history,
        [
            (1, "Acme Bank".into(), false),
            (2, "Acme Bank plc".into(), false)
        ]
    );
    // Periods chain without gaps or overlaps.
    let chained = count(
        &mut ra,
        "SELECT count(*) FROM ores_refdata_parties_tbl p1 JOIN ores_refdata_parties_tbl p2
            ON p2.party_id = p1.party_id AND p2.version = p1.version + 1
           AND p2.valid_from = p1.valid_to",
    );
    assert_eq!(chained, 1);
    // Writing to a deleted entity with the version read before is stale...
    assert_eq!(
        sqlstate(ra.query_one(amend, &[&id, &"Zombie", &2i32])),
        "ORE01"
    );
    // ... while recreating it continues the version sequence.
    let v: i32 = ra
        .query_one(amend, &[&id, &"Acme Reborn", &0i32])
        .unwrap()
        .get(0);
    assert_eq!(v, 3);
}

#[test]
fn lookups_refuse_unknown_codes_and_list_the_valid_ones() {
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let mut ra = service(&env, "refdata", Some(&a));
    // Lookups: an unknown code is refused with ORE02 and the valid values listed.
    let err = ra
        .execute(
            "INSERT INTO ores_refdata_parties_tbl (short_code, name, party_type_code)
             VALUES ('X', 'X', 'pirate')",
            &[],
        )
        .unwrap_err();
    let db = err.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "ORE02");
    assert!(db.message().contains("'pirate'"), "{}", db.message());
    assert!(db.message().contains("bank, broker"), "{}", db.message());
    // So is an unknown change reason, and a lookup into another component.
    let err = ra
        .execute(
            "INSERT INTO ores_refdata_parties_tbl (short_code, name, party_type_code, change_reason_code)
             VALUES ('Y', 'Y', 'bank', 'because')",
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "ORE02");
    let mut ta = service(&env, "trading", Some(&a));
    let err = ta
        .execute(
            "INSERT INTO ores_trading_trades_tbl
                 (book_code, counterparty_id, trade_type_code, trade_date, notional, currency_code)
             VALUES ('NOBOOK', gen_random_uuid(), 'swap', current_date, 1e6, 'USD')",
            &[],
        )
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code().code(), "ORE02");
    assert!(db.message().contains("book_code"), "{}", db.message());
}

#[test]
fn overlapping_validity_is_refused_even_with_the_trigger_bypassed() {
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let mut ra = service(&env, "refdata", Some(&a));
    let id = insert_party(&mut ra, "ACME", "Acme Bank");
    // The exclusion constraint is the last line of defence if the trigger is bypassed
    // (here by a superuser disabling triggers): overlapping validity is refused.
    let mut admin = admin(&env);
    admin
        .batch_execute("SET session_replication_role = replica")
        .unwrap();
    let err = admin
        .execute(
            "INSERT INTO ores_refdata_parties_tbl
                 (tenant_id, party_id, short_code, name, party_type_code, version, valid_from)
             SELECT tenant_id, party_id, short_code, 'overlap', party_type_code, 99,
                    valid_from + interval '1 microsecond'
               FROM ores_refdata_parties_tbl WHERE party_id = $1::text::uuid AND version = 1",
            &[&id],
        )
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "23P01", "{err}");
}

#[test]
fn every_versioned_table_refuses_an_overlapping_version_of_a_seeded_key_by_its_constraint_alone() {
    // With the triggers off, a copy of a current row shifted by a microsecond (a new
    // primary key, not current, its validity overlapping the original's, every other
    // unchecked text column changed) must be refused by the exclusion constraint,
    // whatever the key's shape (uuid, text, several columns under one hash); the same
    // copy moved before the original's validity must be accepted, so the refusal is
    // the overlap's.
    let env = built();
    let mut admin = admin(&env);
    let tables = texts(
        &mut admin,
        "SELECT c.relname::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
          WHERE k.contype = 'x' AND c.relnamespace = 'public'::regnamespace
            AND c.relname <> 'ores_iam_tenants_tbl'
          ORDER BY 1",
    );
    admin
        .batch_execute("BEGIN; SET LOCAL session_replication_role = replica")
        .unwrap();
    let mut checked = Vec::new();
    for t in &tables {
        // The columns to copy (generated ones are computed), and every text column
        // outside the primary key and its table's checks changed, so that only the key
        // can make the copy conflict with the original.
        let (columns, values, changed): (String, String, String) = admin
            .query_one(
                "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
                        string_agg('x.' || quote_ident(a.attname), ', ' ORDER BY a.attnum),
                        coalesce(string_agg(format('%L, r.%I || ''~''', a.attname, a.attname), ', ')
                                   FILTER (WHERE a.atttypid = 'text'::regtype
                                             AND a.attnum <> ALL (p.conkey)
                                             AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                                              WHERE c.conrelid = a.attrelid
                                                                AND c.contype = 'c'
                                                                AND a.attnum = ANY (c.conkey))), '')
                   FROM pg_attribute a
                   JOIN pg_constraint p ON p.conrelid = a.attrelid AND p.contype = 'p'
                  WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
                    AND a.attgenerated = ''",
                &[t],
            )
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .unwrap();
        let copy = |from: &str, to: &str| {
            format!(
                "INSERT INTO {t} ({columns}) SELECT {values}
                   FROM {t} r, jsonb_populate_record(NULL::{t}, to_jsonb(r)
                     || jsonb_build_object({changed})
                     || jsonb_build_object('valid_from', r.valid_from + interval '{from}',
                                           'valid_to', r.valid_from + interval '{to}')) x
                  WHERE r.valid_to = ores_utility_infinity_timestamp_fn() LIMIT 1"
            )
        };
        admin.batch_execute("SAVEPOINT probe").unwrap();
        match admin.execute(&copy("1 microsecond", "1 day"), &[]) {
            Ok(0) => {} // no seeded row to copy
            Ok(n) => panic!("{t}: an overlapping version was accepted ({n} row)"),
            Err(e) => {
                assert_eq!(e.code().map(|c| c.code()), Some("23P01"), "{t}: {e}");
                admin.batch_execute("ROLLBACK TO SAVEPOINT probe").unwrap();
                let n = admin
                    .execute(&copy("-2 days", "-1 day"), &[])
                    .unwrap_or_else(|e| panic!("{t}: a version before the original: {e}"));
                assert_eq!(n, 1, "{t}");
                checked.push(t.as_str());
            }
        }
        admin.batch_execute("ROLLBACK TO SAVEPOINT probe").unwrap();
    }
    admin.batch_execute("ROLLBACK").unwrap();
    for shape in [
        "ores_refdata_currencies_tbl",   // one text key
        "ores_iam_role_permissions_tbl", // two text keys, one hash
        "ores_variability_system_settings_tbl",
    ] {
        assert!(checked.contains(&shape), "{shape} not checked: {checked:?}");
    }
    assert!(checked.len() >= 20, "{checked:?}");
}

#[test]
fn a_key_written_twice_in_one_statement_gets_two_versions_or_a_stale_refusal() {
    // The trigger's lookup of the key's latest row sees the rows its own statement
    // wrote before, on a text-keyed table (whose lookup goes through the primary key,
    // not the hash-organised exclusion index).
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let mut ra = service(&env, "refdata", Some(&a));
    let got: Vec<(String, i32, bool)> = ra
        .query(
            "INSERT INTO ores_refdata_rounding_types_tbl (code, name, version)
             VALUES ('twice', 'First', 0), ('twice', 'Second', 1)
             RETURNING name, version, valid_to = ores_utility_infinity_timestamp_fn()",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(got, [("First".into(), 1, true), ("Second".into(), 2, true)]);
    let current = count(
        &mut ra,
        "SELECT count(*) FROM ores_refdata_rounding_types_tbl
          WHERE code = 'twice' AND valid_to = ores_utility_infinity_timestamp_fn()",
    );
    assert_eq!(current, 1, "the first version was closed by the second");
    // Both rows claiming to be the key's first write: the second is stale.
    let refused = ra.execute(
        "INSERT INTO ores_refdata_rounding_types_tbl (code, name, version)
         VALUES ('again', 'One', 0), ('again', 'Other', 0)",
        &[],
    );
    assert_eq!(sqlstate(refused), "ORE01");
}

#[test]
fn passwords_are_hashed_and_append_only_tables_refuse_changes() {
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let mut ia = service(&env, "iam", Some(&a));
    let state = sqlstate(ia.execute(
        "INSERT INTO ores_iam_accounts_tbl (username, password_hash) VALUES ('bob', 'hunter2')",
        &[],
    ));
    assert_eq!(state, "23514", "a plain-text password was stored");
    ia.execute(
        "INSERT INTO ores_iam_accounts_tbl (username, password_hash)
         VALUES ('bob', ores_iam_hash_password_fn('correct horse battery'))",
        &[],
    )
    .unwrap();
    let hash: String = ia
        .query_one("SELECT password_hash FROM ores_iam_accounts_tbl", &[])
        .unwrap()
        .get(0);
    assert!(hash.starts_with("$2a$10$"), "{hash}");
    let ok = ia
        .query_one(
            "SELECT ores_iam_check_password_fn('BOB', 'correct horse battery') IS NOT NULL,
                    ores_iam_check_password_fn('bob', 'wrong') IS NULL",
            &[],
        )
        .unwrap();
    assert!(ok.get::<_, bool>(0) && ok.get::<_, bool>(1));

    ia.execute(
        "INSERT INTO ores_iam_login_events_tbl (username, succeeded) VALUES ('bob', true)",
        &[],
    )
    .unwrap();
    assert_eq!(
        sqlstate(ia.execute(
            "UPDATE ores_iam_login_events_tbl SET succeeded = false",
            &[]
        )),
        "ORE03"
    );
    assert_eq!(
        sqlstate(ia.execute("DELETE FROM ores_iam_login_events_tbl", &[])),
        "ORE03"
    );
    let mut tel = service(&env, "telemetry", Some(&a));
    tel.execute(
        "INSERT INTO ores_telemetry_logs_tbl (level, message) VALUES ('info', 'started')",
        &[],
    )
    .unwrap();
    assert_eq!(
        sqlstate(tel.execute("DELETE FROM ores_telemetry_logs_tbl", &[])),
        "ORE03"
    );
    let service_name: String = tel
        .query_one("SELECT service FROM ores_telemetry_logs_tbl", &[])
        .unwrap()
        .get(0);
    assert_eq!(service_name, "telemetry");
}

#[test]
fn multi_row_inserts_version_every_row_and_one_unknown_lookup_refuses_them_all() {
    let env = built();
    let (a, mut ra, mut listener) = party_writer_and_listener(&env);

    // New keys in one statement: each row is its own first version, and announced.
    let rows = ra
        .query(
            "INSERT INTO ores_refdata_parties_tbl (short_code, name, party_type_code, country_code)
             VALUES ('P1', 'One', 'bank', 'GB'), ('P2', 'Two', 'fund', NULL),
                    ('P3', 'Three', 'broker', 'DE')
             RETURNING short_code, version, valid_to = ores_utility_infinity_timestamp_fn()",
            &[],
        )
        .unwrap();
    let got: Vec<(String, i32, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        [
            ("P1".into(), 1, true),
            ("P2".into(), 1, true),
            ("P3".into(), 1, true)
        ]
    );
    let mut announced = Vec::new();
    for _ in 0..3 {
        let note = next_notification(&mut listener);
        let payload: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
        assert_eq!(payload["operation"], "insert");
        assert_eq!(payload["tenant_id"], a.as_str());
        announced.push(payload["ids"]["party_id"].as_str().unwrap().to_string());
    }
    announced.sort();
    announced.dedup();
    assert_eq!(announced.len(), 3, "{announced:?}");

    // One unknown value among good rows: the statement inserts nothing, and the error
    // names the first bad value (in row order) and lists the valid ones.
    let parties = "SELECT count(*) FROM ores_refdata_parties_tbl";
    let before = count(&mut ra, parties);
    let err = ra
        .execute(
            "INSERT INTO ores_refdata_parties_tbl (short_code, name, party_type_code, country_code)
             VALUES ('Q1', 'Q1', 'bank', 'GB'), ('Q2', 'Q2', 'pirate', 'GB'),
                    ('Q3', 'Q3', 'ninja', 'ZZ')",
            &[],
        )
        .unwrap_err();
    let db = err.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "ORE02");
    assert!(
        db.message()
            .starts_with("ores_refdata_parties_tbl.party_type_code: 'pirate' is not a valid value"),
        "{}",
        db.message()
    );
    assert!(db.message().contains("bank, broker"), "{}", db.message());
    assert_eq!(count(&mut ra, parties), before);
    // Within a row, its own lookups come before the change reason.
    let err = ra
        .execute(
            "INSERT INTO ores_refdata_parties_tbl
                 (short_code, name, party_type_code, country_code, change_reason_code)
             VALUES ('R1', 'R1', 'bank', 'GB', 'system.new_record'),
                    ('R2', 'R2', 'bank', 'ZZ', 'because')",
            &[],
        )
        .unwrap_err();
    let db = err.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "ORE02");
    assert!(
        db.message().contains("country_code: 'ZZ'"),
        "{}",
        db.message()
    );
    assert_eq!(count(&mut ra, parties), before);

    // One key twice in one statement: the second row is a new version of the first...
    let rows = ra
        .query(
            "INSERT INTO ores_refdata_parties_tbl (party_id, short_code, name, party_type_code, version)
             VALUES ('00000000-0000-0000-0000-0000000000d1', 'D1', 'First', 'bank', 0),
                    ('00000000-0000-0000-0000-0000000000d1', 'D1', 'Second', 'bank', 1)
             RETURNING version",
            &[],
        )
        .unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, [1, 2]);
    let history: Vec<(i32, String, bool)> = ra
        .query(
            "SELECT version, name, valid_to = ores_utility_infinity_timestamp_fn()
               FROM ores_refdata_parties_tbl
              WHERE party_id = '00000000-0000-0000-0000-0000000000d1' ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        history,
        [(1, "First".into(), false), (2, "Second".into(), true)]
    );
    // ... so writing it twice as new is a stale write.
    assert_eq!(
        sqlstate(ra.execute(
            "INSERT INTO ores_refdata_parties_tbl (party_id, short_code, name, party_type_code)
             VALUES ('00000000-0000-0000-0000-0000000000d2', 'D2', 'A', 'bank'),
                    ('00000000-0000-0000-0000-0000000000d2', 'D2', 'B', 'bank')",
            &[],
        )),
        "ORE01"
    );
}
