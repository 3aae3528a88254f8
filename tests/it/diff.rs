//! `db diff` and `db plan`: each kind of hand change to a built database is reported
//! exactly, with nothing else, and the rows a recreate would discard are counted per
//! table and tenant.

use crate::common;
use ores_sql::lifecycle::diff::{Change, ObjectChange, Reference};
use ores_sql::server::admin::connect_admin_to;
use ores_sql::testing::ScratchEnv;
use ores_sql::tree::roles::role_name;
use ores_sql::{Config, Manifest};

/// A hand change, how to undo it, and what `db diff` must report for it (kind, name,
/// change), nothing more.
struct Case {
    what: &'static str,
    apply: String,
    revert: String,
    expected: Vec<(&'static str, String, Change)>,
}

fn case(
    what: &'static str,
    apply: impl Into<String>,
    revert: impl Into<String>,
    expected: Vec<(&'static str, String, Change)>,
) -> Case {
    Case {
        what,
        apply: apply.into(),
        revert: revert.into(),
        expected,
    }
}

fn summary(objects: &[ObjectChange]) -> Vec<(String, String, Change)> {
    let mut out: Vec<_> = objects
        .iter()
        .map(|o| (o.kind.clone(), o.name.clone(), o.change))
        .collect();
    out.sort();
    out
}

fn exec(config: &Config, sql: &str) {
    connect_admin_to(config, &config.database)
        .unwrap()
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Applies each case in turn, diffs, reverts; collects every mismatch so one run
/// shows them all. Ends by checking the reverted database is clean again.
fn check_cases(config: &Config, manifest: &Manifest, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        exec(config, &c.apply);
        let report = ores_sql::diff_with(config, manifest).unwrap();
        let mut expected: Vec<(String, String, Change)> = c
            .expected
            .iter()
            .map(|(k, n, ch)| (k.to_string(), n.clone(), *ch))
            .collect();
        expected.sort();
        if summary(&report.objects) != expected || report.drift == expected.is_empty() {
            failures.push(format!(
                "{}: expected {expected:?}, got {:#?}",
                c.what, report.objects
            ));
        }
        exec(config, &c.revert);
    }
    let clean = ores_sql::diff_with(config, manifest).unwrap();
    assert!(!clean.drift, "after reverting: {:#?}", clean.objects);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn an_untouched_build_has_no_drift() {
    let env = ScratchEnv::new("df").unwrap();
    ores_sql::recreate_with(&env.config, Manifest::compiled(), &env.options).unwrap();
    let report = ores_sql::diff_with(&env.config, Manifest::compiled()).unwrap();
    assert_eq!(report.reference, Reference::Template);
    assert!(!report.drift, "{:#?}", report.objects);
    let plan = ores_sql::plan_with(&env.config, Manifest::compiled()).unwrap();
    assert!(plan.is_unchanged(), "{plan:#?}");
    assert_eq!(plan.path, "cached");
    let _ = common::SYSTEM_TENANT;
}

#[test]
fn each_kind_of_hand_change_to_our_tree_is_reported_exactly() {
    use Change::*;
    let env = ScratchEnv::new("dk").unwrap();
    let config = &env.config;
    ores_sql::recreate_with(config, Manifest::compiled(), &env.options).unwrap();
    let (e, db, admin) = (&config.env, &config.database, &config.admin_user);
    let role = |s: &str| role_name(e, s);
    let (ro, rw, owner) = (role("ro"), role("rw"), role("owner"));
    let p = "ores_refdata_parties_tbl";
    let f = "ores_utility_current_service_fn()";
    let f_def = "CREATE OR REPLACE FUNCTION ores_utility_current_service_fn()
        RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT nullif(current_setting('ores.service', true), '') $$";
    let col = |c: &str| ("column", format!("{p}.{c}"), Changed);
    let con = |c: &str, ch| ("constraint", format!("{p}.{c}"), ch);
    let cases = vec![
        case(
            "column added",
            format!("ALTER TABLE {p} ADD COLUMN note text"),
            format!("ALTER TABLE {p} DROP COLUMN note"),
            vec![("column", format!("{p}.note"), Added)],
        ),
        case(
            "column default",
            format!("ALTER TABLE {p} ALTER change_commentary SET DEFAULT 'x'"),
            format!("ALTER TABLE {p} ALTER change_commentary SET DEFAULT ''"),
            vec![col("change_commentary")],
        ),
        case(
            "nullability",
            format!("ALTER TABLE {p} ALTER name DROP NOT NULL"),
            format!("ALTER TABLE {p} ALTER name SET NOT NULL"),
            vec![col("name")],
        ),
        case(
            "collation",
            format!("ALTER TABLE {p} ALTER change_commentary TYPE text COLLATE \"C\""),
            format!("ALTER TABLE {p} ALTER change_commentary TYPE text COLLATE \"default\""),
            vec![col("change_commentary")],
        ),
        case(
            "column type",
            format!("ALTER TABLE {p} ALTER change_commentary TYPE varchar(500)"),
            format!("ALTER TABLE {p} ALTER change_commentary TYPE text"),
            vec![col("change_commentary")],
        ),
        case(
            "identity",
            format!(
                "ALTER TABLE {p} ALTER version DROP DEFAULT, ALTER version ADD GENERATED BY DEFAULT AS IDENTITY"
            ),
            format!("ALTER TABLE {p} ALTER version DROP IDENTITY, ALTER version SET DEFAULT 0"),
            vec![col("version")],
        ),
        case(
            "check constraint",
            format!("ALTER TABLE {p} ADD CONSTRAINT parties_hand_chk CHECK (length(name) < 1000)"),
            format!("ALTER TABLE {p} DROP CONSTRAINT parties_hand_chk"),
            vec![con("parties_hand_chk", Added)],
        ),
        case(
            "unique constraint",
            format!(
                "ALTER TABLE {p} ADD CONSTRAINT parties_hand_uq UNIQUE (tenant_id, party_id, valid_from, name)"
            ),
            format!("ALTER TABLE {p} DROP CONSTRAINT parties_hand_uq"),
            vec![con("parties_hand_uq", Added)],
        ),
        case(
            "primary key",
            format!("ALTER TABLE {p} DROP CONSTRAINT parties_pk_idx"),
            format!(
                "ALTER TABLE {p} ADD CONSTRAINT parties_pk_idx PRIMARY KEY (tenant_id, party_id, valid_from)"
            ),
            vec![con("parties_pk_idx", Removed)],
        ),
        case(
            "exclusion constraint",
            format!("ALTER TABLE {p} DROP CONSTRAINT parties_validity_idx"),
            format!(
                "ALTER TABLE {p} ADD CONSTRAINT parties_validity_idx EXCLUDE USING gist (tenant_id WITH =, party_id WITH =, tstzrange(valid_from, valid_to) WITH &&)"
            ),
            vec![con("parties_validity_idx", Removed)],
        ),
        case(
            "foreign key",
            format!(
                "ALTER TABLE {p} ADD CONSTRAINT parties_hand_fk FOREIGN KEY (tenant_id, party_id, valid_from) REFERENCES {p} (tenant_id, party_id, valid_from)"
            ),
            format!("ALTER TABLE {p} DROP CONSTRAINT parties_hand_fk"),
            vec![con("parties_hand_fk", Added)],
        ),
        case(
            "index added",
            format!("CREATE INDEX parties_hand_idx ON {p} (lei)"),
            "DROP INDEX parties_hand_idx",
            vec![("index", "parties_hand_idx".into(), Added)],
        ),
        case(
            "index changed, same name",
            format!(
                "DROP INDEX parties_name_trgm_idx; CREATE INDEX parties_name_trgm_idx ON {p} (name)"
            ),
            format!(
                "DROP INDEX parties_name_trgm_idx; CREATE INDEX parties_name_trgm_idx ON {p} USING gin (name gin_trgm_ops)"
            ),
            vec![("index", "parties_name_trgm_idx".into(), Changed)],
        ),
        case(
            "function body",
            "CREATE OR REPLACE FUNCTION ores_utility_current_service_fn() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT 'x'::text $$",
            f_def,
            vec![("function", f.into(), Changed)],
        ),
        case(
            "volatility, security definer, search_path",
            format!("ALTER FUNCTION {f} VOLATILE SECURITY DEFINER SET search_path = public"),
            format!("ALTER FUNCTION {f} STABLE SECURITY INVOKER RESET search_path"),
            vec![("function", f.into(), Changed)],
        ),
        case(
            "trigger disabled",
            format!("ALTER TABLE {p} DISABLE TRIGGER ores_refdata_parties_notify_trg"),
            format!("ALTER TABLE {p} ENABLE TRIGGER ores_refdata_parties_notify_trg"),
            vec![(
                "trigger",
                format!("{p}.ores_refdata_parties_notify_trg"),
                Changed,
            )],
        ),
        case(
            "trigger added",
            format!(
                "CREATE TRIGGER parties_hand_trg AFTER DELETE ON {p} FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('party_id')"
            ),
            format!("DROP TRIGGER parties_hand_trg ON {p}"),
            vec![("trigger", format!("{p}.parties_hand_trg"), Added)],
        ),
        case(
            "view",
            format!("CREATE VIEW ores_refdata_hand_vw AS SELECT name FROM {p}"),
            "DROP VIEW ores_refdata_hand_vw",
            vec![
                ("view", "ores_refdata_hand_vw".into(), Added),
                ("owner", "view ores_refdata_hand_vw".into(), Added),
                (
                    "grant",
                    format!("view ores_refdata_hand_vw to {admin}"),
                    Added,
                ),
            ],
        ),
        case(
            "sequence",
            format!(
                "CREATE SEQUENCE ores_refdata_hand_seq; GRANT USAGE ON SEQUENCE ores_refdata_hand_seq TO {rw}"
            ),
            "DROP SEQUENCE ores_refdata_hand_seq",
            vec![
                ("sequence", "ores_refdata_hand_seq".into(), Added),
                ("owner", "sequence ores_refdata_hand_seq".into(), Added),
                (
                    "grant",
                    format!("sequence ores_refdata_hand_seq to {admin}"),
                    Added,
                ),
                (
                    "grant",
                    format!("sequence ores_refdata_hand_seq to {rw}"),
                    Added,
                ),
            ],
        ),
        case(
            "policy roles",
            format!("ALTER POLICY ores_refdata_parties_tenant_pol ON {p} TO {ro}"),
            format!("ALTER POLICY ores_refdata_parties_tenant_pol ON {p} TO PUBLIC"),
            vec![(
                "policy",
                format!("{p}.ores_refdata_parties_tenant_pol"),
                Changed,
            )],
        ),
        case(
            "policy using and with check",
            format!(
                "ALTER POLICY ores_refdata_parties_tenant_pol ON {p} USING (true) WITH CHECK (true)"
            ),
            format!(
                "ALTER POLICY ores_refdata_parties_tenant_pol ON {p} USING (tenant_id = ores_utility_current_tenant_id_fn()) WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn())"
            ),
            vec![(
                "policy",
                format!("{p}.ores_refdata_parties_tenant_pol"),
                Changed,
            )],
        ),
        case(
            "restrictive policy added",
            format!(
                "CREATE POLICY parties_hand_pol ON {p} AS RESTRICTIVE FOR DELETE USING (false)"
            ),
            format!("DROP POLICY parties_hand_pol ON {p}"),
            vec![("policy", format!("{p}.parties_hand_pol"), Added)],
        ),
        case(
            "row security not forced",
            format!("ALTER TABLE {p} NO FORCE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {p} FORCE ROW LEVEL SECURITY"),
            vec![("row security", p.into(), Changed)],
        ),
        case(
            "row security disabled",
            format!("ALTER TABLE {p} DISABLE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {p} ENABLE ROW LEVEL SECURITY"),
            vec![("row security", p.into(), Changed)],
        ),
        case(
            "ownership",
            format!("ALTER FUNCTION {f} OWNER TO {rw}"),
            format!("ALTER FUNCTION {f} OWNER TO {owner}"),
            // The owner's default EXECUTE moves with the function.
            vec![
                ("owner", format!("function {f}"), Changed),
                ("grant", format!("function {f} to {owner}"), Removed),
                ("grant", format!("function {f} to {rw}"), Added),
            ],
        ),
        case(
            "table grant",
            format!("GRANT TRUNCATE ON {p} TO {ro}"),
            format!("REVOKE TRUNCATE ON {p} FROM {ro}"),
            vec![("grant", format!("table {p} to {ro}"), Changed)],
        ),
        case(
            "column grant",
            format!("GRANT UPDATE (lei) ON {p} TO {ro}"),
            format!("REVOKE UPDATE (lei) ON {p} FROM {ro}"),
            vec![("grant", format!("column {p}.lei to {ro}"), Added)],
        ),
        case(
            "schema grant",
            format!("GRANT CREATE ON SCHEMA public TO {ro}"),
            format!("REVOKE CREATE ON SCHEMA public FROM {ro}"),
            vec![("grant", format!("schema public to {ro}"), Changed)],
        ),
        case(
            "database grant",
            format!("GRANT TEMPORARY ON DATABASE {db} TO {ro}"),
            format!("REVOKE TEMPORARY ON DATABASE {db} FROM {ro}"),
            vec![("grant", format!("database {db} to {ro}"), Changed)],
        ),
        case(
            "function grant",
            format!("GRANT EXECUTE ON FUNCTION {f} TO {ro}"),
            format!("REVOKE EXECUTE ON FUNCTION {f} FROM {ro}"),
            vec![("grant", format!("function {f} to {ro}"), Added)],
        ),
        case(
            "extension",
            "CREATE EXTENSION hstore",
            "DROP EXTENSION hstore",
            vec![("extension", "hstore".into(), Added)],
        ),
        case(
            "comment",
            format!("COMMENT ON COLUMN {p}.lei IS 'by hand'"),
            format!("COMMENT ON COLUMN {p}.lei IS NULL"),
            vec![("comment", format!("table column public.{p}.lei"), Added)],
        ),
    ];
    check_cases(config, Manifest::compiled(), cases);
}

fn entry_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/entry_tree")
}

/// The entry-script fixture: hand changes reported exactly, rows typed in counted,
/// a scratch build when no template matches, and a changed tree's plan naming the
/// script and what it changes.
#[test]
fn an_entry_script_tree_diffs_from_a_template_or_a_scratch_build_and_plans_a_changed_tree() {
    use Change::*;
    let mut env = ScratchEnv::new("de").unwrap();
    env.config.passwords.insert(
        "wt_user".into(),
        ores_sql::config::Secret::new("wt-diff-token"),
    );
    let config = env.config.clone();
    let manifest = Manifest::from_dir(&entry_fixture()).unwrap();
    ores_sql::recreate_with(&config, &manifest, &env.options).unwrap();
    let clean = ores_sql::diff_with(&config, &manifest).unwrap();
    assert_eq!(clean.reference, Reference::Template);
    assert!(!clean.drift, "{:#?}", clean.objects);
    let ro = role_name(&config.env, "ro");
    let c = "ores_refdata_currencies_tbl";
    let f = "ores_utility_label_fn(text)";
    let cases = vec![
        case(
            "column",
            format!("ALTER TABLE {c} ADD COLUMN note text"),
            format!("ALTER TABLE {c} DROP COLUMN note"),
            vec![("column", format!("{c}.note"), Added)],
        ),
        case(
            "index",
            format!("CREATE INDEX currencies_name_idx ON {c} (name)"),
            "DROP INDEX currencies_name_idx",
            vec![("index", "currencies_name_idx".into(), Added)],
        ),
        case(
            "function",
            format!("ALTER FUNCTION {f} STABLE"),
            format!("ALTER FUNCTION {f} IMMUTABLE"),
            vec![("function", f.into(), Changed)],
        ),
        case(
            "row security and policy",
            format!(
                "ALTER TABLE {c} ENABLE ROW LEVEL SECURITY; CREATE POLICY currencies_pol ON {c} USING (tenant_id IS NULL)"
            ),
            format!(
                "DROP POLICY currencies_pol ON {c}; ALTER TABLE {c} DISABLE ROW LEVEL SECURITY"
            ),
            vec![
                ("row security", c.into(), Changed),
                ("policy", format!("{c}.currencies_pol"), Added),
            ],
        ),
        case(
            "grant",
            format!("GRANT DELETE ON {c} TO {ro}"),
            format!("REVOKE DELETE ON {c} FROM {ro}"),
            vec![("grant", format!("table {c} to {ro}"), Changed)],
        ),
        case(
            "comment",
            format!("COMMENT ON FUNCTION {f} IS 'by hand'"),
            format!("COMMENT ON FUNCTION {f} IS 'fixture_{}'", config.env),
            vec![(
                "comment",
                "function public.ores_utility_label_fn(pg_catalog.text)".into(),
                Changed,
            )],
        ),
    ];
    check_cases(&config, &manifest, cases);

    // Rows typed in by hand are what a recreate discards; a plan counts them.
    exec(
        &config,
        &format!("INSERT INTO {c} (code, name) VALUES ('XTS', 'by hand')"),
    );
    let plan = ores_sql::plan_with(&config, &manifest).unwrap();
    assert_eq!(plan.path, "cached");
    assert!(
        plan.scripts.is_empty() && plan.objects.is_empty(),
        "{plan:#?}"
    );
    assert_eq!(plan.data.len(), 1, "{:#?}", plan.data);
    assert_eq!(
        (plan.data[0].table.as_str(), plan.data[0].rows.added),
        (c, 1)
    );

    // Without a template that matches, the tree is built beside and dropped after.
    let template = ores_sql::lifecycle::cache::template_name(&config.database);
    let mut admin = ores_sql::server::admin::connect_admin(&config).unwrap();
    ores_sql::server::admin::drop_database(&mut admin, &template, true).unwrap();
    let scratch = ores_sql::diff_with(&config, &manifest).unwrap();
    assert_eq!(scratch.reference, Reference::ScratchBuild);
    assert!(!scratch.drift, "{:#?}", scratch.objects);
    let leftovers: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '\\_\\_%'",
            &[&config.database],
        )
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0, "the scratch build is dropped");

