//! Seed data against its sources, trigram search, and the reset functions.

use crate::common;

use common::*;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn iso_json(file: &str, key: &str) -> Vec<serde_json::Value> {
    let dir = std::env::var_os("ISO_CODES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/iso-codes/json"));
    let text = std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{file} (Debian package iso-codes): {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json[key].as_array().unwrap().clone()
}

fn strings(client: &mut postgres::Client, sql: &str) -> BTreeSet<String> {
    texts(client, sql).into_iter().collect()
}

/// A fresh database and a tenant's refdata session: how a service reads shared data.
fn tenant_reader() -> (ores_sql::testing::TestDatabase, postgres::Client) {
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let r = service(&env, "refdata", Some(&a));
    (env, r)
}

#[test]
fn seed_data_matches_its_iso_sources() {
    let (_env, mut r) = tenant_reader();
    let currencies = iso_json("iso_4217.json", "4217");
    let codes: BTreeSet<String> = currencies
        .iter()
        .map(|c| c["alpha_3"].as_str().unwrap().to_string())
        .collect();
    let seeded = strings(
        &mut r,
        "SELECT iso_code FROM ores_refdata_currencies_tbl
          WHERE valid_to = ores_utility_infinity_timestamp_fn()",
    );
    assert_eq!(
        seeded, codes,
        "currencies differ from iso-codes; regenerate: python3 scripts/generate_iso_seed.py"
    );
    // Minor units come from ISO's own list (a spot check of each kind).
    for (code, unit) in [
        ("USD", Some(2i16)),
        ("JPY", Some(0)),
        ("KWD", Some(3)),
        ("XAU", None),
    ] {
        let got: Option<i16> = r
            .query_one(
                "SELECT minor_unit FROM ores_refdata_currencies_tbl WHERE iso_code = $1",
                &[&code],
            )
            .unwrap()
            .get(0);
        assert_eq!(got, unit, "{code}");
    }

    let countries = iso_json("iso_3166-1.json", "3166-1");
    let alpha2: BTreeSet<String> = countries
        .iter()
        .map(|c| c["alpha_2"].as_str().unwrap().to_string())
        .collect();
    let seeded = strings(
        &mut r,
        "SELECT alpha2_code FROM ores_refdata_countries_tbl
          WHERE valid_to = ores_utility_infinity_timestamp_fn()",
    );
    assert_eq!(
        seeded, alpha2,
        "countries differ from iso-codes; regenerate: python3 scripts/generate_iso_seed.py"
    );
    let gb: (String, String) = r
        .query_one(
            "SELECT alpha3_code, numeric_code FROM ores_refdata_countries_tbl WHERE alpha2_code = 'GB'",
            &[],
        )
        .map(|row| (row.get(0), row.get(1)))
        .unwrap();
    assert_eq!(gb, ("GBR".to_string(), "826".to_string()));
}

#[test]
fn the_foundation_every_service_expects_is_seeded_as_first_versions() {
    let env = built();
    // The foundation every service expects.
    let mut iam = service(&env, "iam", Some(SYSTEM_TENANT));
    for (sql, expected) in [
        ("SELECT count(*) FROM ores_iam_tenant_types_tbl", 3),
        ("SELECT count(*) FROM ores_iam_tenant_statuses_tbl", 3),
        (
            "SELECT count(*) FROM ores_iam_tenants_tbl
              WHERE tenant_id = ores_utility_system_tenant_id_fn() AND code = 'system'",
            1,
        ),
        ("SELECT count(*) FROM ores_iam_roles_tbl", 5),
        ("SELECT count(*) FROM ores_iam_permissions_tbl", 42),
        (
            "SELECT count(*) FROM ores_dq_change_reason_categories_tbl",
            4,
        ),
        ("SELECT count(*) FROM ores_dq_change_reasons_tbl", 12),
        // The administrator holds every permission; nobody but it holds reset.
        (
            "SELECT count(*) FROM ores_iam_role_permissions_tbl WHERE role_code = 'admin'",
            42,
        ),
        (
            "SELECT count(*) FROM ores_iam_role_permissions_tbl
              WHERE permission_code LIKE '%:reset' AND role_code <> 'admin'",
            0,
        ),
        (
            "SELECT count(*) FROM ores_variability_system_settings_tbl
              WHERE name = 'system.bootstrap_mode' AND value = 'true'",
            1,
        ),
    ] {
        assert_eq!(count(&mut iam, sql), expected, "{sql}");
    }
    // Every seeded row is a first version, written by the owner, with a valid reason.
    let mut admin = admin(&env);
    let bad = count(
        &mut admin,
        "SELECT count(*) FROM ores_refdata_currencies_tbl
          WHERE version <> 1 OR change_reason_code NOT IN (SELECT code FROM ores_dq_change_reasons_tbl)",
    );
    assert_eq!(bad, 0);
}

