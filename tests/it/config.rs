//! Configuration loading: precedence, defaults, validation, secrets.

use ores_sql::Error;
use ores_sql::config::envfile::{Format, check_vars, describe_failure};
use ores_sql::config::{Config, merge, merge_sources, read_dotenv};
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

/// A `.env` in the shape ORE Studio's own tool writes for its shell scripts (its key
/// names, its application settings beside ours), for an environment it calls
/// `festive-hawking`.
fn upstream_dotenv() -> String {
    let mut text = String::from(
        "# ORE Studio environment (written the way its own tool writes one)\n\
         ORES_ENV_VERSION=11\n\
         ORES_ENV_NAME=festive-hawking\n\
         ORES_CHECKOUT_LABEL=festive-hawking\n\
         ORES_BASE_PORT=21000\n\
         ORES_DATABASE_NAME=ores_dev_festive_hawking\n\
         # ---------------------------------------------------------------\n\
         ORES_NATS_URL=nats://localhost:20229\n\
         ORES_NATS_TLS_CA=\n\
         ORES_SITE_PORT=21004\n\
         PGPASSWORD=pg-admin-pw\n\
         ORES_DB_HOST=localhost\n\
         ORES_DB_PORT=5432\n\
         ORES_DB_OWNER_ROLE=ores_festive_hawking_owner\n\
         ORES_DB_DDL_USER=ores_festive_hawking_ddl_user\n\
         ORES_DB_DDL_PASSWORD=pw-ddl\n\
         ORES_DB_CLI_PASSWORD=pw-cli\n\
         ORES_DB_WT_PASSWORD=pw-wt\n\
         ORES_DB_HTTP_PASSWORD=pw-http\n\
         ORES_DB_SHELL_PASSWORD=pw-shell\n\
         ORES_DB_RO_PASSWORD=pw-ro\n\
         ORES_DB_TEST_DDL_PASSWORD=pw-test-ddl\n\
         ORES_DB_TEST_DML_PASSWORD=pw-test-dml\n\
         ORES_CLI_DB_USER=ores_festive_hawking_cli_user\n\
         ORES_CLI_DB_PASSWORD=pw-cli\n\
         ORES_SHELL_DB_PASSWORD=pw-shell\n\
         ORES_HTTP_SERVER_DB_PASSWORD=pw-http\n\
         ORES_HTTP_SERVER_JWT_SECRET=not-a-database-password\n\
         ORES_WT_DB_PASSWORD=pw-wt\n\
         ORES_IAM_SERVICE_JWT_PRIVATE_KEY=\"-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\\n\"\n",
    );
    for s in ores_sql::tree::registry::SERVICES {
        let up = s.name.to_ascii_uppercase();
        text.push_str(&format!(
            "ORES_{up}_SERVICE_DB_USER=ores_festive_hawking_{}_service\n\
             ORES_{up}_SERVICE_DB_PASSWORD=pw-svc-{}\n\
             ORES_{up}_SERVICE_DB_DATABASE=ores_dev_festive_hawking\n",
            s.name, s.name
        ));
    }
    text
}

