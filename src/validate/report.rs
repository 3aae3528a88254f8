//! What a validation run found, and how it reads for people.

use crate::tree::lint::{self, Category, Level, RuleId, RuleSet, StaticViolation};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

fn rule_id<S: Serializer>(rule: &RuleId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.as_str())
}

fn level_name<S: Serializer>(level: &Level, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(level.as_str())
}

fn category_name<S: Serializer>(category: &Category, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(category.as_str())
}

fn set_names<S: Serializer>(sets: &[RuleSet], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(sets.iter().map(|r| r.as_str()))
}

/// One broken rule. Serialised with its rule's `level`, `category` and
/// `remediation`, so a CI script reading `--json` need not carry the rule table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// Rule id, e.g. `C008`.
    pub rule: RuleId,
    /// What breaks it: a table, function, role, or script path (`service:table` for
    /// privilege rules, so an entry does not depend on the environment label).
    pub object: String,
    /// What is wrong.
    pub message: String,
}

impl Violation {
    /// How bad it is (its rule's level).
    pub fn level(&self) -> Level {
        self.rule.level()
    }
}

impl Serialize for Violation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rule = self.rule.rule();
        let mut v = s.serialize_struct("Violation", 6)?;
        v.serialize_field("rule", rule.id.as_str())?;
        v.serialize_field("object", &self.object)?;
        v.serialize_field("message", &self.message)?;
        v.serialize_field("level", rule.level.as_str())?;
        v.serialize_field("category", rule.category.as_str())?;
        v.serialize_field("remediation", rule.remediation)?;
        v.end()
    }
}

/// How many violations one rule has, with what the rule table says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RuleCount {
    /// Rule id.
    #[serde(serialize_with = "rule_id")]
    pub rule: RuleId,
    /// Its level.
    #[serde(serialize_with = "level_name")]
    pub level: Level,
    /// Its category.
    #[serde(serialize_with = "category_name")]
    pub category: Category,
    /// Violations of it in the report.
    pub count: usize,
    /// What it demands.
    pub explanation: &'static str,
    /// What to do.
    pub remediation: &'static str,
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
#[derive(Debug, Clone, Serialize)]
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
    /// The rule sets that ran: `universal`, then the house-style sets the tree's
    /// `[validate]` opts into.
    #[serde(serialize_with = "set_names")]
    pub sets: Vec<RuleSet>,
    /// The tree's own threshold (`[validate] fail_on`, else `error`); `--fail-on`
    /// overrides it.
    #[serde(serialize_with = "level_name")]
    pub fail_on: Level,
    /// Violations per rule, worst first (level, then count, then id).
    pub by_rule: Vec<RuleCount>,
}

impl Default for Report {
    fn default() -> Report {
        Report {
            database: String::new(),
            violations: Vec::new(),
            allowed: Vec::new(),
            skipped: Vec::new(),
            plpgsql_checked: 0,
            unreached: Vec::new(),
            sets: vec![RuleSet::Universal],
            fail_on: Level::Error,
            by_rule: Vec::new(),
        }
    }
}

impl Report {
    /// No violation at all (skipped rules are reported but do not fail the run).
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Whether a violation reaches `threshold` (`--fail-on`): `Level::Error` fails on
    /// errors only, `Level::Info` on anything.
    pub fn fails(&self, threshold: Level) -> bool {
        self.violations.iter().any(|v| v.level() >= threshold)
    }

    /// Fills [`Report::by_rule`] from the violations.
    pub(super) fn count_rules(&mut self) {
        let mut counts: BTreeMap<RuleId, usize> = BTreeMap::new();
        for v in &self.violations {
            *counts.entry(v.rule).or_default() += 1;
        }
        let mut by_rule: Vec<RuleCount> = counts
            .into_iter()
            .map(|(id, count)| {
                let r = id.rule();
                RuleCount {
                    rule: id,
                    level: r.level,
                    category: r.category,
                    count,
                    explanation: r.explanation,
                    remediation: r.remediation,
                }
            })
            .collect();
        by_rule.sort_by(|a, b| (b.level, b.count, a.rule).cmp(&(a.level, a.count, b.rule)));
        self.by_rule = by_rule;
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
    /// The violations grouped by rule, worst first: a heading with the rule's level,
    /// category, count and demand, one line per violation (`RULE object: message`)
    /// and the remedy; then skipped rules, excused violations and a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for group in &self.by_rule {
            writeln!(
                f,
                "[{} {}] {} x{}: {}",
                group.level, group.category, group.rule, group.count, group.explanation
            )?;
            for v in self.violations.iter().filter(|v| v.rule == group.rule) {
                writeln!(f, "{v}")?;
            }
            writeln!(f, "  fix: {}", group.remediation)?;
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
            let at = |l: Level| self.violations.iter().filter(|v| v.level() == l).count();
            write!(
                f,
                "{}: {} violation(s) of {} rule(s): {} error, {} warning, {} info ({} rules",
                self.database,
                self.violations.len(),
                self.by_rule.len(),
                at(Level::Error),
                at(Level::Warning),
                at(Level::Info),
                rules
            )?;
        }
        let sets: Vec<&str> = self.sets.iter().map(|s| s.as_str()).collect();
        write!(f, ", sets {}", sets.join("+"))?;
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
