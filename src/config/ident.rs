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

/// Longest database name we create. Staging and retired copies append a suffix of up
/// to 15 bytes, and the result must stay within 63 bytes.
pub const MAX_DB_LEN: usize = 48;

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

/// Validates an environment label (`local`, `ci_42`, ...).
pub fn validate_env_label(value: &str) -> Result<()> {
    check("environment label", value, MAX_ENV_LEN)
}

/// Validates a database name we may create or drop.
pub fn validate_database_name(value: &str) -> Result<()> {
    check("database name", value, MAX_DB_LEN)
}

/// Validates a role name built from validated parts (defence in depth).
pub fn validate_role_name(value: &str) -> Result<()> {
    check("role name", value, 63)
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
