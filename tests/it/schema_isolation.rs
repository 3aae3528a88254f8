//! Tenant isolation and per-service least privilege, proven by trying the forbidden
//! thing as the real service login roles and expecting PostgreSQL to refuse.

use crate::common;

use common::*;
use ores_sql::tree::registry::{PROVISIONER_COMPONENTS, component_of_table};

/// Two tenants, each with a refdata session and one party of its own.
struct TwoTenants {
    env: ores_sql::testing::TestDatabase,
    a: String,
    b: String,
    ra: postgres::Client,
    rb: postgres::Client,
    a_party: String,
    b_party: String,
}

fn two_tenants() -> TwoTenants {
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let b = create_tenant(&env, "tenant_b");
    let mut ra = service(&env, "refdata", Some(&a));
    let mut rb = service(&env, "refdata", Some(&b));
    let a_party = insert_party(&mut ra, "A1", "Alpha Bank");
    let b_party = insert_party(&mut rb, "B1", "Beta Bank");
    TwoTenants {
        env,
        a,
        b,
        ra,
        rb,
        a_party,
        b_party,
    }
}

#[test]
fn each_tenant_reads_only_its_own_rows() {
    // `_env` keeps the database alive: a field left to `..` is dropped at once.
    let TwoTenants {
        env: _env,
        mut ra,
        a_party,
        b_party,
        ..
    } = two_tenants();
    // Read: each tenant sees exactly its own parties.
    let visible: Vec<String> = ra
        .query("SELECT party_id::text FROM ores_refdata_parties_tbl", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(visible, std::slice::from_ref(&a_party));
    let seen = ra
        .query(
            "SELECT 1 FROM ores_refdata_parties_tbl WHERE party_id = $1::text::uuid",
            &[&b_party],
        )
        .unwrap();
    assert!(seen.is_empty(), "tenant A read tenant B's party");
}

#[test]
fn a_tenant_cannot_insert_update_or_delete_another_tenants_rows() {
    let TwoTenants {
        env: _env,
        b,
        mut ra,
        mut rb,
        b_party,
        ..
    } = two_tenants();
    // Insert into another tenant: refused by the policy's WITH CHECK.
    let state = sqlstate(ra.execute(
        "INSERT INTO ores_refdata_parties_tbl (tenant_id, short_code, name, party_type_code)
         VALUES ($1::text::uuid, 'X1', 'Intruder', 'bank')",
        &[&b],
    ));
    assert_eq!(state, "42501", "insert into another tenant");

    // Update and delete another tenant's row: the row is invisible, nothing changes.
    let updated = ra
        .execute(
            "UPDATE ores_refdata_parties_tbl SET name = 'hijacked' WHERE party_id = $1::text::uuid",
            &[&b_party],
        )
        .unwrap();
    assert_eq!(updated, 0);
    ra.execute(
        "DELETE FROM ores_refdata_parties_tbl WHERE party_id = $1::text::uuid",
        &[&b_party],
    )
    .unwrap();
    let b_current = count(
        &mut rb,
        "SELECT count(*) FROM ores_refdata_parties_tbl
          WHERE valid_to = ores_utility_infinity_timestamp_fn() AND name = 'Beta Bank'",
    );
    assert_eq!(b_current, 1, "tenant B's party was changed by tenant A");
}

#[test]
fn rows_cannot_be_moved_to_another_tenant() {
    let TwoTenants {
        env, a, b, mut ra, ..
    } = two_tenants();
    // Moving one's own versioned row to another tenant: versioned rows are never
    // updated in place (ORE03), and the policy would refuse it anyway.
    let state = sqlstate(ra.execute(
        "UPDATE ores_refdata_parties_tbl SET tenant_id = $1::text::uuid",
        &[&b],
    ));
    assert_eq!(state, "ORE03");

    // Moving a row of a mutable (non-versioned) table: refused by row-level security.
    let mut ia = service(&env, "iam", Some(&a));
    let account: String = ia
        .query_one(
            "INSERT INTO ores_iam_accounts_tbl (username, password_hash)
             VALUES ('alice', ores_iam_hash_password_fn('correct horse')) RETURNING account_id::text",
            &[],
        )
        .unwrap()
        .get(0);
    ia.execute(
        "INSERT INTO ores_iam_sessions_tbl (account_id) VALUES ($1::text::uuid)",
        &[&account],
    )
    .unwrap();
    let state = sqlstate(ia.execute(
        "UPDATE ores_iam_sessions_tbl SET tenant_id = $1::text::uuid",
        &[&b],
    ));
    assert_eq!(state, "42501", "moving a session to another tenant");
    let state = sqlstate(ia.execute(
        "INSERT INTO ores_iam_sessions_tbl (tenant_id, account_id) VALUES ($1::text::uuid, $2::text::uuid)",
        &[&b, &account],
    ));
    assert_eq!(state, "42501", "opening a session in another tenant");
    let mut ib = service(&env, "iam", Some(&b));
    assert_eq!(
        count(&mut ib, "SELECT count(*) FROM ores_iam_sessions_tbl"),
        0
    );
    assert_eq!(
        count(&mut ib, "SELECT count(*) FROM ores_iam_accounts_tbl"),
        0
    );
}

#[test]
fn a_tenant_sees_only_its_own_registration_and_tenant_codes_stay_unique() {
    let TwoTenants { env, a, .. } = two_tenants();
    let mut ia = service(&env, "iam", Some(&a));
    // Tenants: A sees its own registration and the system tenant's, never B's, and
    // cannot register tenants itself.
    let codes: Vec<String> = ia
        .query("SELECT code FROM ores_iam_tenants_tbl ORDER BY code", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(codes, ["system", "tenant_a"]);
    let state = sqlstate(ia.execute(
        "INSERT INTO ores_iam_tenants_tbl (code, name, type_code) VALUES ('rogue', 'Rogue', 'test')",
        &[],
    ));
    assert_eq!(state, "42501", "a tenant registering another tenant");
    // Tenant codes are unique across tenants (they name tenants in commands).
    let mut sys_iam = service(&env, "iam", Some(SYSTEM_TENANT));
    let state = sqlstate(sys_iam.execute(
        "INSERT INTO ores_iam_tenants_tbl (code, name, type_code) VALUES ('tenant_a', 'Again', 'test')",
        &[],
    ));
    assert_eq!(state, "23P01", "a second tenant with code tenant_a");
}

#[test]
fn shared_reference_data_is_readable_by_all_and_writable_only_by_the_system() {
    let TwoTenants { env, mut ra, .. } = two_tenants();
    // Shared reference data: readable by every tenant, writable by none but the system.
    assert_eq!(
        count(
            &mut ra,
            "SELECT count(*) FROM ores_refdata_currencies_tbl WHERE iso_code = 'USD'"
        ),
        1
    );
    ra.execute(
        "DELETE FROM ores_refdata_currencies_tbl WHERE iso_code = 'USD'",
        &[],
    )
    .unwrap();
    let state = sqlstate(ra.execute(
        "INSERT INTO ores_refdata_currencies_tbl (tenant_id, iso_code, name, version)
         VALUES (ores_utility_system_tenant_id_fn(), 'USD', 'Hijacked dollar', 1)",
        &[],
    ));
    assert_eq!(state, "42501", "tenant writing system reference data");
    let mut sys = service(&env, "refdata", Some(SYSTEM_TENANT));
    assert_eq!(
        count(
            &mut sys,
            "SELECT count(*) FROM ores_refdata_currencies_tbl
              WHERE iso_code = 'USD' AND valid_to = ores_utility_infinity_timestamp_fn()
                AND name = 'US Dollar'"
        ),
        1
    );
}

#[test]
fn sessions_without_a_tenant_or_as_the_system_see_no_tenants_private_data() {
    let TwoTenants { env, .. } = two_tenants();
    let mut sys = service(&env, "refdata", Some(SYSTEM_TENANT));
    // A session that never chose a tenant sees no tenant's data at all.
    let mut none = service(&env, "refdata", None);
    assert_eq!(
        count(&mut none, "SELECT count(*) FROM ores_refdata_parties_tbl"),
        0
    );
    // ... and the system tenant's session does not see tenants' private data either.
    assert_eq!(
        count(&mut sys, "SELECT count(*) FROM ores_refdata_parties_tbl"),
        0
    );
}

#[test]
fn even_the_table_owner_is_subject_to_the_policies() {
    let TwoTenants { env, .. } = two_tenants();
    // Even the table owner is subject to the policies (FORCE ROW LEVEL SECURITY).
    let mut admin = admin(&env);
    let unforced = count(
        &mut admin,
        "SELECT count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
            AND a.attname = 'tenant_id'
            AND NOT (c.relrowsecurity AND c.relforcerowsecurity
                     AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))",
    );
    assert_eq!(
        unforced, 0,
        "a tenant-scoped table without forced RLS and a policy"
    );
}

#[test]
fn each_service_writes_only_its_domain_and_reads_only_what_the_registry_allows() {
    let env = built();
    let mut admin = admin(&env);
    let tables = texts(
        &mut admin,
        "SELECT relname::text FROM pg_class
          WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1",
    );
    assert!(tables.len() > 30, "{tables:?}");

    for svc in services() {
        let mut c = service(&env, svc.name, Some(SYSTEM_TENANT));
        for table in &tables {
            let component = component_of_table(table)
                .unwrap_or_else(|| panic!("{table} has no known component"));
            let owns = svc.owns.contains(&component);
            let reads =
                owns || svc.reads_table(table) || PROVISIONER_COMPONENTS.contains(&component);
            let select = c.execute(&format!("SELECT * FROM {table} LIMIT 0"), &[]);
            if reads {
                select.unwrap_or_else(|e| panic!("{} cannot read {table}: {e}", svc.name));
            } else {
                assert_eq!(sqlstate(select), "42501", "{} read {table}", svc.name);
            }
            if owns {
                let privileges = count(
                    &mut c,
                    &format!(
                        "SELECT count(*) FROM unnest('{{SELECT,INSERT,UPDATE,DELETE}}'::text[]) p
                          WHERE has_table_privilege('{table}', p)"
                    ),
                );
                assert_eq!(privileges, 4, "{} lacks DML on its own {table}", svc.name);
            } else {
                for statement in [
                    format!("INSERT INTO {table} DEFAULT VALUES"),
                    format!("DELETE FROM {table} WHERE false"),
                    format!("TRUNCATE {table}"),
                ] {
                    let state = sqlstate(c.execute(&statement, &[]));
                    assert_eq!(state, "42501", "{}: {statement}", svc.name);
                }
            }
        }
        // No service creates objects or calls the owner-only reset functions...
        let state = sqlstate(c.execute("CREATE TABLE ores_rogue_tbl (id int)", &[]));
        assert_eq!(state, "42501", "{} created a table", svc.name);
        let reset = c.execute("SELECT ores_iam_reset_tenant_fn('nobody')", &[]);
        if svc.name == "iam" {
            // ... except IAM, which owns them (and gets "no such tenant" here).
            assert_eq!(sqlstate(reset), "P0002");
        } else {
            assert_eq!(sqlstate(reset), "42501", "{} may reset tenants", svc.name);
        }
        let purge = c.execute(
            "SELECT ores_iam_purge_tenant_fn(ores_utility_system_tenant_id_fn(), '{}')",
            &[],
        );
        assert_eq!(sqlstate(purge), "42501", "{} may purge", svc.name);
    }

    // Security definer functions pin search_path, so a caller's objects cannot
    // stand in for ours.
    let unpinned = count(
        &mut admin,
        "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prosecdef
            AND NOT coalesce(proconfig, '{}') @> '{\"search_path=public, pg_temp\"}'",
    );
    assert_eq!(unpinned, 0);
}

/// One row of each service domain added for the full role contract, written the way
/// its service would (lookups, tenant and change reason checked by the triggers).
/// Order matters: a compute batch names an ORE run configuration.
const DOMAIN_ROWS: &[(&str, &str, &str)] = &[
    (
        "workspace",
        "ores_workspace_workspaces_tbl",
        "INSERT INTO ores_workspace_workspaces_tbl (code, name, reporting_currency_code)
         VALUES ('rates_desk', 'Rates desk', 'EUR')",
    ),
    (
        "scheduler",
        "ores_scheduler_jobs_tbl",
        "INSERT INTO ores_scheduler_jobs_tbl (code, name, job_kind, cron_expression, time_zone)
         VALUES ('eod_npv', 'End-of-day NPV', 'report_run', '0 18 * * 1-5', 'Europe/London')",
    ),
    (
        "marketdata",
        "ores_marketdata_series_tbl",
        "INSERT INTO ores_marketdata_series_tbl (code, name, series_type, currency_code)
         VALUES ('EUR-OIS', 'EUR OIS discount curve', 'discount_curve', 'EUR')",
    ),
    (
        "ore",
        "ores_ore_run_configurations_tbl",
        "INSERT INTO ores_ore_run_configurations_tbl (code, name, base_currency_code, analytics, simulation_samples)
         VALUES ('eod', 'End of day', 'EUR', '{npv,exposure}', 1000)",
    ),
    (
        "compute",
        "ores_compute_batches_tbl",
        "INSERT INTO ores_compute_batches_tbl (run_configuration_code, as_of_date, task_count)
         VALUES ('eod', '2026-12-01', 12)",
    ),
    (
        "analytics",
        "ores_analytics_configurations_tbl",
        "INSERT INTO ores_analytics_configurations_tbl (code, name, measure, confidence_level, horizon_days)
         VALUES ('var_95_1d', 'VaR 95% 1 day', 'var', 0.95, 1)",
    ),
    (
        "reporting",
        "ores_reporting_report_definitions_tbl",
        "INSERT INTO ores_reporting_report_definitions_tbl (code, name, report_type, currency_code)
         VALUES ('desk_npv', 'Desk NPV', 'npv', 'EUR')",
    ),
    (
        "synthetic",
        "ores_synthetic_generation_requests_tbl",
        "INSERT INTO ores_synthetic_generation_requests_tbl (target_entity, row_count)
         VALUES ('refdata_parties', 100)",
    ),
    (
        "workflow",
        "ores_workflow_instances_tbl",
        "INSERT INTO ores_workflow_instances_tbl (workflow_code, subject_entity, subject_key)
         VALUES ('trade_approval', 'trading_trades', 'T-0001')",
    ),
];

/// Counts the rows of tenants other than the system tenant: its shared reference rows
/// are visible to every tenant and would hide what a tenant wrote.
fn tenant_rows(table: &str) -> String {
    format!("SELECT count(*) FROM {table} WHERE tenant_id <> ores_utility_system_tenant_id_fn()")
}

#[test]
fn each_new_service_writes_its_own_domain_and_every_other_service_is_refused_or_only_reads() {
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let b = create_tenant(&env, "tenant_b");
    for (owner, table, insert) in DOMAIN_ROWS {
        let mut own = service(&env, owner, Some(&a));
        assert_eq!(own.execute(*insert, &[]).unwrap(), 1, "{owner}: {insert}");
        assert_eq!(
            count(&mut own, &tenant_rows(table)),
            1,
            "{owner} cannot see its own row in {table}"
        );
        // The same service in another tenant sees nothing of it.
        let mut other_tenant = service(&env, owner, Some(&b));
        assert_eq!(
            count(&mut other_tenant, &tenant_rows(table)),
            0,
            "tenant B's {owner} service sees tenant A's {table}"
        );
        for other in services().iter().filter(|s| s.name != *owner) {
            let mut c = service(&env, other.name, Some(&a));
            assert_eq!(
                sqlstate(c.execute(*insert, &[])),
                "42501",
                "{} wrote {table}",
                other.name
            );
            let select = c.query_one(&tenant_rows(table), &[]);
            if other.reads_table(table) {
                let seen: i64 = select
                    .unwrap_or_else(|e| panic!("{} may read {table}: {e}", other.name))
                    .get(0);
                assert_eq!(seen, 1, "{} reads {table}", other.name);
            } else {
                assert_eq!(sqlstate(select), "42501", "{} read {table}", other.name);
            }
        }
    }

    // Lookups are checked within the writer's tenant: tenant B has no run
    // configuration "eod", so it cannot submit a batch of tenant A's.
    let mut compute_b = service(&env, "compute", Some(&b));
    let state = sqlstate(compute_b.execute(
        "INSERT INTO ores_compute_batches_tbl (run_configuration_code, as_of_date)
         VALUES ('eod', '2026-12-01')",
        &[],
    ));
    assert_eq!(state, "ORE02");
    // Table rules hold for the new entities too: exposure needs simulation paths.
    let mut ore_a = service(&env, "ore", Some(&a));
    let state = sqlstate(ore_a.execute(
        "INSERT INTO ores_ore_run_configurations_tbl (code, name, base_currency_code, analytics)
         VALUES ('no_paths', 'No paths', 'EUR', '{exposure}')",
        &[],
    ));
    assert_eq!(state, "23514");
}

#[test]
fn wt_shell_and_http_users_read_and_write_like_the_cli_and_nothing_more() {
    let env = built();
    let a = create_tenant(&env, "tenant_a");
    let e = env.env().to_string();
    for user in ["cli_user", "wt_user", "shell_user", "http_user"] {
        let mut c = env.user(user).unwrap();
        set_tenant(&mut c, &a);
        let member = |c: &mut postgres::Client, group: &str| -> bool {
            c.query_one(
                "SELECT pg_has_role(current_user, $1, 'MEMBER')",
                &[&format!("ores_{e}_{group}")],
            )
            .unwrap()
            .get(0)
        };
        assert!(member(&mut c, "rw"), "{user} is not in rw");
        for group in ["owner", "ro", "service"] {
            assert!(!member(&mut c, group), "{user} is in {group}");
        }
        let key = format!("T-{user}");
        c.execute(
            "INSERT INTO ores_workflow_instances_tbl (workflow_code, subject_entity, subject_key)
             VALUES ('trade_approval', 'trading_trades', $1)",
            &[&key],
        )
        .unwrap_or_else(|err| panic!("{user} cannot write a domain table: {err}"));
        let state = sqlstate(c.execute("CREATE TABLE ores_rogue_tbl (id int)", &[]));
        assert_eq!(state, "42501", "{user} created a table");
        let state = sqlstate(c.execute("SELECT ores_iam_reset_tenant_fn('nobody')", &[]));
        assert_eq!(state, "42501", "{user} may reset tenants");
        // The build record is the provisioning tool's alone.
        let state = sqlstate(c.execute("DELETE FROM ores_database_builds_tbl", &[]));
        assert_eq!(state, "42501", "{user} changed the build record");
        let state = sqlstate(c.execute("DELETE FROM ores_sql.builds", &[]));
        assert_eq!(state, "42501", "{user} changed the engine's build record");
    }
    let mut ro = env.user("readonly_user").unwrap();
    set_tenant(&mut ro, &a);
    assert_eq!(
        count(&mut ro, "SELECT count(*) FROM ores_workflow_instances_tbl"),
        4
    );
    let state = sqlstate(ro.execute(
        "INSERT INTO ores_workflow_instances_tbl (workflow_code, subject_entity, subject_key)
         VALUES ('trade_approval', 'trading_trades', 'T-ro')",
        &[],
    ));
    assert_eq!(state, "42501");
}