#[test]
fn an_upstream_dotenv_is_read_without_edits() {
    let file = dotenv(&upstream_dotenv()).unwrap();
    let c = Config::from_vars(&file).unwrap();
    assert_eq!(c.env, "festive_hawking");
    assert_eq!(c.database, "ores_dev_festive_hawking");
    assert_eq!((c.host.as_str(), c.port), ("localhost", 5432));
    assert_eq!(c.admin_password.as_ref().unwrap().expose(), "pg-admin-pw");
    for (suffix, pw) in [
        ("ddl_user", "pw-ddl"),
        ("cli_user", "pw-cli"),
        ("wt_user", "pw-wt"),
        ("shell_user", "pw-shell"),
        ("http_user", "pw-http"),
        ("readonly_user", "pw-ro"),
        ("test_ddl_user", "pw-test-ddl"),
        ("test_dml_user", "pw-test-dml"),
    ] {
        let got = c.password_for(suffix).map(|p| p.expose());
        assert_eq!(got, Some(pw), "{suffix}");
    }
    for s in ores_sql::tree::registry::SERVICES {
        let got = c.password_for(&s.password_key()).map(|p| p.expose());
        assert_eq!(
            got,
            Some(format!("pw-svc-{}", s.name).as_str()),
            "{}",
            s.name
        );
    }
    // Every password is filed under a login role: none under an upstream spelling.
    let roles: Vec<String> = ores_sql::server::roles::roles_for("x")
        .into_iter()
        .filter(|r| r.login)
        .map(|r| r.suffix)
        .collect();
    for key in c.passwords.keys() {
        assert!(
            roles.contains(key),
            "password for unknown role suffix {key}"
        );
    }
    assert_eq!(c.passwords.len(), roles.len());

    // `compass env check` accepts it as ORE Studio's format, and does not call its
    // application settings typos.
    let check = check_vars(&file, None);
    assert_eq!(check.format, Format::Upstream(11));
    assert!(check.is_ok(), "{check:?}");
    assert!(check.unknown.is_empty(), "{:?}", check.unknown);
    // ... but a password key that sets nothing is still reported.
    let mut typo = file.clone();
    typo.insert("ORES_IAM_SERVCE_DB_PASSWORD".into(), "x".into());
    assert_eq!(
        check_vars(&typo, None).unknown,
        ["ORES_IAM_SERVCE_DB_PASSWORD"]
    );
    // A missing password is named in both spellings.
    let mut partial = file.clone();
    partial.remove("ORES_DB_WT_PASSWORD");
    partial.remove("ORES_WT_DB_PASSWORD");
    let check = check_vars(&partial, None);
    assert_eq!(check.missing, ["ORES_DB_WT_USER_PASSWORD"]);
    let message = describe_failure(&check).unwrap().to_string();
    assert!(
        message.contains("ORES_DB_WT_USER_PASSWORD (or ORES_DB_WT_PASSWORD)"),
        "{message}"
    );
    // Without its version the file declares no format.
    let mut unversioned = file.clone();
    unversioned.remove("ORES_ENV_VERSION");
    let check = check_vars(&unversioned, None);
    assert_eq!(check.format, Format::Missing);
    assert!(!check.is_ok());
}

