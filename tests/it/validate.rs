//! Schema validation: the real schema passes, and every rule can fail.
//!
//! Catalog rules are proven on as few builds as possible: one throwaway database
//! built from the real manifest receives many independent breakages, and each rule
//! is asserted to fire for the very object that breaks it.

use crate::common;
use common::tree;

use ores_sql::Manifest;
use ores_sql::server::admin::connect_admin_to;
use ores_sql::testing::ScratchEnv;
use ores_sql::testing::workload::copy_tree;
use ores_sql::validate;
use std::fs;
use std::path::Path;

#[test]
fn real_schema_passes_every_rule() {
    let env = ScratchEnv::new("vreal").unwrap();
    ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    let report = validate::run(&env.config).unwrap();
    println!("{report}");
    assert!(report.is_clean(), "{report}");
    assert!(report.skipped.is_empty(), "{report}");
}

/// `(rule, object)` pairs of a set of violations.
fn pairs(violations: &[validate::Violation]) -> Vec<(&'static str, String)> {
    violations
        .iter()
        .map(|v| (v.rule.as_str(), v.object.clone()))
        .collect()
}

#[test]
fn ambiguous_order_is_s001_and_bad_layout_is_s002() {
    let dir = tree(&[
        ("create/01_iam/010_iam_a.sql", "select 1;"),
        ("create/01_iam/10_iam_b.sql", "select 1;"),
    ]);
    let found = validate::check_dir(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "S001");
    assert!(
        found[0].object.ends_with("create/01_iam/10_iam_b.sql"),
        "{found:?}"
    );

    let dir = tree(&[("create/01_iam/010_iam_Upper.sql", "select 1;")]);
    let found = validate::check_dir(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "S002");
    assert!(found[0].object.ends_with("010_iam_Upper.sql"), "{found:?}");
}

#[test]
fn each_script_rule_fires_for_its_script_and_only_there() {
    let dir = tree(&[
        (
            "create/02_iam/010_iam_alters.sql",
            "CREATE TABLE ores_iam_alters_tbl (id int PRIMARY KEY);\n\
                 ALTER TABLE ores_iam_alters_tbl ADD COLUMN extra int;\n",
        ),
        (
            "create/02_iam/020_iam_upgrade.sql",
            "-- an upgrade script in disguise\nALTER TABLE ores_iam_alters_tbl ENABLE ROW LEVEL SECURITY;\n",
        ),
        ("create/03_widgets/010_widgets_things.sql", "SELECT 1;"),
        ("create/007_iam_rootlevel.sql", "SELECT 1;"),
        ("create/04_dq/010_iam_misplaced.sql", "SELECT 1;"),
        (
            "create/02_iam/030_iam_funcs.sql",
            "CREATE FUNCTION ores_iam_one_fn() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
        ),
        (
            "create/02_iam/040_iam_meta.sql",
            "SELECT 1;\n\\i other.sql\n",
        ),
        (
            "create/02_iam/050_iam_clean.sql",
            "-- ALTER TABLE x ADD COLUMN y int; \\i nothing\n\
                 CREATE TABLE ores_iam_cleans_tbl (id int PRIMARY KEY, note text DEFAULT 'RENAME \\set');\n\
                 ALTER TABLE ores_iam_cleans_tbl ENABLE ROW LEVEL SECURITY;\n\
                 ALTER TABLE ores_iam_cleans_tbl FORCE ROW LEVEL SECURITY;\n\
                 CREATE OR REPLACE FUNCTION ores_iam_cleans_fn() RETURNS void LANGUAGE plpgsql AS $body$\n\
                 BEGIN EXECUTE 'ALTER TABLE t DROP COLUMN c'; RAISE NOTICE '\\i'; END $body$;\n",
        ),
    ]);
    let found = validate::check_dir(dir.path());
    let mut got: Vec<(&str, String)> = pairs(&found)
        .into_iter()
        .map(|(r, o)| {
            let rel = o
                .rsplit_once("/create/")
                .map(|(_, p)| p.to_string())
                .unwrap_or(o);
            (r, rel)
        })
        .collect();
    got.sort();
    let want: Vec<(&str, String)> = [
        ("S003", "02_iam/010_iam_alters.sql"),
        ("S004", "02_iam/020_iam_upgrade.sql"),
        ("S005", "007_iam_rootlevel.sql"),
        ("S005", "03_widgets/010_widgets_things.sql"),
        ("S006", "04_dq/010_iam_misplaced.sql"),
        ("S007", "02_iam/030_iam_funcs.sql"),
        ("S008", "02_iam/040_iam_meta.sql"),
    ]
    .iter()
    .map(|(r, p)| (*r, p.to_string()))
    .collect();
    let mut want = want;
    want.sort();
    assert_eq!(got, want, "{found:#?}");
    // The line of the offending statement is part of the message.
    let meta = found.iter().find(|v| v.rule == "S008").unwrap();
    assert!(meta.message.starts_with("line 2:"), "{meta}");
}

