//! `compass env ...`, `--version`, `--help`, `db validate` and how `db sql` hands
//! credentials to psql.

#![cfg(feature = "cli")]

use crate::cli_support;

use cli_support::{Cli, stderr, stdout};
use ores_sql::config::envfile::{FORMAT_KEY, FORMAT_VERSION, required_keys};
use predicates::prelude::*;
use std::os::unix::fs::PermissionsExt;

fn complete_dotenv() -> String {
    required_keys()
        .into_iter()
        .map(|k| match k.as_str() {
            FORMAT_KEY => format!("{k}={FORMAT_VERSION}\n"),
            "ORES_ENV" => format!("{k}=local\n"),
            _ => format!("{k}='pw-{}'\n", k.to_lowercase()),
        })
        .collect()
}

#[test]
fn env_check_accepts_a_complete_file_and_names_what_is_missing() {
    let cli = Cli::with_dotenv("cck", &complete_dotenv());
    cli.compass()
        .args(["env", "check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ok: configuration is complete"))
        .stdout(predicate::str::contains(
            cli.dotenv.path().to_str().unwrap(),
        ));

    let mut partial: String = complete_dotenv()
        .lines()
        .filter(|l| !l.starts_with("ORES_DB_CLI_USER_PASSWORD") && !l.starts_with(FORMAT_KEY))
        .map(|l| format!("{l}\n"))
        .collect();
    partial.push_str("ORES_DB_IAM_SERVCE_PASSWORD=typo\n");
    let cli = Cli::with_dotenv("cck", &partial);
    let out = cli.compass().args(["env", "check"]).output().unwrap();
    assert!(!out.status.success());
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(
        text.contains("missing: ORES_DB_CLI_USER_PASSWORD"),
        "{text}"
    );
    assert!(text.contains(&format!("missing: {FORMAT_KEY}")), "{text}");
    assert!(
        text.contains("unknown: ORES_DB_IAM_SERVCE_PASSWORD"),
        "{text}"
    );
    assert!(err.contains("ORES_DB_CLI_USER_PASSWORD"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let newer = complete_dotenv().replace(
        &format!("{FORMAT_KEY}={FORMAT_VERSION}"),
        &format!("{FORMAT_KEY}={}", FORMAT_VERSION + 1),
    );
    let cli = Cli::with_dotenv("cck", &newer);
    cli.compass()
        .args(["env", "check"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "not a format this compass understands",
        ));

    // An exported variable completes a file that lacks it (CI exports secrets).
    let cli = Cli::with_dotenv("cck", &partial);
    cli.compass()
        .env(FORMAT_KEY, FORMAT_VERSION.to_string())
        .env("ORES_DB_CLI_USER_PASSWORD", "from-ci")
        .args(["env", "check"])
        .assert()
        .success();
}

#[test]
fn env_recreate_and_teardown_a_whole_environment() {
    let cli = Cli::new("cev");
    let label = cli.label().to_string();
    cli.compass()
        .args(["env", "recreate", "-e", &label])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pass -y"));
    cli.compass()
        .env_remove("ORES_ENV")
        .env_remove("ORES_DB_NAME")
        .args(["env", "recreate", "-e", &label, "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("built ores_dev_{label}")));
    cli.compass()
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("current"));
    // Again: the roles are dropped and made afresh.
    let roles = ores_sql::server::roles::roles_for(&label).len();
    cli.compass()
        .args(["env", "recreate", "-e", &label, "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("removed {roles} role(s)")));
    cli.compass()
        .args(["env", "teardown", "-e", &label, "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("dropped {roles} role(s)")));
    cli.compass()
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("missing"));
    cli.compass()
        .args(["env", "teardown", "-e", "No-Such"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid environment label"));
}

#[test]
fn version_help_and_validate() {
    let cli = Cli::new("cvh");
    let hash = ores_sql::Manifest::compiled().schema_hash();
    cli.compass()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")))
        .stdout(predicate::str::contains(hash));

    let commands: &[&[&str]] = &[
        &["db", "recreate"],
        &["db", "setup"],
        &["db", "drop"],
        &["db", "teardown"],
        &["db", "sql"],
        &["db", "reset-system"],
        &["db", "reset-tenant"],
        &["db", "status"],
        &["db", "version"],
        &["db", "list"],
        &["db", "roles"],
        &["db", "connections"],
        &["db", "validate"],
        &["db", "docs"],
        &["db", "recreate-entity"],
        &["env", "recreate"],
        &["env", "teardown"],
        &["env", "check"],
    ];
    for command in commands {
        let out = cli.compass().args(*command).arg("--help").output().unwrap();
        assert!(out.status.success(), "{command:?}");
        let text = stdout(&out);
        assert!(
            text.contains(&format!("Usage: compass {}", command.join(" "))),
            "{command:?}: {text}"
        );
    }

    // Missing required arguments are usage errors (exit 2), not crashes.
    cli.compass()
        .args(["db", "reset-tenant", "-y"])
        .assert()
        .code(2);
    cli.compass().args(["db", "drop"]).assert().code(2);
    cli.compass()
        .args(["env", "recreate", "-y"])
        .assert()
        .code(2);
}

#[test]
fn validate_passes_the_built_schema_and_lists_a_broken_convention() {
    let cli = Cli::new("cvl");
    cli.build();
    cli.compass().args(["db", "validate"]).assert().success();

    // A table outside the naming convention, and without a primary key.
    cli.db()
        .batch_execute("CREATE TABLE stray_things (x int)")
        .unwrap();
    let out = cli.compass().args(["db", "validate"]).output().unwrap();
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("C001 stray_things"), "{text}");
    assert!(text.contains("C007 stray_things"), "{text}");
    // Both are warnings: our tree's `[validate] fail_on = "warning"` fails on them,
    // `--fail-on error` lets them through, and `--fail-on` takes only a level.
    assert!(text.contains("[warning naming] C001 x1: "), "{text}");
    cli.compass()
        .args(["db", "validate", "--fail-on", "error"])
        .assert()
        .success();
    cli.compass()
        .args(["db", "validate", "--fail-on", "info"])
        .assert()
        .code(1);
    cli.compass()
        .args(["db", "validate", "--fail-on", "fatal"])
        .assert()
        .code(2);
}

#[test]
fn sql_passes_credentials_in_the_environment_never_on_the_command_line() {
    let cli = Cli::with_dotenv("csq", "ORES_DB_CLI_USER_PASSWORD='s3cret-xyz'\n");
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("psql");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"ARGS:$*\"\nenv | grep '^PG' | sort\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = cli
        .compass()
        .env("ORES_PSQL", &fake)
        .env("PGSERVICE", "elsewhere")
        .args(["db", "sql", "-u", "cli_user", "--", "-c", "select 1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let args = text.lines().find(|l| l.starts_with("ARGS:")).unwrap();
    assert_eq!(args, "ARGS:-c select 1");
    assert!(!args.contains("s3cret"));
    assert!(text.contains("PGPASSWORD=s3cret-xyz"), "{text}");
    assert!(
        text.contains(&format!("PGUSER=ores_{}_cli_user", cli.label())),
        "{text}"
    );
    assert!(
        text.contains(&format!("PGDATABASE={}", cli.database())),
        "{text}"
    );
    assert!(!text.contains("PGSERVICE"), "{text}");

    // A missing psql: one line saying what to install.
    cli.compass()
        .env("ORES_PSQL", dir.path().join("no-such-psql"))
        .args(["db", "sql"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("postgresql-client"));
}

/// `compass env configure` run in `dir` with no configuration around it.
fn configure(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_compass"))
        .current_dir(dir)
        .env_remove("ORES_DOTENV")
        .env_remove("ORES_ENV")
        .env_remove("RUST_LOG")
        .args(["env", "configure"])
        .args(args)
        .output()
        .unwrap()
}

/// The password values a `.env` holds, by key.
fn passwords(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.ends_with("_PASSWORD"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn env_configure_writes_a_private_complete_env_and_prints_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = configure(dir.path(), &["-e", "cfgx"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.path().join(".env");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    let pw = passwords(&text);
    let expected: Vec<String> = required_keys()
        .into_iter()
        .filter(|k| k.ends_with("_PASSWORD"))
        .collect();
    assert_eq!(
        pw.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        expected
    );
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    for (key, value) in &pw {
        assert!(value.len() >= 32, "{key} is short");
        assert!(!printed.contains(value.as_str()), "{key}'s value printed");
    }
    assert!(text.contains("ORES_ENV=cfgx\n"), "{text}");
    // The file it wrote is one `env check` accepts as it stands.
    let check = assert_cmd::Command::new(env!("CARGO_BIN_EXE_compass"))
        .current_dir(dir.path())
        .env_remove("ORES_DOTENV")
        .env_remove("ORES_ENV")
        .args(["env", "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(stdout(&check).contains("ok: configuration is complete"));
}

#[test]
fn env_configure_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    assert!(configure(dir.path(), &["-e", "cfgy"]).status.success());
    let path = dir.path().join(".env");
    let before = std::fs::read_to_string(&path).unwrap();
    let out = configure(dir.path(), &["-e", "cfgy"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from(".env")]);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = configure(dir.path(), &["-e", "cfgy", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = std::fs::read_to_string(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a replaced file is private too");
    for ((k, old), (_, new)) in passwords(&before).iter().zip(passwords(&after).iter()) {
        assert_ne!(old, new, "{k} kept its password");
    }
}

#[test]
fn env_configure_refuses_a_bad_label_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = configure(dir.path(), &["-e", "Bad-Label"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Bad-Label"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A `.env` as ORE Studio's own tool writes it: its format version, its key names,
/// settings of its applications beside ours.
fn upstream_dotenv() -> String {
    let mut text = String::from(
        "ORES_ENV_VERSION=11\nORES_ENV_NAME=festive-hawking\nORES_DB_HOST=localhost\n\
         ORES_NATS_URL=nats://localhost:20229\nORES_DB_DDL_USER=ores_festive_hawking_ddl_user\n",
    );
    for stem in [
        "DDL", "CLI", "WT", "SHELL", "HTTP", "RO", "TEST_DDL", "TEST_DML",
    ] {
        text.push_str(&format!("ORES_DB_{stem}_PASSWORD='pw-{stem}'\n"));
    }
    for s in ores_sql::tree::registry::SERVICES {
        let up = s.name.to_ascii_uppercase();
        text.push_str(&format!("ORES_{up}_SERVICE_DB_PASSWORD='pw-{up}'\n"));
    }
    text
}

#[test]
fn env_check_reads_an_upstream_dotenv_and_names_both_keys_when_two_disagree() {
    let cli = Cli::with_dotenv("cup", &upstream_dotenv());
    let out = cli.compass().args(["env", "check"]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("ORE Studio's .env, ORES_ENV_VERSION=11"),
        "{text}"
    );
    assert!(!text.contains("unknown:"), "{text}");
    assert!(!text.contains("missing:"), "{text}");

    let both = format!(
        "{}ORES_DB_DDL_USER_PASSWORD='pw-other'\n",
        upstream_dotenv()
    );
    let cli = Cli::with_dotenv("cup", &both);
    let out = cli.compass().args(["env", "check"]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("ORES_DB_DDL_PASSWORD") && err.contains("ORES_DB_DDL_USER_PASSWORD"),
        "{err}"
    );
    assert!(err.contains(cli.dotenv.path().to_str().unwrap()), "{err}");
    assert!(
        !err.contains("pw-DDL") && !err.contains("pw-other"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