#[test]
fn upstream_spellings_that_disagree_with_ours_are_an_error_naming_both() {
    for (ours, theirs, one, other, secret) in [
        ("PGHOST", "ORES_DB_HOST", "db-one", "db-two", false),
        ("PGPORT", "ORES_DB_PORT", "6543", "6544", false),
        (
            "ORES_DB_NAME",
            "ORES_DATABASE_NAME",
            "ores_one",
            "ores_two",
            false,
        ),
        ("ORES_ENV", "ORES_ENV_NAME", "env_one", "env_two", false),
        (
            "ORES_DB_DDL_USER_PASSWORD",
            "ORES_DB_DDL_PASSWORD",
            "pw-one",
            "pw-two",
            true,
        ),
        (
            "ORES_DB_READONLY_USER_PASSWORD",
            "ORES_DB_RO_PASSWORD",
            "pw-one",
            "pw-two",
            true,
        ),
        (
            "ORES_DB_TEST_DML_USER_PASSWORD",
            "ORES_TEST_DB_PASSWORD",
            "pw-one",
            "pw-two",
            true,
        ),
        (
            "ORES_DB_HTTP_USER_PASSWORD",
            "ORES_HTTP_SERVER_DB_PASSWORD",
            "pw-one",
            "pw-two",
            true,
        ),
        (
            "ORES_DB_IAM_SERVICE_PASSWORD",
            "ORES_IAM_SERVICE_DB_PASSWORD",
            "pw-one",
            "pw-two",
            true,
        ),
        (
            "ORES_DB_WORKFLOW_SERVICE_PASSWORD",
            "ORES_WORKFLOW_SERVICE_DB_PASSWORD",
            "pw-one",
            "pw-two",
            true,
        ),
    ] {
        // Equal values are fine.
        let same = vars(&[(ours, one), (theirs, one)]);
        Config::from_vars(&same).unwrap_or_else(|e| panic!("{ours}={theirs}: {e}"));
        let e = Config::from_vars(&vars(&[(ours, one), (theirs, other)]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(ours) && e.contains(theirs) && e.contains("disagree"),
            "{e}"
        );
        assert_eq!(
            secret,
            !e.contains(one) && !e.contains(other),
            "values shown or hidden wrongly: {e}"
        );
    }
    // Two upstream spellings of one password must agree with each other too.
    let e = Config::from_vars(&vars(&[
        ("ORES_DB_CLI_PASSWORD", "one"),
        ("ORES_CLI_DB_PASSWORD", "two"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("ORES_DB_CLI_PASSWORD") && e.contains("ORES_CLI_DB_PASSWORD"));
    // The environment name is compared as the label it means.
    let c = Config::from_vars(&vars(&[
        ("ORES_ENV", "festive_hawking"),
        ("ORES_ENV_NAME", "Festive-Hawking"),
    ]))
    .unwrap();
    assert_eq!(c.env, "festive_hawking");
    // A bad value under the upstream spelling is refused like ours.
    let e = Config::from_vars(&vars(&[("ORES_DB_PORT", "fifty")])).unwrap_err();
    assert!(e.to_string().contains("ORES_DB_PORT"), "{e}");
    assert!(matches!(
        Config::from_vars(&vars(&[("ORES_ENV_NAME", "a b")])),
        Err(Error::InvalidIdentifier { .. })
    ));
}

#[test]
fn a_disagreement_in_the_file_names_it_and_exported_variables_still_override() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(
        &path,
        "ORES_DB_HOST=localhost\nPGHOST=db.example\nORES_DB_DDL_PASSWORD=a\n",
    )
    .unwrap();
    let file = read_dotenv(&path).unwrap();
    let e = merge_sources(&file, &path.display().to_string(), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains(path.to_str().unwrap()), "{e}");
    assert!(e.contains("ORES_DB_HOST") && e.contains("PGHOST"), "{e}");

    // Exported over the file: the exported spelling wins over both of the file's,
    // as any exported variable overrides the file.
    let file = vars(&[
        ("ORES_DB_HOST", "localhost"),
        ("ORES_DB_DDL_PASSWORD", "from-file"),
    ]);
    let exported = vec![
        ("PGHOST".to_string(), "/tmp".to_string()),
        (
            "ORES_DB_DDL_USER_PASSWORD".to_string(),
            "from-ci".to_string(),
        ),
    ];
    let merged = merge_sources(&file, ".env", exported).unwrap();
    let c = Config::from_vars(&merged).unwrap();
    assert_eq!(c.host, "/tmp");
    assert_eq!(c.password_for("ddl_user").unwrap().expose(), "from-ci");
    // ... but two exported spellings that disagree are refused.
    let exported = vec![
        ("PGPORT".to_string(), "5432".to_string()),
        ("ORES_DB_PORT".to_string(), "5433".to_string()),
    ];
    let e = merge_sources(&BTreeMap::new(), ".env", exported).unwrap_err();
    assert!(e.to_string().contains("exported"), "{e}");
}

#[test]
fn ores_env_version_must_be_a_positive_integer() {
    for bad in ["abc", "0", "-3", "1.5"] {
        let e = Config::from_vars(&vars(&[("ORES_ENV_VERSION", bad)])).unwrap_err();
        assert!(e.to_string().contains("ORES_ENV_VERSION"), "{bad}: {e}");
    }
    Config::from_vars(&vars(&[("ORES_ENV_VERSION", "11")])).unwrap();
}
