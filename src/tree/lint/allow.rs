//! The allow-list: exceptions to the rules, each with its reason (rule A001).

use super::StaticViolation;
use super::rules::RuleId;

/// One accepted exception: a rule id, the object it applies to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    /// Rule id.
    pub rule: RuleId,
    /// Object name exactly as the report prints it (for static rules, the script path).
    pub object: String,
    /// Why the exception is acceptable.
    pub reason: String,
    /// 1-based line in the allow-list file.
    pub line: usize,
}

/// Parses an allow-list: one `RULE OBJECT # reason` per line; blank lines and lines
/// starting with `#` are comments. Every malformed entry is reported (rule A001).
pub fn parse_allow_list(text: &str, file: &str) -> (Vec<AllowEntry>, Vec<StaticViolation>) {
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fail = |message: String| {
            bad.push(StaticViolation {
                rule: RuleId::A001,
                object: file.to_string(),
                line: Some(idx + 1),
                message,
            })
        };
        let (head, reason) = match line.split_once('#') {
            Some((h, r)) => (h.trim(), r.trim()),
            None => (line, ""),
        };
        let mut parts = head.split_whitespace();
        let (Some(rule), Some(object), None) = (parts.next(), parts.next(), parts.next()) else {
            fail(format!("`{line}`: expected `RULE OBJECT # reason`"));
            continue;
        };
        let Some(id) = RuleId::parse(rule) else {
            fail(format!("`{rule}` is not a rule id"));
            continue;
        };
        if reason.is_empty() {
            fail(format!(
                "`{rule} {object}` gives no reason; write `# why this is acceptable`"
            ));
            continue;
        }
        entries.push(AllowEntry {
            rule: id,
            object: object.to_string(),
            reason: reason.to_string(),
            line: idx + 1,
        });
    }
    (entries, bad)
}
