//! The attacks of a hostile service login, each tried for real and expected to be
//! refused: rewriting history through a nested trigger, shadowing the tables the
//! triggers consult with temporary tables, and reading IAM secrets.

use crate::common;

use common::*;

/// A superuser session that has planted `pg_temp` objects and then speaks as the
/// service: what a service could do itself if it held TEMPORARY on the database.
fn service_with_planted_temp(
    env: &ores_sql::testing::TestDatabase,
    setup: &str,
) -> postgres::Client {
    let mut c = admin(env);
    c.batch_execute(setup).expect("plant temporary objects");
    let role = ores_sql::tree::registry::service("refdata")
        .unwrap()
        .role(env.env());
    c.batch_execute(&format!(
        "SET ROLE \"{role}\"; SET ores.service = 'refdata'"
    ))
    .unwrap();
    c
}

#[test]
fn no_service_or_group_may_create_temporary_tables() {
    let env = built();
    let tenant = create_tenant(&env, "temp_probe");
    for svc in services() {
        let mut c = service(&env, svc.name, Some(&tenant));
        let state = sqlstate(c.batch_execute("CREATE TEMP TABLE t (x int)"));
        assert_eq!(state, "42501", "{} created a temporary table", svc.name);
    }
}

#[test]
fn a_nested_trigger_cannot_rewrite_a_version_in_place() {
    let env = built();
    let tenant = create_tenant(&env, "rewrite_probe");
    let mut refdata = service(&env, "refdata", Some(&tenant));
    let party = insert_party(&mut refdata, "P1", "Original");

    // The attack's shape: a trigger on a table of the attacker's (here planted by
    // the superuser, since services cannot create one) that updates a versioned row
    // in place, so the guard runs at trigger depth 2.
    let role = ores_sql::tree::registry::service("refdata")
        .unwrap()
        .role(env.env());
    admin(&env)
        .batch_execute(&format!(
            "CREATE TABLE hostile_probe (x int);
             CREATE FUNCTION hostile_probe_fn() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 UPDATE public.ores_refdata_parties_tbl
                    SET name = 'Rewritten', version = 42, performed_by = 'nobody'
                  WHERE valid_to = ores_utility_infinity_timestamp_fn();
                 RETURN NEW;
             END $$;
             CREATE TRIGGER hostile_probe_trg AFTER INSERT ON hostile_probe
                 FOR EACH ROW EXECUTE FUNCTION hostile_probe_fn();
             GRANT INSERT ON hostile_probe TO \"{role}\";"
        ))
        .unwrap();
    let state = sqlstate(refdata.execute("INSERT INTO hostile_probe VALUES (1)", &[]));
    assert_eq!(state, "ORE03", "a nested in-place update was accepted");

    let (name, version): (String, i32) = refdata
        .query_one(
            "SELECT name, version FROM ores_refdata_parties_tbl
              WHERE party_id = $1::text::uuid AND valid_to = ores_utility_infinity_timestamp_fn()",
            &[&party],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((name.as_str(), version), ("Original", 1));

    // The versioning triggers' own close (a new version) still works at depth 2.
    refdata
        .execute(
            "INSERT INTO ores_refdata_parties_tbl (party_id, short_code, name, party_type_code, version)
             VALUES ($1::text::uuid, 'P1', 'Second', 'bank', 1)",
            &[&party],
        )
        .unwrap();
    assert_eq!(
        count(
            &mut refdata,
            "SELECT count(*) FROM ores_refdata_parties_tbl WHERE name IN ('Original', 'Second')"
        ),
        2
    );
}

#[test]
fn a_temporary_pg_class_does_not_turn_a_delete_into_a_purge() {
    let env = built();
    let tenant = create_tenant(&env, "purge_probe");
    let mut refdata = service(&env, "refdata", Some(&tenant));
    let party = insert_party(&mut refdata, "P1", "Kept");
    let role = ores_sql::tree::registry::service("refdata")
        .unwrap()
        .role(env.env());

    let mut c = service_with_planted_temp(
        &env,
        &format!(
            "CREATE TEMP TABLE pg_class (oid oid, relowner oid);
             INSERT INTO pg_temp.pg_class
                  SELECT 'ores_refdata_parties_tbl'::regclass, '\"{role}\"'::regrole;
             GRANT SELECT ON pg_temp.pg_class TO PUBLIC;"
        ),
    );
    set_tenant(&mut c, &tenant);
    c.batch_execute("SET ores.purge = 'on'").unwrap();
    c.execute(
        "DELETE FROM ores_refdata_parties_tbl WHERE party_id = $1::text::uuid",
        &[&party],
    )
    .unwrap();

    // Soft-deleted (closed), not gone.
    let rows = count(
        &mut refdata,
        &format!(
            "SELECT count(*) FROM ores_refdata_parties_tbl WHERE party_id = '{party}'
               AND valid_to < ores_utility_infinity_timestamp_fn()"
        ),
    );
    assert_eq!(
        rows, 1,
        "the party's history was purged through a shadow pg_class"
    );
}

#[test]
fn temporary_lookup_tables_do_not_pass_the_lookup_and_tenant_checks() {
    let env = built();
    let unregistered = "00000000-0000-0000-0000-0000000000aa";
    let mut c = service_with_planted_temp(
        &env,
        &format!(
            "CREATE TEMP TABLE ores_iam_tenants_tbl (tenant_id uuid, valid_to timestamptz);
             INSERT INTO pg_temp.ores_iam_tenants_tbl
                  VALUES ('{unregistered}', ores_utility_infinity_timestamp_fn());
             CREATE TEMP TABLE ores_refdata_party_types_tbl
                  (code text, tenant_id uuid, valid_to timestamptz);
             INSERT INTO pg_temp.ores_refdata_party_types_tbl
                  VALUES ('forged', '{unregistered}', ores_utility_infinity_timestamp_fn());
             GRANT SELECT ON pg_temp.ores_iam_tenants_tbl, pg_temp.ores_refdata_party_types_tbl
                TO PUBLIC;"
        ),
    );
    set_tenant(&mut c, unregistered);
    let state = sqlstate(c.execute(
        "INSERT INTO public.ores_refdata_parties_tbl (short_code, name, party_type_code)
         VALUES ('X', 'Forged', 'forged')",
        &[],
    ));
    assert_eq!(
        state, "ORE02",
        "a row passed the checks through shadow tables"
    );
}

#[test]
fn only_the_iam_service_reads_accounts_sessions_and_password_hashes() {
    let env = built();
    let tenant = create_tenant(&env, "secret_probe");
    for svc in services().iter().filter(|s| s.name != "iam") {
        let mut c = service(&env, svc.name, Some(&tenant));
        for table in [
            "ores_iam_accounts_tbl",
            "ores_iam_sessions_tbl",
            "ores_iam_login_events_tbl",
        ] {
            let state = sqlstate(c.execute(&format!("SELECT * FROM {table} LIMIT 0"), &[]));
            assert_eq!(state, "42501", "{} read {table}", svc.name);
        }
        let state = sqlstate(c.query("SELECT ores_iam_check_password_fn('admin', 'guess')", &[]));
        assert_eq!(state, "42501", "{} used the password oracle", svc.name);
        // What every versioned write needs still works: the tenant is readable.
        c.query_one("SELECT count(*) FROM ores_iam_tenants_tbl", &[])
            .unwrap_or_else(|e| panic!("{} cannot read tenants: {e}", svc.name));
    }
}

#[test]
fn the_system_tenant_lists_every_tenant_only_to_who_registers_tenants() {
    let env = built();
    create_tenant(&env, "list_probe_a");
    create_tenant(&env, "list_probe_b");
    let mut iam = service(&env, "iam", Some(SYSTEM_TENANT));
    let all = count(
        &mut iam,
        "SELECT count(DISTINCT tenant_id) FROM ores_iam_tenants_tbl",
    );
    assert!(all >= 3, "the IAM service sees {all} tenants");
    for svc in services().iter().filter(|s| s.name != "iam") {
        let mut c = service(&env, svc.name, Some(SYSTEM_TENANT));
        let seen = count(
            &mut c,
            "SELECT count(DISTINCT tenant_id) FROM ores_iam_tenants_tbl",
        );
        assert_eq!(
            seen, 1,
            "{} listed {seen} tenants from the system tenant",
            svc.name
        );
    }
}