#[test]
fn the_compiled_manifest_passes_the_static_rules() {
    assert_eq!(validate::check_manifest(Manifest::compiled()), vec![]);
    let ids: Vec<&str> = validate::rules().iter().map(|r| r.id.as_str()).collect();
    for id in ["S001", "S008", "C001", "C022", "P001", "A001", "A002"] {
        assert!(ids.contains(&id), "{id} missing from the rule list");
        assert!(validate::explain(id).is_some());
    }
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate rule id");
}

/// The real schema plus `tests/fixtures/validate_broken`: every rule's breakage in
/// one build.
fn broken_manifest() -> (tempfile::TempDir, Manifest) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for phase in ["create", "populate"] {
        if root.join("sql").join(phase).exists() {
            copy_tree(&root.join("sql").join(phase), &dir.path().join(phase)).unwrap();
        }
    }
    copy_tree(
        &root.join("tests/fixtures/validate_broken/create"),
        &dir.path().join("create"),
    )
    .unwrap();
    // Our settings, so the house-style sets run as they do on our tree.
    fs::copy(
        root.join("sql/ores-sql.toml"),
        dir.path().join("ores-sql.toml"),
    )
    .unwrap();
    let manifest = Manifest::from_dir(dir.path()).unwrap();
    (dir, manifest)
}

