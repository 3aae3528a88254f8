//! Schema validation: the real schema passes, and every rule can fail.
//!
//! Catalog rules are proven on as few builds as possible: one throwaway database
//! built from the real manifest receives many independent breakages, and each rule
//! is asserted to fire for the very object that breaks it.

use ores_sql::Manifest;
use ores_sql::admin::connect_admin_to;
use ores_sql::testing::ScratchEnv;
use ores_sql::validate::{self, Report};

fn real_report(env: &ScratchEnv) -> Report {
    validate::run_with(&env.config, Manifest::compiled(), "").unwrap()
}

#[test]
fn real_schema_passes_every_rule() {
    let env = ScratchEnv::new("vreal").unwrap();
    ores_sql::recreate(&env.config).unwrap();
    let report = validate::run(&env.config).unwrap();
    println!("{report}");
    assert!(report.is_clean(), "{report}");
    assert!(report.skipped.is_empty(), "{report}");
}
