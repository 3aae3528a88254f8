//! Identifier validation and quoting.
//!
//! Every name that reaches SQL text (environment labels, database and role names)
//! passes a strict pattern first *and* is quoted as an identifier anyway: the
//! pattern keeps names predictable, the quoting keeps a future mistake harmless.

use crate::error::{Error, Result};

/// Longest environment label. Role names are `ores_<env>_<suffix>`, and the longest
/// suffix (`test_ddl_user`, or a service name plus `_service`) must still fit in
/// PostgreSQL's 63-byte identifier limit.
pub const MAX_ENV_LEN: usize = 24;

/// PostgreSQL's identifier limit (`NAMEDATALEN - 1`). A longer name is not refused
/// but silently truncated, so two names that differ only past it would collide.
pub const MAX_IDENT_LEN: usize = 63;

/// Longest database name one may choose. The library names its working copies by
/// appending a suffix to it (the longest, `__stale__template`, is
/// [`crate::lifecycle::target::LONGEST_WORKING_SUFFIX`] bytes), and every such name
/// must still fit in [`MAX_IDENT_LEN`]; a compile-time check there keeps the two in
/// step.
pub const MAX_DB_LEN: usize = 46;

/// Databases that no command of this crate will ever drop.
pub const PROTECTED_DATABASES: [&str; 3] = ["postgres", "template0", "template1"];

fn check(kind: &'static str, value: &str, max: usize) -> Result<()> {
    let reject = |reason: String| {
        Err(Error::InvalidIdentifier {
            kind,
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return reject("must not be empty".into());
    }
    if value.len() > max {
        return reject(format!("longer than {max} bytes"));
    }
    let first = value.as_bytes()[0];
    if !first.is_ascii_lowercase() {
        return reject("must start with a lowercase ASCII letter".into());
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return reject(format!(
            "character {bad:?} not allowed; use lowercase ASCII letters, digits and _"
        ));
    }
    Ok(())
}

/// Validates an environment label (`local`, `ci_42`, ...): the identifier rules, and
/// no label whose roles would alias another environment's under the compiled-in
/// registry (`g_test`, `g_iam`: see `tree::roles::reserved_endings`).
pub fn validate_env_label(value: &str) -> Result<()> {
    validate_env_label_in(value, crate::tree::registry::Registry::compiled())
}

/// [`validate_env_label`] under the registry of the tree being built (`--sql-dir`).
pub fn validate_env_label_in(
    value: &str,
    registry: &crate::tree::registry::Registry,
) -> Result<()> {
    check("environment label", value, MAX_ENV_LEN)?;
    match crate::tree::roles::label_conflict(value, registry) {
        Some(reason) => Err(Error::InvalidIdentifier {
            kind: "environment label",
            value: value.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Validates a database name one may choose (leaving room for the working copies'
/// suffixes).
pub fn validate_database_name(value: &str) -> Result<()> {
    check("database name", value, MAX_DB_LEN)
}

/// Refuses the server's own databases and names that are not valid identifiers:
/// the floor under every drop, including the swap's own working copies (whose names
/// may be longer than a chosen name may).
pub fn check_not_system(database: &str) -> Result<()> {
    if PROTECTED_DATABASES.contains(&database) {
        return Err(Error::Protected {
            database: database.to_string(),
            reason: "it is a system database".into(),
        });
    }
    validate_working_name(database)
}

/// Validates a name the library made by appending a suffix to a chosen database
/// name: the same pattern, bounded by the identifier limit alone.
pub fn validate_working_name(value: &str) -> Result<()> {
    check("database name", value, MAX_IDENT_LEN)
}

/// Validates a role name built from validated parts (defence in depth).
pub fn validate_role_name(value: &str) -> Result<()> {
    check("role name", value, MAX_IDENT_LEN)
}

/// Quotes an identifier for SQL text: `a"b` becomes `"a""b"`.
pub fn quote_ident(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// Quotes a string literal for SQL text (standard_conforming_strings is on by default
/// since 9.1, and we check it before relying on this).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_labels() {
        for ok in ["local", "ci_42", "a", "dev_x_1"] {
            validate_env_label(ok).unwrap();
        }
    }

    #[test]
    fn rejects_hostile_labels() {
        let long = "a".repeat(MAX_ENV_LEN + 1);
        for bad in [
            "",
            "Local",
            "a b",
            "a;drop",
            "a\"b",
            "a'b",
            "1abc",
            "_a",
            "é",
            "a-b",
            "g_test",
            "g_iam",
            long.as_str(),
        ] {
            assert!(validate_env_label(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