#[test]
fn every_catalog_rule_fires_for_the_object_that_breaks_it() {
    let env = ScratchEnv::new("vcat").unwrap();
    let (_dir, manifest) = broken_manifest();
    ores_sql::recreate_with(&env.config, &manifest, &env.options).unwrap();

    // What scripts cannot do: role attributes and privileges outside the registry.
    let e = &env.config.env;
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    let db_name = &env.config.database;
    db.batch_execute(&format!(
        "ALTER ROLE ores_{e}_cli_user BYPASSRLS;
         ALTER ROLE ores_{e}_dq_service CREATEDB;
         GRANT INSERT ON ores_iam_gadgets_tbl TO ores_{e}_trading_service;
         GRANT UPDATE (name) ON ores_iam_gadgets_tbl TO ores_{e}_dq_service;
         REVOKE DELETE ON ores_iam_gadgets_tbl FROM ores_{e}_iam_service;
         GRANT TEMPORARY ON DATABASE {db_name} TO ores_{e}_rw;"
    ))
    .unwrap();

    let report = validate::run_with(&env.config, &manifest, "").unwrap();
    println!("{report}");
    let expect = [
        ("C001", "widgets_tbl".to_string()),
        ("C002", "ores_iam_helper".into()),
        ("C003", "ores_iam_gadget_names".into()),
        ("C004", "ores_iam_levers_touch".into()),
        ("C005", "levers_by_code".into()),
        ("C006", "ores_iam_levers_open".into()),
        ("C007", "ores_iam_nokeys_tbl".into()),
        ("C008", "ores_iam_sprockets_tbl".into()),
        ("C009", "levers_code_uniq_idx".into()),
        ("C010", "ores_iam_cogs_tbl".into()),
        ("C011", "ores_iam_cogs_tbl".into()),
        ("C012", "ores_iam_cogs_tbl".into()),
        ("C012", "ores_iam_levers_tbl".into()),
        ("C013", format!("ores_{e}_cli_user")),
        ("C013", format!("ores_{e}_dq_service")),
        ("C014", "ores_iam_gizmos_tbl".into()),
        ("C015", "ores_iam_gizmos_tbl".into()),
        ("C015", "ores_iam_sliders_tbl".into()),
        ("C015", "ores_iam_knobs_tbl".into()),
        ("C016", "ores_iam_gizmos_tbl".into()),
        ("C017", "ores_iam_gizmos_tbl".into()),
        ("C018", "ores_iam_gizmos_tbl".into()),
        ("C019", "ores_iam_elevated_fn".into()),
        ("C020", "ores_utility_scratches_tbl".into()),
        ("C021", "trading:ores_iam_gadgets_tbl".into()),
        ("C021", "dq:ores_iam_gadgets_tbl".into()),
        ("C022", "iam:ores_iam_gadgets_tbl".into()),
        ("C023", "ores_iam_gizmos_tbl".into()),
        ("C024", "ores_iam_broken_fn".into()),
        ("C025", format!("ores_{e}_rw")),
        ("C027", "ores_iam_vaults_tbl".into()),
        ("C028", "ores_iam_ledgers_tbl".into()),
        ("C029", "ores_iam_lockers_open_pol".into()),
        // C006's and C012's fixture policy is `USING (true)` too.
        ("C029", "ores_iam_levers_open".into()),
        ("C030", "ores_iam_hinges_tbl_vault_id_fkey".into()),
        ("C031", "ores_iam_locker_ids_vw".into()),
        // C003's fixture view reads the control table as its owner.
        ("C031", "ores_iam_gadget_names".into()),
        ("C032", "ores_iam_hinges_code_b_idx".into()),
        ("P001", "ores_iam_levers_touch_fn".into()),
        ("P001", "ores_iam_broken_fn".into()),
    ];
    for (rule, object) in &expect {
        assert!(
            report.fires(rule, object),
            "{rule} did not fire for {object}:\n{report}"
        );
    }
    // Nothing fires on the fixture's objects that it did not ask for: the control
    // table and the well-made functions stay quiet. (The real schema's own objects
    // are `real_schema_passes_every_rule`'s business.)
    let fixture = [
        "gadget",
        "widgets",
        "helper",
        "levers",
        "nokeys",
        "sprockets",
        "cogs",
        "gizmos",
        "sliders",
        "knobs",
        "elevated",
        "broken",
        "scratches",
        "vaults",
        "ledgers",
        "lockers",
        "locker_",
        "hinges",
        "latches",
        e.as_str(),
    ];
    let unexpected: Vec<&validate::Violation> = report
        .violations
        .iter()
        .filter(|v| fixture.iter().any(|f| v.object.contains(f)))
        .filter(|v| !expect.iter().any(|(r, o)| v.rule == *r && v.object == *o))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected violations: {unexpected:#?}"
    );
    // The messages say what is wrong, precisely.
    let c016 = &report.of_rule("C016")[0].message;
    assert!(c016.contains("is not BEFORE INSERT FOR EACH ROW"), "{c016}");
    let c023 = &report.of_rule("C023")[0].message;
    assert!(
        c023.contains("does not say REFERENCING NEW TABLE AS inserted_rows"),
        "{c023}"
    );
    let c014 = &report.of_rule("C014")[0].message;
    assert!(
        c014.contains("version is bigint, not integer") && c014.contains("modified_by missing"),
        "{c014}"
    );
    let p001 = report.of_rule("P001");
    assert!(
        p001.iter().any(|v| v.message.contains("no_such_column")),
        "{p001:?}"
    );
    assert!(report.plpgsql_checked >= 6, "{report}");
    assert!(report.skipped.is_empty());

    // plpgsql_check was installed only inside a transaction that was rolled back.
    let left: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'plpgsql_check'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);

    // The report prints one line per violation and a summary.
    let text = report.to_string();
    assert!(
        text.lines().any(|l| l.starts_with("C001 widgets_tbl: ")),
        "{text}"
    );
    // Grouped by rule, worst first: every error's heading precedes every warning's.
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    let first_warning = headings.iter().position(|l| l.starts_with("[warning"));
    let last_error = headings.iter().rposition(|l| l.starts_with("[error"));
    assert!(first_warning > last_error, "{text}");
    assert_eq!(headings.len(), report.by_rule.len(), "{text}");
    assert!(report.fails(validate::Level::Error));
    assert!(text.trim_end().ends_with(')'), "{text}");
    assert!(text.contains(&format!("{} violation(s)", report.violations.len())));

    // The allow-list excuses exactly its entries, and reports bad or stale ones.
    let allow = "# exceptions\n\
                 C001 widgets_tbl # the fixture proves excusing works\n\
                 C002 ores_iam_helper\n\
                 C003 no_such_view # stale\n";
    let report = validate::run_with(&env.config, &manifest, allow).unwrap();
    assert!(!report.fires("C001", "widgets_tbl"));
    assert_eq!(report.allowed.len(), 1);
    assert_eq!(
        report.allowed[0].reason,
        "the fixture proves excusing works"
    );
    assert!(
        report.fires("C002", "ores_iam_helper"),
        "a reasonless entry excuses nothing"
    );
    let a001 = report.of_rule("A001");
    assert_eq!(a001.len(), 1, "{report}");
    assert!(a001[0].message.starts_with("line 3:"), "{report}");
    let a002 = report.of_rule("A002");
    assert_eq!(a002.len(), 1, "{report}");
    assert!(a002[0].message.contains("no_such_view"), "{report}");
}

#[test]
fn the_validation_notes_document_every_rule() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/validation.md"))
            .unwrap();
    let table: String = validate::rules()
        .iter()
        .map(|r| {
            format!(
                "| `{}` | {} | {} | {} | {} | {} |\n",
                r.id,
                r.level,
                r.category,
                r.set,
                r.explanation.replace('|', "\\|"),
                r.remediation.replace('|', "\\|")
            )
        })
        .collect();
    assert!(
        readme.contains(&table),
        "docs/validation.md must carry this rule table:\n{table}"
    );
}