#[test]
fn names_are_searchable_by_trigram() {
    let (env, mut r) = tenant_reader();
    let mut admin = admin(&env);
    // Trigram search: similarity ranks a misspelt name first, and ILIKE '%x%' can
    // use the trigram index (the planner is told to avoid a sequential scan).
    let best: String = r
        .query_one(
            "SELECT name FROM ores_refdata_countries_tbl
              ORDER BY similarity(name, 'Untied Kingdm') DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(best, "United Kingdom");
    admin.batch_execute("SET enable_seqscan = off").unwrap();
    for (table, index) in [
        ("ores_refdata_countries_tbl", "countries_name_trgm_idx"),
        ("ores_refdata_currencies_tbl", "currencies_name_trgm_idx"),
        ("ores_refdata_parties_tbl", "parties_name_trgm_idx"),
        (
            "ores_refdata_counterparties_tbl",
            "counterparties_name_trgm_idx",
        ),
    ] {
        // `%` is the indexable form of similarity() >= pg_trgm.similarity_threshold.
        for predicate in ["name ILIKE '%ingdo%'", "name % 'Untied Kingdm'"] {
            let plan: Vec<String> = admin
                .query(
                    &format!("EXPLAIN SELECT * FROM {table} WHERE {predicate}"),
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(
                plan.join("\n").contains(index),
                "{table} {predicate}: {plan:#?}"
            );
        }
    }
}

#[test]
fn reset_tenant_empties_one_tenant_and_reset_system_returns_to_a_fresh_database() {
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let b = create_tenant(&env, "tenant_b");
    for t in [&a, &b, &SYSTEM_TENANT.to_string()] {
        let mut r = service(&env, "refdata", Some(t));
        if t != SYSTEM_TENANT {
            insert_party(&mut r, "P1", "First");
            insert_party(&mut r, "P2", "Second");
        }
        let mut iam = service(&env, "iam", Some(t));
        iam.execute(
            "INSERT INTO ores_iam_accounts_tbl (username, password_hash)
             VALUES ('admin', ores_iam_hash_password_fn('s3cret-s3cret'))",
            &[],
        )
        .unwrap();
        iam.execute(
            "INSERT INTO ores_iam_login_events_tbl (username, succeeded) VALUES ('admin', true)",
            &[],
        )
        .unwrap();
        let mut v = service(&env, "variability", Some(t));
        // Bootstrap over: the first administrator exists.
        v.execute(
            "INSERT INTO ores_variability_system_settings_tbl (name, value, value_type, version)
             SELECT 'system.bootstrap_mode', 'false', 'boolean',
                    coalesce((SELECT version FROM ores_variability_system_settings_tbl
                               WHERE name = 'system.bootstrap_mode'
                                 AND valid_to = ores_utility_infinity_timestamp_fn()), 0)",
            &[],
        )
        .unwrap();
    }
    let mut admin = admin(&env);
    let rows_of = |admin: &mut postgres::Client, tenant: &str| -> i64 {
        // Every tenant-scoped table, counted as the superuser (no RLS).
        let tables: Vec<String> = admin
            .query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_attribute a
                    ON a.attrelid = c.oid AND a.attname = 'tenant_id'
                  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        tables
            .iter()
            .map(|t| {
                admin
                    .query_one(
                        &format!("SELECT count(*) FROM {t} WHERE tenant_id = $1::text::uuid"),
                        &[&tenant],
                    )
                    .unwrap()
                    .get::<_, i64>(0)
            })
            .sum()
    };
    let bootstrap = |admin: &mut postgres::Client, tenant: &str| -> Option<String> {
        admin
            .query_opt(
                "SELECT value FROM ores_variability_system_settings_tbl
                  WHERE tenant_id = $1::text::uuid AND name = 'system.bootstrap_mode'
                    AND valid_to = ores_utility_infinity_timestamp_fn()",
                &[&tenant],
            )
            .unwrap()
            .map(|r| r.get(0))
    };
    let a_before = rows_of(&mut admin, &a);
    let b_before = rows_of(&mut admin, &b);
    let currencies = count(
        &mut admin,
        "SELECT count(*) FROM ores_refdata_currencies_tbl",
    );
    // Tenants row, two parties, account, login event, and two versions of the
    // bootstrap flag (on at registration, off once the administrator existed).
    assert_eq!(a_before, 7);

    // reset-tenant, as the IAM service would call it, from its own tenant.
    let mut iam = service(&env, "iam", Some(&b));
    let removed: i64 = iam
        .query_one("SELECT ores_iam_reset_tenant_fn('tenant_a')", &[])
        .unwrap()
        .get(0);
    // Everything but the registration went; one bootstrap version was written.
    assert_eq!(removed, (a_before - 1) + 1);
    assert_eq!(
        rows_of(&mut admin, &a),
        2,
        "registration and bootstrap flag remain"
    );
    assert_eq!(bootstrap(&mut admin, &a).as_deref(), Some("true"));
    assert_eq!(rows_of(&mut admin, &b), b_before, "tenant B was touched");
    assert_eq!(bootstrap(&mut admin, &b).as_deref(), Some("false"));
    // The caller's tenant is as it was.
    assert_eq!(
        iam.query_one("SELECT current_setting('ores.tenant_id')", &[])
            .unwrap()
            .get::<_, String>(0),
        b
    );
    assert_eq!(
        sqlstate(iam.execute("SELECT ores_iam_reset_tenant_fn('system')", &[])),
        "22023"
    );

    // reset-system: other tenants gone, system IAM data gone, bootstrap on again,
    // reference data untouched.
    let sys_iam = count(
        &mut admin,
        "SELECT (SELECT count(*) FROM ores_iam_accounts_tbl WHERE tenant_id = ores_utility_system_tenant_id_fn())
              + (SELECT count(*) FROM ores_iam_login_events_tbl WHERE tenant_id = ores_utility_system_tenant_id_fn())",
    );
    assert_eq!(sys_iam, 2);
    let expected = rows_of(&mut admin, &a) + rows_of(&mut admin, &b) + sys_iam + 1;
    let removed: i64 = iam
        .query_one("SELECT ores_iam_reset_system_fn()", &[])
        .unwrap()
        .get(0);
    assert_eq!(removed, expected);
    assert_eq!(rows_of(&mut admin, &a), 0);
    assert_eq!(rows_of(&mut admin, &b), 0);
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM ores_iam_tenants_tbl"),
        1,
        "only the system tenant is left"
    );
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM ores_iam_accounts_tbl"),
        0
    );
    assert_eq!(
        bootstrap(&mut admin, SYSTEM_TENANT).as_deref(),
        Some("true")
    );
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM ores_refdata_currencies_tbl"
        ),
        currencies
    );
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM ores_iam_permissions_tbl"),
        42
    );
}
