//! Checking that a `.env` is complete and written for this version of the tool.
//!
//! A `.env` declares the format it follows with `ORES_ENV_FORMAT`; when the set of
//! keys changes in a way an old file cannot satisfy, the version goes up, and an old
//! binary refuses a newer file instead of half-understanding it.
//!
//! A `.env` written for ORE Studio's own scripts has no `ORES_ENV_FORMAT`; it carries
//! ORE Studio's `ORES_ENV_VERSION` instead, whose numbering is that project's. Such a
//! file is read through ORE Studio's spellings of our keys ([`super::upstream`]), and
//! its version number is only checked to be one.

use crate::config::upstream::{self, UPSTREAM_VERSION_KEY};
use crate::config::{Config, load_vars};
use crate::error::{Error, Result};
use crate::tree::roles::roles_for;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The key that declares the file's format version.
pub const FORMAT_KEY: &str = "ORES_ENV_FORMAT";
/// The format version this binary reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Keys every complete configuration sets, besides the passwords.
pub const REQUIRED_KEYS: [&str; 2] = [FORMAT_KEY, "ORES_ENV"];

/// Keys this binary understands besides `ORES_DB_<SUFFIX>_PASSWORD`.
const KNOWN_KEYS: [&str; 14] = [
    FORMAT_KEY,
    "ORES_ENV",
    "ORES_DB_NAME",
    "ORES_DB_CONNECT_TIMEOUT",
    "ORES_DB_LOCK_TIMEOUT",
    "ORES_DB_BUILD_WORKERS",
    "ORES_DB_EXTENSIONS",
    "ORES_DOTENV",
    "ORES_PSQL",
    "ORES_SQL_DIR",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
];

/// What the file says about its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The version this binary understands.
    Supported(u32),
    /// No `ORES_ENV_FORMAT` at all.
    Missing,
    /// A version this binary does not know (newer, or zero).
    Unsupported(u32),
    /// Not a number.
    Malformed(String),
    /// No `ORES_ENV_FORMAT`, but ORE Studio's `ORES_ENV_VERSION`: a file written for
    /// its scripts, read through its spellings of our keys.
    Upstream(u32),
}

/// The outcome of `compass env check`.
#[derive(Debug, Clone)]
pub struct EnvCheck {
    /// The file that was read, if one was found.
    pub path: Option<PathBuf>,
    /// The declared format.
    pub format: Format,
    /// Required keys that are not set (in the file or the environment), by name.
    pub missing: Vec<String>,
    /// `ORES_*` keys this binary does not know: usually a typo.
    pub unknown: Vec<String>,
}

impl EnvCheck {
    /// Complete and of a supported format. Unknown keys alone do not fail the check.
    pub fn is_ok(&self) -> bool {
        matches!(self.format, Format::Supported(_) | Format::Upstream(_)) && self.missing.is_empty()
    }
}

/// The password key of a login role suffix: `cli_user` -> `ORES_DB_CLI_USER_PASSWORD`.
pub fn password_key(suffix: &str) -> String {
    format!("ORES_DB_{}_PASSWORD", suffix.to_ascii_uppercase())
}

/// Every key a complete configuration sets: the format, the environment label and
/// one password per login role.
pub fn required_keys() -> Vec<String> {
    let mut keys: Vec<String> = REQUIRED_KEYS.iter().map(|k| k.to_string()).collect();
    // Suffixes do not depend on the label; any valid one lists them.
    keys.extend(
        roles_for("x")
            .into_iter()
            .filter(|r| r.login)
            .map(|r| password_key(&r.suffix)),
    );
    keys
}

