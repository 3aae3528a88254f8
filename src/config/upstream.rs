//! ORE Studio's own `.env` keys, read as other spellings of ours.
//!
//! The real ORE Studio tree's scripts (and the tool that writes its `.env`) name the
//! same settings differently: `ORES_DB_HOST` for `PGHOST`,
//! `ORES_DB_DDL_PASSWORD` for `ORES_DB_DDL_USER_PASSWORD`,
//! `ORES_IAM_SERVICE_DB_PASSWORD` for `ORES_DB_IAM_SERVICE_PASSWORD`, and so on. So
//! that such a file works unchanged, every spelling is folded into our key before
//! the configuration is built; the rest of the crate knows one name per setting.
//!
//! Two spellings of one setting that are both set must agree. Resolution happens per
//! source (the file, then the exported variables), so an exported variable still
//! overrides whatever the file says under either spelling, as it does for any key.

use crate::config::envfile::password_key;
use crate::error::{Error, Result};
use crate::tree::registry::SERVICES;
use std::collections::BTreeMap;

/// The key ORE Studio's `.env` declares its own format version with: an integer that
/// its tool raises whenever the file's set of keys changes. We do not follow that
/// numbering (our format is `ORES_ENV_FORMAT`); the key says "this file was written
/// for ORE Studio's scripts", and must be a positive integer when present.
pub const UPSTREAM_VERSION_KEY: &str = "ORES_ENV_VERSION";

/// Upstream spellings of each login user's password, by our role suffix. The
/// `ORES_DB_<STEM>_PASSWORD` forms are what its database scripts read; the others
/// are the same passwords as its applications read them.
const LOGIN_USER_SPELLINGS: [(&str, &[&str]); 8] = [
    ("ddl_user", &["ORES_DB_DDL_PASSWORD"]),
    (
        "cli_user",
        &["ORES_DB_CLI_PASSWORD", "ORES_CLI_DB_PASSWORD"],
    ),
    ("wt_user", &["ORES_DB_WT_PASSWORD", "ORES_WT_DB_PASSWORD"]),
    (
        "shell_user",
        &["ORES_DB_SHELL_PASSWORD", "ORES_SHELL_DB_PASSWORD"],
    ),
    (
        "http_user",
        &["ORES_DB_HTTP_PASSWORD", "ORES_HTTP_SERVER_DB_PASSWORD"],
    ),
    (
        "readonly_user",
        &["ORES_DB_RO_PASSWORD", "ORES_DB_READONLY_PASSWORD"],
    ),
    (
        "test_ddl_user",
        &["ORES_DB_TEST_DDL_PASSWORD", "ORES_TEST_DB_DDL_PASSWORD"],
    ),
    (
        "test_dml_user",
        &[
            "ORES_DB_TEST_DML_PASSWORD",
            "ORES_TEST_DB_PASSWORD",
            "ORES_DB_TEST_PASSWORD",
        ],
    ),
];

/// One setting and every key that may set it.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Our key, the one the configuration reads.
    pub canonical: String,
    /// The other keys, in the order they are looked at.
    pub aliases: Vec<String>,
    /// What it is, for messages.
    pub what: String,
    /// A password: its values are never shown, not even in a disagreement.
    pub secret: bool,
}

/// Every setting that has another spelling.
pub fn settings() -> Vec<Setting> {
    let plain = |canonical: &str, alias: &str, what: &str| Setting {
        canonical: canonical.to_string(),
        aliases: vec![alias.to_string()],
        what: what.to_string(),
        secret: false,
    };
    let mut out = vec![
        plain("PGHOST", "ORES_DB_HOST", "the server host"),
        plain("PGPORT", "ORES_DB_PORT", "the server port"),
        plain("ORES_DB_NAME", "ORES_DATABASE_NAME", "the database name"),
        plain("ORES_ENV", "ORES_ENV_NAME", "the environment label"),
    ];
    for (suffix, spellings) in LOGIN_USER_SPELLINGS {
        out.push(Setting {
            canonical: password_key(suffix),
            aliases: spellings.iter().map(|s| s.to_string()).collect(),
            what: format!("the password of login user {suffix}"),
            secret: true,
        });
    }
    for s in SERVICES {
        out.push(Setting {
            canonical: password_key(&s.password_key()),
            aliases: vec![format!(
                "ORES_{}_SERVICE_DB_PASSWORD",
                s.name.to_ascii_uppercase()
            )],
            what: format!("the password of the {} service", s.name),
            secret: true,
        });
    }
    out
}