    // A changed tree: the plan names the script, the path and the object.
    let dir = tempfile::tempdir().unwrap();
    ores_sql::testing::workload::copy_tree(&entry_fixture(), dir.path()).unwrap();
    let script = "create/refdata/refdata_create.sql";
    let text = std::fs::read_to_string(entry_fixture().join(script)).unwrap();
    common::write_script(
        dir.path(),
        script,
        text.replace("name text not null,", "name text not null, symbol text,"),
    );
    let changed = Manifest::from_dir(dir.path()).unwrap();
    let plan = ores_sql::plan_with(&config, &changed).unwrap();
    assert_eq!(plan.path, "full");
    assert_eq!(plan.scripts.len(), 1, "{:#?}", plan.scripts);
    assert!(plan.scripts[0].path.ends_with(script));
    assert_eq!(plan.scripts[0].change, Changed);
    assert_eq!(
        summary(&plan.objects),
        vec![("column".into(), format!("{c}.symbol"), Removed)]
    );
    // db diff refuses a tree that did not build the database, saying what to do.
    let e = ores_sql::diff_with(&config, &changed)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--sql-dir") && e.contains("db plan"), "{e}");
}

/// A session of `service` in `tenant`, as the service logs in.
fn tenant_service(config: &Config, service: &str, tenant: &str) -> postgres::Client {
    let mut pg =
        config.role_pg_config(&role_name(&config.env, &format!("{service}_service")), None);
    pg.options(&format!(
        "-c ores.tenant_id={tenant} -c ores.service={service}"
    ));
    pg.connect(postgres::NoTls).unwrap()
}

