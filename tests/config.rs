//! Configuration loading: precedence, defaults, validation, secrets.

use ores_sql::Error;
use ores_sql::config::{Config, merge, read_dotenv};
use std::collections::BTreeMap;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn dotenv(text: &str) -> ores_sql::Result<BTreeMap<String, String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, text).unwrap();
    read_dotenv(&path)
}

#[test]
fn defaults_name_the_local_environment() {
    let c = Config::from_vars(&BTreeMap::new()).unwrap();
    assert_eq!(c.env, "local");
    assert_eq!(c.database, "ores_dev_local");
    assert_eq!(c.port, 5432);
    assert_eq!(c.admin_database, "postgres");
    assert!(!c.admin_user.is_empty());
    assert_eq!(c.extensions, ["btree_gist", "pg_trgm", "pgcrypto"]);
}

#[test]
fn env_label_scopes_the_database_unless_named() {
    let c = Config::from_vars(&vars(&[("ORES_ENV", "ci_7")])).unwrap();
    assert_eq!(c.database, "ores_dev_ci_7");
    let c =
        Config::from_vars(&vars(&[("ORES_ENV", "ci_7"), ("ORES_DB_NAME", "other_db")])).unwrap();
    assert_eq!(c.database, "other_db");
}

#[test]
fn libpq_variables_drive_the_admin_connection() {
    let c = Config::from_vars(&vars(&[
        ("PGHOST", "db.example"),
        ("PGPORT", "6543"),
        ("PGUSER", "admin"),
        ("PGPASSWORD", "s3cret"),
        ("PGDATABASE", "maint"),
    ]))
    .unwrap();
    assert_eq!(
        (c.host.as_str(), c.port, c.admin_user.as_str()),
        ("db.example", 6543, "admin")
    );
    assert_eq!(c.admin_database, "maint");
    assert_eq!(c.admin_password.as_ref().unwrap().expose(), "s3cret");
}