/// Checks a set of variables (file merged with the environment).
///
/// ORE Studio's spellings count for the key they stand for. In a file written for
/// ORE Studio's scripts (format [`Format::Upstream`]) only unknown `..._PASSWORD` keys
/// are reported: the rest of such a file configures ORE Studio's own applications
/// (message bus, ports, names) and is none of our business.
pub fn check_vars(vars: &BTreeMap<String, String>, path: Option<PathBuf>) -> EnvCheck {
    let set = |k: &str| vars.get(k).is_some_and(|v| !v.trim().is_empty());
    let format = match vars.get(FORMAT_KEY).map(|v| v.trim()) {
        None | Some("") => match upstream::upstream_version(vars) {
            Ok(Some(n)) => Format::Upstream(n),
            // A malformed ORES_ENV_VERSION declares nothing (and loading refuses it).
            _ => Format::Missing,
        },
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n == FORMAT_VERSION => Format::Supported(n),
            Ok(n) => Format::Unsupported(n),
            Err(_) => Format::Malformed(v.to_string()),
        },
    };
    let settings = upstream::settings();
    let set_under_any_spelling = |key: &str| {
        set(key)
            || settings
                .iter()
                .filter(|s| s.canonical == key)
                .flat_map(|s| &s.aliases)
                .any(|a| set(a))
    };
    let required = required_keys();
    let upstream_file = matches!(format, Format::Upstream(_));
    let missing = required
        .iter()
        .filter(|k| !(upstream_file && k.as_str() == FORMAT_KEY))
        .filter(|k| !set_under_any_spelling(k))
        .cloned()
        .collect();
    let aliases = upstream::alias_keys();
    let unknown = vars
        .keys()
        .filter(|k| k.starts_with("ORES_"))
        .filter(|k| !upstream_file || k.ends_with("_PASSWORD"))
        .filter(|k| {
            !KNOWN_KEYS.contains(&k.as_str())
                && k.as_str() != UPSTREAM_VERSION_KEY
                && !required.contains(k)
                && !aliases.contains(k)
        })
        .cloned()
        .collect();
    EnvCheck {
        path,
        format,
        missing,
        unknown,
    }
}

/// Checks the configuration `compass` would use right now: the `.env` it finds
/// (or `ORES_DOTENV`) with exported variables over it. Values must also parse.
pub fn check() -> Result<EnvCheck> {
    let config = Config::load()?;
    let path = config.dotenv_path.clone();
    Ok(check_vars(&load_vars(path.as_deref())?, path))
}

/// A one-line description of a failed check, saying what to do.
pub fn describe_failure(check: &EnvCheck) -> Option<Error> {
    let mut problems = Vec::new();
    match &check.format {
        Format::Supported(_) | Format::Upstream(_) => {}
        Format::Missing => {}
        Format::Unsupported(n) => problems.push(format!(
            "{FORMAT_KEY}={n} is not a format this compass understands (it reads {FORMAT_VERSION}); use a matching compass or rewrite the file"
        )),
        Format::Malformed(v) => problems.push(format!(
            "{FORMAT_KEY}={v:?} is not a version number; set {FORMAT_KEY}={FORMAT_VERSION}"
        )),
    }
    if !check.missing.is_empty() {
        // A file written for ORE Studio's scripts is completed in its own spelling.
        let settings = upstream::settings();
        let named: Vec<String> = check
            .missing
            .iter()
            .map(|k| {
                let aliases = settings
                    .iter()
                    .find(|s| &s.canonical == k)
                    .map(|s| s.aliases.as_slice())
                    .unwrap_or_default();
                match (&check.format, aliases.first()) {
                    (Format::Upstream(_), Some(alias)) => format!("{k} (or {alias})"),
                    _ => k.clone(),
                }
            })
            .collect();
        problems.push(format!(
            "missing {}; add them to the .env (or export them)",
            named.join(", ")
        ));
    }
    (!problems.is_empty()).then(|| Error::Config(problems.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> BTreeMap<String, String> {
        let mut vars: BTreeMap<String, String> = required_keys()
            .into_iter()
            .map(|k| (k, "v".to_string()))
            .collect();
        vars.insert(FORMAT_KEY.into(), FORMAT_VERSION.to_string());
        vars
    }

    #[test]
    fn a_complete_file_passes() {
        let c = check_vars(&complete(), None);
        assert!(c.is_ok(), "{c:?}");
        assert!(describe_failure(&c).is_none());
    }

    #[test]
    fn missing_keys_are_named() {
        let mut vars = complete();
        vars.remove("ORES_DB_CLI_USER_PASSWORD");
        vars.remove(FORMAT_KEY);
        let c = check_vars(&vars, None);
        assert_eq!(c.format, Format::Missing);
        assert!(c.missing.contains(&"ORES_DB_CLI_USER_PASSWORD".to_string()));
        assert!(c.missing.contains(&FORMAT_KEY.to_string()));
        let msg = describe_failure(&c).unwrap().to_string();
        assert!(msg.contains("ORES_DB_CLI_USER_PASSWORD"), "{msg}");
    }

    #[test]
    fn newer_formats_and_typos_are_reported() {
        let mut vars = complete();
        vars.insert(FORMAT_KEY.into(), "2".into());
        vars.insert("ORES_DB_IAM_SERVCE_PASSWORD".into(), "x".into());
        let c = check_vars(&vars, None);
        assert_eq!(c.format, Format::Unsupported(2));
        assert_eq!(c.unknown, ["ORES_DB_IAM_SERVCE_PASSWORD"]);
        assert!(!c.is_ok());
    }
}
