//! Schema validation: the conventions of `sql/README.md`, checked on the scripts and on
//! the database they build.
//!
//! Three layers, each rule with a stable id (docs/validation.md lists them all):
//! - static rules (`S…`), on the script text; `build.rs` runs the same code
//!   (`tree::lint`), so a violation never even compiles;
//! - catalog rules (`C…`), on a built database's catalog;
//! - `plpgsql_check` (`P001`) over every PL/pgSQL function and trigger, inside a
//!   transaction that is rolled back, so the extension is never left behind.
//!
//! Every violation is reported, not just the first. Exceptions live in
//! `sql/validate-allow.txt` (compiled in), one `RULE OBJECT # reason` per line.
//!
//! ```no_run
//! let config = ores_sql::Config::load()?;
//! let report = ores_sql::validate::run(&config)?;
//! print!("{report}");
//! if !report.is_clean() {
//!     std::process::exit(1);
//! }
//! # Ok::<(), ores_sql::Error>(())
//! ```

mod catalog;
mod plpgsql;
mod report;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::admin::{connect_admin_to, database_exists};
use crate::server::rights::AdminRights;
use crate::tree::lint::{self, AllowEntry};
use crate::tree::manifest::{COMPILED_ALLOW_LIST, Manifest};
use crate::tree::registry::{self, Registry};
use plpgsql::{PlpgsqlOutcome, check_plpgsql};
use std::path::Path;

pub use crate::tree::lint::{Category, Level, Rule, RuleId, RuleSet};
pub use crate::tree::settings::{NamingPatterns, ValidateSettings};
pub(crate) use catalog::not_extension as catalog_not_extension;
pub use catalog::{check_catalog, check_catalog_in, check_catalog_with};
pub use report::{Allowed, Report, RuleCount, Skipped, Violation};

/// Path of the allow-list, relative to the repository root.
pub const ALLOW_LIST_PATH: &str = "sql/validate-allow.txt";

/// Every rule, static and catalog, in report order (for `compass db validate --list`
/// and docs/validation.md).
pub fn rules() -> Vec<Rule> {
    lint::all_rules().copied().collect()
}

/// The rules checked on the script text alone (also enforced by `build.rs`).
pub fn static_rules() -> Vec<Rule> {
    lint::static_rules().copied().collect()
}

/// The rules checked on a built database (catalog, `plpgsql_check`, allow-list use).
pub fn catalog_rules() -> Vec<Rule> {
    lint::catalog_rules().copied().collect()
}

/// The rule sets a tree runs: `universal`, then those its `[validate]` names.
pub fn rule_sets(settings: &crate::tree::settings::TreeSettings) -> Vec<RuleSet> {
    let mut sets = vec![RuleSet::Universal];
    if let Some(v) = &settings.validate {
        for s in RuleSet::ALL {
            if v.sets.contains(s) {
                sets.push(*s);
            }
        }
    }
    sets
}

/// Whether a tree with these settings runs `rule`: universal rules always, a
/// house-style rule when its set or its id is named in `[validate]`. Another team's
/// tree has its own names and layout, so it hears about isolation and correctness
/// first, and opts into conventions it shares.
pub fn runs(settings: &crate::tree::settings::TreeSettings, rule: RuleId) -> bool {
    let set = rule.rule().set;
    rule_sets(settings).contains(&set)
        || settings
            .validate
            .as_ref()
            .is_some_and(|v| v.rules.contains(&rule))
}

/// The explanation of a rule id.
pub fn explain(id: &str) -> Option<&'static str> {
    RuleId::parse(id).map(RuleId::explanation)
}

/// Validates the configured environment's database against the compiled-in manifest
/// and allow-list: static rules, catalog rules and `plpgsql_check`.
pub fn run(config: &Config) -> Result<Report> {
    run_with(config, Manifest::compiled(), COMPILED_ALLOW_LIST)
}

/// [`run`] for a tree read at run time or the compiled one (`db validate --sql-dir`),
/// with that tree's allow-list.
pub fn run_tree(config: &Config, tree: &crate::tree::source::SqlTree) -> Result<Report> {
    run_with(config, tree.manifest(), tree.allow_list())
}

/// [`run`] with another manifest and allow-list text (tests use fixtures).
pub fn run_with(config: &Config, manifest: &Manifest, allow_list: &str) -> Result<Report> {
    crate::runtime::off_runtime(|| {
        config.validate()?;
        let (entries, malformed) = lint::parse_allow_list(allow_list, ALLOW_LIST_PATH);

        let mut found: Vec<Violation> = malformed.into_iter().map(Violation::from).collect();
        found.extend(check_manifest(manifest));
        found.extend(check_registry(manifest.registry()));

        let mut admin = crate::server::admin::connect_admin(config)?;
        if !database_exists(&mut admin, &config.database)? {
            return Err(Error::NoSuchDatabase(config.database.clone()));
        }
        // Only the environment's roles may connect to its database.
        let rights = AdminRights::detect(&mut admin)?;
        rights.join_owner(&mut admin, &config.env)?;
        drop(admin);
        let mut client = connect_admin_to(config, &config.database)?;
        let settings = manifest.settings();
        let naming = settings
            .validate
            .as_ref()
            .map(|v| v.naming.clone())
            .unwrap_or_default();
        found.extend(check_catalog_with(
            &mut client,
            &config.env,
            manifest.registry(),
            &naming,
        )?);
        let mut report = Report {
            database: config.database.clone(),
            unreached: manifest.unreached().to_vec(),
            sets: rule_sets(settings),
            fail_on: settings
                .validate
                .as_ref()
                .and_then(|v| v.fail_on)
                .unwrap_or(Level::Error),
            ..Report::default()
        };
        match check_plpgsql(&mut client, &rights)? {
            PlpgsqlOutcome::Checked { checks, violations } => {
                report.plpgsql_checked = checks;
                found.extend(violations);
            }
            PlpgsqlOutcome::Unavailable(reason) => {
                log::warn!("P001 SKIPPED: {reason}");
                report.skipped.push(Skipped {
                    rule: RuleId::P001,
                    reason,
                });
            }
        }
        found.retain(|v| runs(settings, v.rule));
        apply_allow_list(&mut report, found, &entries);
        Ok(report)
    })
}