#[test]
fn exported_variables_override_the_file_and_foreign_ones_are_ignored() {
    let file = vars(&[("ORES_ENV", "from_file"), ("PGPORT", "5432")]);
    let merged = merge(
        file,
        vec![
            ("ORES_ENV".to_string(), "exported".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ],
    );
    assert_eq!(merged["ORES_ENV"], "exported");
    assert_eq!(merged["PGPORT"], "5432");
    assert!(!merged.contains_key("HOME"));
}

#[test]
fn bad_labels_and_names_are_rejected_before_any_sql() {
    for bad in [
        "Prod",
        "a b",
        "x;drop role postgres",
        "a\"b",
        "é",
        &"a".repeat(25),
    ] {
        match Config::from_vars(&vars(&[("ORES_ENV", bad)])) {
            Err(Error::InvalidIdentifier { kind, .. }) => assert_eq!(kind, "environment label"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let long = "d".repeat(49);
    for bad in ["Ores", "ores-dev", "x'y", long.as_str()] {
        match Config::from_vars(&vars(&[("ORES_DB_NAME", bad)])) {
            Err(Error::InvalidIdentifier { kind, .. }) => assert_eq!(kind, "database name"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(matches!(
        Config::from_vars(&vars(&[("PGPORT", "fifty")])),
        Err(Error::Config(_))
    ));
}

#[test]
fn passwords_are_read_per_role_and_never_shown_by_debug() {
    let c = Config::from_vars(&vars(&[
        ("PGPASSWORD", "admin-pw-123"),
        ("ORES_DB_DDL_USER_PASSWORD", "ddl-pw-456"),
        ("ORES_DB_IAM_SERVICE_PASSWORD", "iam-pw-789"),
    ]))
    .unwrap();
    assert_eq!(c.password_for("ddl_user").unwrap().expose(), "ddl-pw-456");
    assert_eq!(
        c.password_for("iam_service").unwrap().expose(),
        "iam-pw-789"
    );
    assert!(c.password_for("cli_user").is_none());
    let shown = format!("{c:?} {c:#?}");
    for secret in ["admin-pw-123", "ddl-pw-456", "iam-pw-789"] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }
    assert!(shown.contains("ddl_user"));
}

#[test]
fn dotenv_values_with_equals_quotes_and_hashes_survive() {
    let v = dotenv(
        "# comment\nORES_ENV=dev\nORES_DB_DDL_USER_PASSWORD='a=b#c\"d'\nORES_DB_CLI_USER_PASSWORD=\"x'y=z\"\nPGPASSWORD=p=q\n",
    )
    .unwrap();
    assert_eq!(v["ORES_ENV"], "dev");
    assert_eq!(v["ORES_DB_DDL_USER_PASSWORD"], "a=b#c\"d");
    assert_eq!(v["ORES_DB_CLI_USER_PASSWORD"], "x'y=z");
    assert_eq!(v["PGPASSWORD"], "p=q");
}

#[test]
fn a_malformed_dotenv_reports_line_and_key() {
    match dotenv("ORES_ENV=dev\n\nORES_DB_NAME='unterminated\nPGPORT=5432\n") {
        Err(Error::DotEnv { line, key, .. }) => {
            assert_eq!(line, 3);
            assert_eq!(key.as_deref(), Some("ORES_DB_NAME"));
        }
        other => panic!("{other:?}"),
    }
    match dotenv("ORES_ENV=dev\nthis is not an assignment\n") {
        Err(e @ Error::DotEnv { line: 2, .. }) => assert!(e.to_string().contains("line 2")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dollar_that_would_be_expanded_is_refused_with_line_and_key() {
    for text in [
        "ORES_ENV=x\nORES_DB_DDL_USER_PASSWORD=pa$$word\n",
        "ORES_ENV=x\nORES_DB_DDL_USER_PASSWORD=\"$MY_VAR-suffix\"\n",
        "ORES_ENV=x\nORES_DB_DDL_USER_PASSWORD=$\n",
    ] {
        let message = dotenv(text).unwrap_err().to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("ORES_DB_DDL_USER_PASSWORD"), "{message}");
        assert!(message.contains("single quotes"), "{message}");
    }
    // Single-quoted, it arrives exactly as written.
    let v = dotenv("ORES_DB_DDL_USER_PASSWORD='pa$$word $HOME-x $'\n").unwrap();
    assert_eq!(v["ORES_DB_DDL_USER_PASSWORD"], "pa$$word $HOME-x $");
}

#[test]
fn malformed_lines_name_their_line_and_key() {
    for (text, line, key) in [
        ("ORES_ENV=x\nnot a line\n", 2, None),
        ("A=1\n\n# c\nB C=1\n", 4, Some("B C")),
        ("A=1\nB='unterminated\n", 2, Some("B")),
    ] {
        match dotenv(text) {
            Err(Error::DotEnv {
                line: l, key: k, ..
            }) => {
                assert_eq!(l, line, "{text:?}");
                assert_eq!(k.as_deref(), key, "{text:?}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn a_bom_is_not_part_of_the_first_key() {
    let v = dotenv("\u{feff}ORES_ENV=bom\n").unwrap();
    assert_eq!(v["ORES_ENV"], "bom");
}

#[test]
fn a_dotenv_that_is_not_a_small_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Returns at once (a FIFO with no writer would block a plain read forever).
    let message = read_dotenv(&fifo).unwrap_err().to_string();
    assert!(message.contains("not a regular file"), "{message}");
    let message = read_dotenv(std::path::Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("not a regular file"), "{message}");
    let big = dir.path().join("big.env");
    std::fs::write(&big, "A=1\n".repeat(400_000)).unwrap();
    let message = read_dotenv(&big).unwrap_err().to_string();
    assert!(message.contains("larger than"), "{message}");
}

#[test]
fn huge_or_odd_timeouts_are_refused_not_a_panic() {
    for key in ["ORES_DB_CONNECT_TIMEOUT", "ORES_DB_LOCK_TIMEOUT"] {
        for bad in ["1e20", "86401", "inf", "NaN", "0", "-1", "x"] {
            let e = Config::from_vars(&vars(&[(key, bad)])).unwrap_err();
            assert!(e.to_string().contains("seconds"), "{key}={bad}: {e}");
        }
        Config::from_vars(&vars(&[(key, "86400")])).unwrap();
        Config::from_vars(&vars(&[(key, "0.5")])).unwrap();
    }
}