/// What services wrote in two tenants is what a recreate would discard, per table
/// and per tenant.
#[test]
fn the_plan_counts_the_rows_services_wrote_per_tenant() {
    let env = ScratchEnv::new("dr").unwrap();
    let config = &env.config;
    ores_sql::recreate_with(config, Manifest::compiled(), &env.options).unwrap();
    let mut iam = tenant_service(config, "iam", common::SYSTEM_TENANT);
    let tenant = |iam: &mut postgres::Client, code: &str| -> String {
        iam.query_one(
            "INSERT INTO ores_iam_tenants_tbl (code, name, type_code) VALUES ($1, $1, 'test')
             RETURNING tenant_id::text",
            &[&code],
        )
        .unwrap()
        .get(0)
    };
    let (a, b) = (tenant(&mut iam, "acme"), tenant(&mut iam, "globex"));
    let mut in_a = tenant_service(config, "refdata", &a);
    common::insert_party(&mut in_a, "P1", "one");
    common::insert_party(&mut in_a, "P2", "two");
    let mut in_b = tenant_service(config, "refdata", &b);
    common::insert_party(&mut in_b, "P3", "three");

    let plan = ores_sql::plan_with(config, Manifest::compiled()).unwrap();
    assert!(
        plan.scripts.is_empty() && plan.objects.is_empty(),
        "{plan:#?}"
    );
    let parties = plan
        .data
        .iter()
        .find(|t| t.table == "ores_refdata_parties_tbl")
        .unwrap_or_else(|| panic!("{:#?}", plan.data));
    assert_eq!(
        (
            parties.rows.added,
            parties.rows.changed,
            parties.rows.removed
        ),
        (3, 0, 0)
    );
    let per_tenant: Vec<(Option<&str>, u64)> = parties
        .tenants
        .iter()
        .map(|t| (t.tenant.as_deref(), t.rows.added))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(per_tenant, vec![(Some("acme"), 2), (Some("globex"), 1)]);
    let tenants = plan
        .data
        .iter()
        .find(|t| t.table == "ores_iam_tenants_tbl")
        .unwrap_or_else(|| panic!("{:#?}", plan.data));
    assert_eq!(tenants.rows.added, 2, "{tenants:#?}");
    // Nothing a build seeded was deleted or edited by writing new rows.
    assert!(
        plan.data
            .iter()
            .all(|t| t.rows.removed == 0 && t.rows.changed == 0),
        "{:#?}",
        plan.data
    );
}