/// Splits violations into reported and excused; unused entries become A002.
fn apply_allow_list(report: &mut Report, found: Vec<Violation>, entries: &[AllowEntry]) {
    let mut used = vec![false; entries.len()];
    for v in found {
        let hit = entries
            .iter()
            .position(|e| e.rule == v.rule && e.object == v.object && v.rule != RuleId::A001);
        match hit {
            Some(i) => {
                used[i] = true;
                report.allowed.push(Allowed {
                    violation: v,
                    reason: entries[i].reason.clone(),
                });
            }
            None => report.violations.push(v),
        }
    }
    for (e, used) in entries.iter().zip(used) {
        if !used {
            report.violations.push(Violation {
                rule: RuleId::A002,
                object: ALLOW_LIST_PATH.to_string(),
                message: format!(
                    "line {}: `{} {}` matches no violation; remove it",
                    e.line, e.rule, e.object
                ),
            });
        }
    }
    // Enum order is the table's order, which is report order.
    report
        .violations
        .sort_by(|a, b| (a.rule, &a.object).cmp(&(b.rule, &b.object)));
    report.count_rules();
}

/// Static rules over a manifest's scripts (the scan-level rules S001/S002 held when
/// the manifest was built, or it would not exist).
pub fn check_manifest(manifest: &Manifest) -> Vec<Violation> {
    if manifest.entry_mode() {
        let scripts = manifest
            .scripts()
            .iter()
            .map(|s| (s.path.as_ref(), s.sql.as_ref()));
        return lint::check_entry_scripts(scripts)
            .into_iter()
            .map(Violation::from)
            .collect();
    }
    lint::check_scripts(manifest.scripts(), &manifest.registry().known_components())
        .into_iter()
        .map(Violation::from)
        .collect()
}

/// C026: every service that writes a component another service owns. Each one needs
/// an allow-list entry `C026 <service>:<component> # reason`.
pub fn check_registry(registry: &Registry) -> Vec<Violation> {
    registry
        .cross_writes()
        .into_iter()
        .map(|(service, component)| {
            let owner = registry.owner_of(component).map_or("?", |s| s.name);
            Violation {
                rule: RuleId::C026,
                object: format!("{service}:{component}"),
                message: format!(
                    "service {service} writes component {component}, which {owner} owns; say why in the allow-list"
                ),
            }
        })
        .collect()
}

/// Every static rule over a directory laid out like `sql/`, exactly as `build.rs`
/// checks the real one.
pub fn check_dir(root: &Path) -> Vec<Violation> {
    let label = root.display().to_string();
    lint::check_tree(root, &label, &registry::known_components())
        .1
        .into_iter()
        .map(Violation::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(rule: RuleId, object: &str) -> Violation {
        Violation {
            rule,
            object: object.into(),
            message: "broken".into(),
        }
    }

    #[test]
    fn report_prints_violations_skips_and_a_summary() {
        let mut report = Report {
            database: "db".into(),
            ..Report::default()
        };
        report.skipped.push(Skipped {
            rule: RuleId::P001,
            reason: "plpgsql_check is not installed".into(),
        });
        let entries = lint::parse_allow_list("C003 v # legacy view\n", "a").0;
        apply_allow_list(
            &mut report,
            vec![
                violation(RuleId::C007, "t"),
                violation(RuleId::C003, "v"),
                violation(RuleId::C001, "u"),
            ],
            &entries,
        );
        assert!(!report.is_clean());
        assert!(report.fails(Level::Warning) && !report.fails(Level::Error));
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().collect();
        // Both are warnings, one each: the rule id breaks the tie.
        assert!(lines[0].starts_with("[warning naming] C001 x1: "), "{text}");
        assert_eq!(lines[1], "C001 u: broken", "grouped by rule: {text}");
        assert!(lines[2].starts_with("  fix: rename the table"), "{text}");
        assert!(
            lines[3].starts_with("[warning correctness] C007 x1: "),
            "{text}"
        );
        assert_eq!(lines[4], "C007 t: broken");
        assert_eq!(lines[6], "SKIPPED P001: plpgsql_check is not installed");
        assert_eq!(lines[7], "allowed C003 v: broken (legacy view)");
        assert!(
            lines[8].starts_with("db: 2 violation(s) of 2 rule(s): 0 error, 2 warning"),
            "{text}"
        );
        assert!(
            lines[8].contains("1 allowed") && lines[8].contains("1 SKIPPED"),
            "{text}"
        );

        // An error sorts before the warnings, whatever its id.
        let mut report = Report::default();
        apply_allow_list(
            &mut report,
            vec![
                violation(RuleId::C001, "a"),
                violation(RuleId::C001, "b"),
                violation(RuleId::P001, "f"),
            ],
            &[],
        );
        assert_eq!(report.by_rule[0].rule, RuleId::P001);
        assert_eq!(report.by_rule[1].count, 2);
        assert!(report.fails(Level::Error));
    }

    #[test]
    fn a_clean_report_says_so() {
        let report = Report {
            database: "db".into(),
            ..Report::default()
        };
        assert!(report.is_clean());
        assert!(report.to_string().starts_with("db: no violations ("));
    }
}
