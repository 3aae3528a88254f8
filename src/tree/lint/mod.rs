//! Static rules: what the SQL scripts themselves must (not) say, checked without a server.
//!
//! Compiled twice, like `scan.rs`: by `build.rs` (through `#[path]`), so a violation is
//! a build error naming the file and the rule, and into the library, so tests can feed
//! broken fixture trees to the very code that decides the build. It depends only on
//! `std` and its sibling module `scan` (present under the same name in both crates).
//!
//! Keywords are matched on tokens, never on raw text: comments, string literals,
//! quoted identifiers and dollar-quoted bodies are lexed out first, so a function body
//! that mentions `ALTER TABLE` or a comment quoting `\i` cannot trip a rule.

mod allow;
mod layout;
pub(crate) mod lexer;
mod rules;
mod statements;
pub(crate) use statements::CONSTRAINT_WORDS;
#[cfg(test)]
mod tests;
mod transaction;

use std::fmt;

pub use allow::{AllowEntry, parse_allow_list};
pub use layout::{check_entry_scripts, check_scripts, check_tree, scan_violation};
pub use rules::{Category, Level, Rule, RuleId, RuleSet, all_rules, catalog_rules, static_rules};
pub use statements::created_relations;
pub(crate) use transaction::ControlScan;
pub use transaction::{transaction_control, transaction_control_message};

/// One broken rule, found without a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticViolation {
    /// Rule id.
    pub rule: RuleId,
    /// The script (relative path) or allow-list entry concerned.
    pub object: String,
    /// 1-based line, when one statement is to blame.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for StaticViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.rule, self.object)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}
