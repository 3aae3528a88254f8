//! The three recreates every workload measures (full, parallel, cached).

use crate::sample::{Sample, timed};
use crate::{Res, scratch_options, settle};
use ores_sql::{Config, Manifest, RunOptions};
use std::time::Duration;

/// One recreate path, run as `compass db recreate` runs it, and its samples.
pub(crate) struct RecreatePath {
    pub(crate) config: Config,
    pub(crate) options: RunOptions,
    /// The build path its report must name.
    pub(crate) expected: &'static str,
    pub(crate) total: Sample,
    pub(crate) usable: Sample,
    pub(crate) after_return: Sample,
}

/// The three recreates every workload measures, each replacing an existing database
/// as a real one does (so each total includes the drop of the previous copy): full
/// (`rebuild`, one transaction), parallel (`--workers N`) and cached. Each returns
/// once its database is in place, and what follows the swap (the previous copy's
/// drop, the next spare copy of the template) runs in the background; the totals
/// wait for that work too.
pub(crate) struct Recreates {
    pub(crate) full: RecreatePath,
    pub(crate) parallel: RecreatePath,
    pub(crate) cached: RecreatePath,
}

impl Recreates {
    pub(crate) fn new(config: &Config, workers: usize, full_name: &'static str) -> Recreates {
        let cached = scratch_options().retire_in_background(true);
        let full = cached.clone().rebuild(true).workers(1);
        let parallel = full.clone().workers(workers);
        let path = |options, expected, total, usable, after_return| RecreatePath {
            config: config.clone(),
            options,
            expected,
            total: Sample::new(total),
            usable: Sample::new(usable),
            after_return: Sample::new(after_return),
        };
        Recreates {
            full: path(
                full,
                "full",
                full_name,
                "  of which until usable (renamed, open)",
                "  of which after return (drop, spare copy)",
            ),
            parallel: path(
                parallel,
                "parallel",
                "recreate, parallel build",
                "  of which until usable",
                "  of which after return",
            ),
            cached: path(
                cached,
                "cached",
                "recreate, cached (spare copy of the template)",
                "  of which until usable",
                "  of which after return",
            ),
        }
    }

    /// One recreate of each path, each from a settled server.
    pub(crate) fn run_once(
        &mut self,
        admin: &mut postgres::Client,
        manifest: &Manifest,
    ) -> Res<()> {
        for p in [&mut self.full, &mut self.parallel, &mut self.cached] {
            settle(admin)?;
            let t = timed_recreate(&p.config, &p.options, manifest, p.expected)?;
            p.total.times.push(t.total);
            p.usable.times.push(t.usable);
            p.after_return.times.push(t.after_return);
        }
        Ok(())
    }

    /// The samples in table order, the work after return shown or not.
    pub(crate) fn rows(&self, after_return: bool) -> Vec<&Sample> {
        [&self.full, &self.parallel, &self.cached]
            .into_iter()
            .flat_map(|p| {
                let mut rows = vec![&p.total, &p.usable];
                if after_return {
                    rows.push(&p.after_return);
                }
                rows
            })
            .collect()
    }
}

/// One recreate's times: until usable, the work after return, and both.
pub(crate) struct RecreateTimes {
    pub(crate) usable: Duration,
    pub(crate) after_return: Duration,
    pub(crate) total: Duration,
}

/// Recreates with `cfg` and `options`, waits for the work after return, and checks
/// the path taken.
pub(crate) fn timed_recreate(
    cfg: &Config,
    options: &RunOptions,
    manifest: &Manifest,
    expected: &str,
) -> Res<RecreateTimes> {
    let (d, report) = timed(|| Ok(ores_sql::recreate_with(cfg, manifest, options)?))?;
    let (after_return, ()) = timed(|| {
        ores_sql::lifecycle::retire::wait_for_background();
        Ok(())
    })?;
    if report.path.as_str() != expected {
        return Err(format!("expected a {expected} build, got {}", report.path.as_str()).into());
    }
    Ok(RecreateTimes {
        usable: report.usable_after,
        after_return,
        total: d + after_return,
    })
}
