//! What a validation run found, and how it reads for people.

use crate::tree::lint::{self, RuleId, StaticViolation};
use serde::{Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;

fn rule_id<S: Serializer>(rule: &RuleId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.as_str())
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Violation {
    /// Rule id, e.g. `C008`.
    #[serde(serialize_with = "rule_id")]
    pub rule: RuleId,
    /// What breaks it: a table, function, role, or script path (`service:table` for
    /// privilege rules, so an entry does not depend on the environment label).
    pub object: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.rule, self.object, self.message)
    }
}

impl From<StaticViolation> for Violation {
    fn from(v: StaticViolation) -> Violation {
        let message = match v.line {
            Some(line) => format!("line {line}: {}", v.message),
            None => v.message,
        };
        Violation {
            rule: v.rule,
            object: v.object,
            message,
        }
    }
}

/// A violation excused by the allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Allowed {
    /// The violation.
    #[serde(flatten)]
    pub violation: Violation,
    /// The reason the allow-list gives.
    pub reason: String,
}

/// A rule that could not be checked, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Skipped {
    /// Rule id.
    #[serde(serialize_with = "rule_id")]
    pub rule: RuleId,
    /// Why, and what to do about it.
    pub reason: String,
}

/// The outcome of a validation run (`compass db validate --json` prints it).
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The database whose catalog was checked.
    pub database: String,
    /// Every violation not excused by the allow-list, in rule order.
    pub violations: Vec<Violation>,
    /// Violations the allow-list excuses.
    pub allowed: Vec<Allowed>,
    /// Rules that could not be checked (never silently).
    pub skipped: Vec<Skipped>,
    /// PL/pgSQL function (and trigger) checks `plpgsql_check` ran.
    pub plpgsql_checked: usize,
    /// Entry mode: `.sql` files of the tree no entry script reaches (reported, not
    /// violations: old and drop scripts are normal beside a tree's SQL).
    pub unreached: Vec<String>,
}

impl Report {
    /// No violation (skipped rules are reported but do not fail the run).
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Violations of one rule.
    pub fn of_rule(&self, rule: &str) -> Vec<&Violation> {
        self.violations.iter().filter(|v| v.rule == rule).collect()
    }

    /// Whether `rule` fired for exactly `object`.
    pub fn fires(&self, rule: &str, object: &str) -> bool {
        self.violations
            .iter()
            .any(|v| v.rule == rule && v.object == object)
    }
}

impl fmt::Display for Report {
    /// One line per violation (`RULE object: message`), then skipped rules, excused
    /// violations and a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.violations {
            writeln!(f, "{v}")?;
        }
        for s in &self.skipped {
            writeln!(f, "SKIPPED {}: {}", s.rule, s.reason)?;
        }
        for a in &self.allowed {
            writeln!(f, "allowed {} ({})", a.violation, a.reason)?;
        }
        for u in &self.unreached {
            writeln!(f, "unreached {u}: no entry script includes it; not built")?;
        }
        let rules = lint::all_rules().count();
        if self.violations.is_empty() {
            write!(f, "{}: no violations ({} rules", self.database, rules)?;
        } else {
            let broken: BTreeSet<&str> = self.violations.iter().map(|v| v.rule.as_str()).collect();
            write!(
                f,
                "{}: {} violation(s) of {} rule(s) ({} rules",
                self.database,
                self.violations.len(),
                broken.len(),
                rules
            )?;
        }
        write!(f, ", {} PL/pgSQL checks", self.plpgsql_checked)?;
        if !self.allowed.is_empty() {
            write!(f, ", {} allowed", self.allowed.len())?;
        }
        if !self.skipped.is_empty() {
            write!(f, ", {} SKIPPED", self.skipped.len())?;
        }
        writeln!(f, ")")
    }
}
