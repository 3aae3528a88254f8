//! Another team's tree (tests/fixtures/foreign_tree: psql entry scripts, its own
//! names): by default it hears the universal rules only, grouped by rule with the
//! worst first; a `[validate]` table opts it into the naming rules with its own
//! patterns, and then only the object that breaks *its* convention is reported.

use ores_sql::testing::ScratchEnv;
use ores_sql::testing::workload::copy_tree;
use ores_sql::validate::{self, Level, RuleSet};
use ores_sql::{Manifest, RunOptions};
use std::path::Path;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/foreign_tree")
}

/// The fixture with `extra` appended to its `ores-sql.toml`.
fn with_settings(extra: &str) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(), dir.path()).unwrap();
    let toml = dir.path().join("ores-sql.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}\n{extra}")).unwrap();
    let manifest = Manifest::from_dir(dir.path()).unwrap();
    (dir, manifest)
}

#[test]
fn a_foreign_tree_hears_the_universal_rules_and_opts_into_its_own_naming() {
    let env = ScratchEnv::new("vfo").unwrap();
    let manifest = Manifest::from_dir(&fixture()).unwrap();
    ores_sql::recreate_with(&env.config, &manifest, &RunOptions::default()).unwrap();

    // The signal: the universal findings, and none of ORE Studio's house style
    // (its tables are not `ores_*_tbl`, its policies read no ores function).
    let report = validate::run_with(&env.config, &manifest, "").unwrap();
    println!("{report}");
    assert_eq!(report.sets, [RuleSet::Universal]);
    assert!(report.fires("C011", "sales_orders"), "{report}");
    assert!(report.fires("C019", "fn_sales_order_count"), "{report}");
    assert!(
        report.fires("C030", "sales_orders_tenant_id_customer_id_fkey"),
        "{report}"
    );
    for v in &report.violations {
        assert_eq!(v.rule.rule().set, RuleSet::Universal, "{v}");
    }
    assert_eq!(report.violations.len(), 3, "{report}");
    // Grouped, worst first: the two errors, then the performance warning.
    let order: Vec<&str> = report.by_rule.iter().map(|c| c.rule.as_str()).collect();
    assert_eq!(order, ["C011", "C019", "C030"], "{report}");
    assert_eq!(report.by_rule[2].level, Level::Warning);
    assert!(report.fails(Level::Error) && report.fail_on == Level::Error);
    let text = report.to_string();
    assert!(text.starts_with("[error security] C011 x1: "), "{text}");
    assert!(text.contains("  fix: "), "{text}");

    // Opting into naming with ORE Studio's patterns flags every table: the
    // patterns, not the set, encode a team's convention.
    let (_d, ours) = with_settings("[validate]\nsets = [\"naming\"]\n");
    let report = validate::run_with(&env.config, &ours, "").unwrap();
    assert!(report.fires("C001", "sales_customers"), "{report}");
    assert!(report.fires("C005", "ix_sales_customers_name"), "{report}");

    // With the team's own patterns only the index that breaks them is reported.
    let (_d, theirs) = with_settings(
        "[validate]\nsets = [\"naming\"]\nfail_on = \"warning\"\n\
         [validate.naming]\ntable = \"{component}_*\"\nfunction = \"fn_*\"\n\
         index = \"ix_*\"\npolicy = \"*_policy\"\n",
    );
    let report = validate::run_with(&env.config, &theirs, "").unwrap();
    println!("{report}");
    assert_eq!(report.sets, [RuleSet::Universal, RuleSet::Naming]);
    let naming: Vec<(&str, &str)> = report
        .violations
        .iter()
        .filter(|v| v.rule.rule().set == RuleSet::Naming)
        .map(|v| (v.rule.as_str(), v.object.as_str()))
        .collect();
    assert_eq!(naming, [("C005", "orders_by_date")], "{report}");
    assert_eq!(report.fail_on, Level::Warning);
    assert!(
        report.of_rule("C012").is_empty(),
        "tenancy was not opted into"
    );
}
