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