/// Every key that is another spelling of one of ours.
pub fn alias_keys() -> Vec<String> {
    settings().into_iter().flat_map(|s| s.aliases).collect()
}

/// The value an alias stands for. Upstream derives role names from its environment
/// name lower-cased with `-` and `.` as `_` (`festive-hawking` names roles
/// `ores_festive_hawking_*`), so that is the label it means.
fn as_canonical(alias: &str, value: &str) -> String {
    if alias == "ORES_ENV_NAME" {
        value.to_ascii_lowercase().replace(['-', '.'], "_")
    } else {
        value.to_string()
    }
}

/// Folds every alias of `vars` into our key. `source` names where the variables
/// came from (a file, the exported environment) for the error. Idempotent.
///
/// An empty value counts as unset, as it does everywhere in the configuration.
pub fn resolve(vars: &BTreeMap<String, String>, source: &str) -> Result<BTreeMap<String, String>> {
    let mut out = vars.clone();
    for setting in settings() {
        let mut found: Option<(&str, String)> = None;
        let keys = std::iter::once(&setting.canonical).chain(&setting.aliases);
        for key in keys {
            let Some(raw) = vars.get(key).filter(|v| !v.is_empty()) else {
                continue;
            };
            let value = as_canonical(key, raw);
            match &found {
                None => found = Some((key, value)),
                Some((first, seen)) if *seen != value => {
                    return Err(disagreement(&setting, first, seen, key, &value, source));
                }
                Some(_) => {}
            }
        }
        for alias in &setting.aliases {
            out.remove(alias);
        }
        if let Some((_, value)) = found {
            out.insert(setting.canonical.clone(), value);
        }
    }
    Ok(out)
}

fn disagreement(
    setting: &Setting,
    first: &str,
    first_value: &str,
    second: &str,
    second_value: &str,
    source: &str,
) -> Error {
    let (a, b) = if setting.secret {
        // Naming the keys is enough to find them; a password is never echoed.
        (first.to_string(), second.to_string())
    } else {
        (
            format!("{first}={first_value:?}"),
            format!("{second}={second_value:?}"),
        )
    };
    let hidden = if setting.secret {
        " (values not shown)"
    } else {
        ""
    };
    Error::Config(format!(
        "{source}: {a} and {b} both set {} and disagree{hidden}; keep one of them, or make them equal",
        setting.what
    ))
}

/// Checks `ORES_ENV_VERSION` when it is set: a positive integer.
pub fn upstream_version(vars: &BTreeMap<String, String>) -> Result<Option<u32>> {
    match vars
        .get(UPSTREAM_VERSION_KEY)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(Error::Config(format!(
                "{UPSTREAM_VERSION_KEY}={v:?} is not a positive integer (it is ORE Studio's .env format version, e.g. {UPSTREAM_VERSION_KEY}=11)"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::registry::Registry;

    #[test]
    fn every_login_user_has_upstream_spellings_and_no_alias_is_ambiguous() {
        for user in Registry::compiled().login_users {
            let suffix = user.suffix();
            assert!(
                LOGIN_USER_SPELLINGS.iter().any(|(s, _)| *s == suffix),
                "login user {suffix} has no upstream spelling"
            );
        }
        let all = settings();
        let canonical: Vec<&str> = all.iter().map(|s| s.canonical.as_str()).collect();
        let mut aliases = alias_keys();
        for a in &aliases {
            assert!(!canonical.contains(&a.as_str()), "{a} is both");
        }
        let n = aliases.len();
        aliases.sort();
        aliases.dedup();
        assert_eq!(aliases.len(), n, "an alias names two settings");
    }

    #[test]
    fn resolution_is_idempotent() {
        let vars: BTreeMap<String, String> = [
            ("ORES_DB_HOST", "db.example"),
            ("ORES_ENV_NAME", "Festive-Hawking"),
            ("ORES_DB_DDL_PASSWORD", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let once = resolve(&vars, "test").unwrap();
        assert_eq!(once["ORES_ENV"], "festive_hawking");
        assert_eq!(resolve(&once, "test").unwrap(), once);
    }
}