/// The benchmark's upstream-sized generated tree (271 tables, ~1,500 indexes, ~71.5 k
/// rows): an untouched build shows no drift and a plan that loses nothing, each read
/// in well under a second from the cached template (debug build; printed for the
/// record).
#[test]
fn a_generated_upstream_sized_tree_has_no_false_positives_and_diffs_fast() {
    use ores_sql::testing::workload::{Shape, generated_manifest};
    let env = ScratchEnv::new("du").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = generated_manifest(dir.path(), &Shape::upstream()).unwrap();
    ores_sql::recreate_with(&env.config, &manifest, &env.options).unwrap();
    let started = std::time::Instant::now();
    let diff = ores_sql::diff_with(&env.config, &manifest).unwrap();
    let diff_ms = started.elapsed().as_millis();
    assert_eq!(diff.reference, Reference::Template);
    assert!(!diff.drift, "{:#?}", diff.objects);
    let started = std::time::Instant::now();
    let plan = ores_sql::plan_with(&env.config, &manifest).unwrap();
    let plan_ms = started.elapsed().as_millis();
    assert!(plan.is_unchanged(), "{plan:#?}");
    eprintln!("upstream-sized tree: diff {diff_ms} ms, plan {plan_ms} ms (debug build)");
    assert!(
        diff_ms < 3000 && plan_ms < 3000,
        "diff {diff_ms} ms, plan {plan_ms} ms"
    );
}
