//! `db diff` and `db plan` of an unchanged tree.

use crate::Res;
use crate::sample::{Sample, timed};
use ores_sql::{Config, Manifest};

/// `db diff` and `db plan` of an unchanged tree against the environment's database,
/// as left by a recreate (its template cached): read-only, timed once each.
pub(crate) struct DiffPlan {
    pub(crate) diff: Sample,
    pub(crate) plan: Sample,
}

impl DiffPlan {
    pub(crate) fn new() -> DiffPlan {
        DiffPlan {
            diff: Sample::new("db diff (ores_sql::diff_with), unchanged tree"),
            plan: Sample::new("db plan (ores_sql::plan_with), unchanged tree"),
        }
    }

    pub(crate) fn run_once(&mut self, config: &Config, manifest: &Manifest) -> Res<()> {
        let (d, report) = timed(|| Ok(ores_sql::diff_with(config, manifest)?))?;
        drop(report);
        self.diff.times.push(d);
        let (d, report) = timed(|| Ok(ores_sql::plan_with(config, manifest)?))?;
        if report.path != "cached" {
            return Err(format!("db plan of an unchanged tree says {}", report.path).into());
        }
        self.plan.times.push(d);
        Ok(())
    }
}
