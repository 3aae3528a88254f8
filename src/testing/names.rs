//! Every name the test harness gives a database or an environment, in one place:
//! test databases `ores_t_<key>_<owner>_<n>`, templates `ores_tpl_<key>`, ready
//! clones `ores_tp_<key>_<owner>_<n>`, and the roles' label `t_<key>`. Cleanup
//! decides what is whose by parsing these names, so they are made and read here only.

use super::owner::Owner;

// Defined beside the other reserved names, so `compass db list` can tell them
// apart in a build without this harness.
pub use crate::lifecycle::target::{POOL_PREFIX, TEMPLATE_PREFIX, TEST_DB_PREFIX};

/// Comment that marks a test database kept for debugging (cleanup leaves it alone).
pub const KEPT_COMMENT: &str = "ores-sql: kept test database";
/// Length of the key prefix used in names.
pub(super) const SHORT: usize = 12;

/// What a template depends on, digested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateKey {
    /// Hex SHA-256 over everything that changes what a clone contains.
    pub full: String,
    /// Its first 12 hex digits, used in names.
    pub short: String,
}

impl TemplateKey {
    /// The key of a full digest; names use its first 12 hex digits.
    pub fn from_full(full: String) -> TemplateKey {
        TemplateKey {
            short: full[..SHORT].to_string(),
            full,
        }
    }

    /// `ores_tpl_<short>`.
    pub fn template_name(&self) -> String {
        format!("{TEMPLATE_PREFIX}{}", self.short)
    }

    /// Where the template is built before it is renamed into place.
    pub fn build_name(&self) -> String {
        build_name(&self.short)
    }

    /// Environment label of the template's roles: `t_<short>`. Each key has roles of
    /// its own, so removing an old template's roles never touches a newer one, and the
    /// hex label cannot collide with a developer's `local`/`ci` environment.
    pub fn label(&self) -> String {
        label(&self.short)
    }
}

pub(super) fn build_name(short: &str) -> String {
    format!("{TEMPLATE_PREFIX}{short}_build")
}

pub(super) fn label(short: &str) -> String {
    format!("t_{short}")
}

/// Prefix of the pool databases of `key`.
pub fn pool_prefix(short: &str) -> String {
    format!("{POOL_PREFIX}{short}_")
}

/// A test database name split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDbName {
    /// Template key prefix.
    pub key: String,
    /// Owning process.
    pub owner: Owner,
    /// Counter within the owner.
    pub n: u64,
}

/// Builds a test database name.
pub fn test_db_name(key: &str, owner: &Owner, n: u64) -> String {
    format!("{TEST_DB_PREFIX}{key}_{}_{}", owner.tag(), base36(n))
}

/// Parses a name made by [`test_db_name`]; anything else is not ours.
pub fn parse_test_db_name(name: &str) -> Option<TestDbName> {
    let rest = name.strip_prefix(TEST_DB_PREFIX)?;
    let parts: Vec<&str> = rest.split('_').collect();
    let [key, host, pid, start, n] = parts.as_slice() else {
        return None;
    };
    if key.is_empty() || host.len() != 4 || !host.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(TestDbName {
        key: key.to_string(),
        owner: Owner {
            host: host.to_string(),
            pid: u32::try_from(from_base36(pid)?).ok()?,
            start: from_base36(start)?,
        },
        n: from_base36(n)?,
    })
}

/// `v` in base 36 (lowercase), the shortest way to put a number in a name.
pub fn base36(mut v: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if v == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while v > 0 {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

pub(super) fn from_base36(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    u64::from_str_radix(s, 36).ok()
}
