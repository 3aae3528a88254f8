//! `compass db test` / `ores_sql::testing::pgtap`: a tree's pgTAP files, each on its
//! own copy, judged as `pg_prove` judges them, and bad input refused with nothing
//! left behind. The fixture tree (`tests/fixtures/pgtap`) has one file per outcome.

use crate::common;

use ores_sql::testing::owner::Owner;
use ores_sql::testing::pgtap::{PgTapOptions, PgTapSuite, Verdict};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pgtap")
}

/// The fixture tree copied to a temporary folder, with `edit` applied to the files.
pub(crate) fn variant(edit: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = fixture();
    for entry in walkdir::WalkDir::new(&root) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&root).unwrap();
        let to = dir.path().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    for (path, text) in edit {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    dir
}

/// Held by every test: [`leftovers`] looks at every test database of the process,
/// so the tests of this file and `pgtap_share` (one process under `cargo test`) run
/// one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Test databases of this process still on the server (copies and test templates
/// are named like them, with the process's owner tag).
pub(crate) fn leftovers() -> Vec<String> {
    let db = common::built();
    let mut admin = common::admin(&db);
    let tag = Owner::current().tag();
    admin
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, 'ores_t_') AND datname LIKE '%' || $1 || '%' AND datname <> $2",
            &[&tag, &db.name()],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The `ok`/`not ok` and plan lines of TAP output.
fn tap_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    lines
        .into_iter()
        // pg_prove ends a passing file with a bare `ok` of its own; pgTAP numbers
        // every test line.
        .filter(|l| *l != "ok")
        .filter(|l| l.starts_with("ok") || l.starts_with("not ok") || l.starts_with("1.."))
        .map(str::to_string)
        .collect()
}

/// What `pg_prove -v` says of one file of `root`'s tests (relative to the tree
/// root) run on `copy`: its TAP lines and verdict. Connection settings go by
/// environment, never a password on the command line.
fn pg_prove(
    copy: &ores_sql::testing::pgtap::TestCopy,
    root: &Path,
    file: &str,
) -> (Vec<String>, Verdict) {
    let path = root.join(file);
    let mut cmd = Command::new("pg_prove");
    for (name, value) in copy.psql_variables() {
        cmd.arg("--set").arg(format!("{name}={value}"));
    }
    let out = cmd
        .arg("-v")
        .arg(path.file_name().unwrap())
        .current_dir(path.parent().unwrap())
        .envs(copy.pg_env())
        .env_remove("PGPASSWORD")
        .output()
        .expect("pg_prove runs (apt-get install libtap-parser-sourcehandler-pgtap-perl)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdict = if stdout.contains("Result: PASS") {
        Verdict::Pass
    } else if stdout.contains("Non-zero exit status") {
        Verdict::Error
    } else {
        Verdict::Fail
    };
    (tap_lines(stdout.lines()), verdict)
}

#[test]
fn every_fixture_gets_pg_proves_lines_and_verdict_on_its_own_copy() {
    let _serial = serial();
    let suite = PgTapSuite::open(Some(&fixture())).expect("suite");
    let options = PgTapOptions {
        jobs: 3,
        ..PgTapOptions::default()
    };
    let report = suite.run(&options).expect("run");
    let expected = [
        ("test/bad_plan_test.sql", Verdict::Fail),
        ("test/commit_test.sql", Verdict::Pass),
        ("test/error_test.sql", Verdict::Error),
        ("test/fail_test.sql", Verdict::Fail),
        ("test/no_plan_test.sql", Verdict::Pass),
        ("test/pass_test.sql", Verdict::Pass),
        ("test/todo_skip_test.sql", Verdict::Pass),
    ];
    let got: Vec<(&str, Verdict)> = report
        .files
        .iter()
        .map(|f| (f.file.as_str(), f.verdict))
        .collect();
    assert_eq!(got, expected, "{report:#?}");
    assert!(!report.passed());
    assert_eq!(report.result, "FAIL");
    assert_eq!(report.tests, 2 + 2 + 1 + 3 + 2 + 4 + 5);
    let error = report.files[2].error.as_deref().unwrap();
    assert!(
        error.contains("test/error_test.sql:5") && error.contains("22012"),
        "{error}"
    );
    for file in &report.files {
        let copy = suite.copy().expect("copy");
        let (lines, verdict) = pg_prove(&copy, &fixture(), &file.file);
        assert_eq!(
            tap_lines(file.lines.iter().map(String::as_str)),
            lines,
            "{}",
            file.file
        );
        assert_eq!(file.verdict, verdict, "{}", file.file);
    }
    drop(suite);
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn chosen_files_run_as_a_login_user_and_a_failing_copy_can_be_kept() {
    let _serial = serial();
    let tree = variant(&[(
        "ores-sql.toml",
        "[[services]]\nname = \"iam\"\nowns = [\"iam\"]\n[tests]\nrole = \"test_dml\"\n",
    )]);
    let suite = PgTapSuite::open(Some(tree.path())).expect("suite");
    let options = PgTapOptions {
        files: vec!["pass_test.sql".into(), "test/fail_test.sql".into()],
        keep_failed: true,
        ..PgTapOptions::default()
    };
    let report = suite.run(&options).expect("run");
    assert_eq!(report.files.len(), 2);
    assert_eq!(report.files[0].verdict, Verdict::Pass, "{report:#?}");
    assert_eq!(report.files[1].verdict, Verdict::Fail);
    assert!(report.files[0].kept.is_none());
    let kept = report.files[1].kept.clone().expect("kept copy");
    assert!(kept.connect.contains("_test_dml_user"), "{}", kept.connect);
    let db = common::built();
    let mut admin = common::admin(&db);
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&kept.database],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the failing file's copy is kept");
    admin
        .batch_execute(&format!("DROP DATABASE \"{}\" WITH (FORCE)", kept.database))
        .unwrap();
    drop((admin, db, suite));
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn bad_input_is_refused_clearly_and_leaves_nothing() {
    let _serial = serial();
    let toml =
        |tests: &str| format!("[[services]]\nname = \"iam\"\nowns = [\"iam\"]\n[tests]\n{tests}\n");
    let cases = [
        (toml("dir = \"nope\""), "does not exist"),
        (toml("pattern = \"*.pgtap\""), "matches \"*.pgtap\""),
        (
            toml("extensions = [\"no_such_ext\"]"),
            "no_such_ext is not available",
        ),
    ];
    for (text, needle) in &cases {
        let tree = variant(&[("ores-sql.toml", text)]);
        let e = PgTapSuite::open(Some(tree.path())).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
    let tree = variant(&[(
        "test/test.sql",
        "select 1;\n\nselect * from no_such_table;\n",
    )]);
    let e = PgTapSuite::open(Some(tree.path())).unwrap_err().to_string();
    assert!(e.contains("test/test.sql:3") && e.contains("42P01"), "{e}");
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn a_file_that_never_finishes_is_ended_at_the_timeout() {
    let _serial = serial();
    let tree = variant(&[(
        "test/slow_test.sql",
        "select plan(1);\nselect pg_sleep(60);\nselect ok(true);\n",
    )]);
    let suite = PgTapSuite::open(Some(tree.path())).expect("suite");
    let started = std::time::Instant::now();
    let report = suite
        .run(&PgTapOptions {
            files: vec!["slow_test.sql".into()],
            timeout: Duration::from_secs(2),
            ..PgTapOptions::default()
        })
        .expect("run");
    assert!(started.elapsed() < Duration::from_secs(30));
    let file = &report.files[0];
    assert_eq!(file.verdict, Verdict::Error);
    assert!(
        file.error
            .as_deref()
            .unwrap()
            .contains("did not finish within 2 s")
    );
    drop(suite);
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn compass_db_test_prints_pg_prove_lines_json_and_junit_and_exits_by_the_verdict() {
    let _serial = serial();
    let dotenv = tempfile::NamedTempFile::new().unwrap();
    let junit = tempfile::NamedTempFile::new().unwrap();
    let compass = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_compass"))
            .env("ORES_DOTENV", dotenv.path())
            .args(["db", "test", "--sql-dir"])
            .arg(fixture())
            .args(args)
            .output()
            .unwrap()
    };
    let pass = compass(&["pass_test.sql", "--timer"]);
    let text = String::from_utf8_lossy(&pass.stdout);
    assert!(pass.status.success(), "{text}");
    assert!(text.contains("test/pass_test.sql .. ok"), "{text}");
    assert!(
        text.contains("Files=1, Tests=4,") && text.contains("Result: PASS"),
        "{text}"
    );
    let junit_path = junit.path().to_str().unwrap();
    let fail = compass(&[
        "--json",
        "--junit",
        junit_path,
        "pass_test.sql",
        "fail_test.sql",
    ]);
    assert_eq!(fail.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&fail.stdout).expect("one JSON document");
    assert_eq!(json["result"], "FAIL");
    assert_eq!(json["files"][0]["verdict"], "pass");
    assert_eq!(json["files"][1]["verdict"], "fail");
    assert_eq!(json["files"][1]["tap"]["tests"][1]["ok"], false);
    let xml = std::fs::read_to_string(junit.path()).unwrap();
    assert!(
        xml.contains("<testsuites name=\"pgtap\" tests=\"7\" failures=\"2\""),
        "{xml}"
    );
    assert!(
        xml.contains("name=\"2 - arithmetic is wrong\">\n      <failure"),
        "{xml}"
    );
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn our_trees_suite_passes_and_agrees_with_pg_prove() {
    let _serial = serial();
    // sql/test/*_test.sql, compiled in: versioning, ORE01-ORE03, row-level security
    // per tenant, each service's rights, the resets.
    let suite = PgTapSuite::open(None).expect("suite");
    let report = suite.run(&PgTapOptions::default()).expect("run");
    assert!(report.passed(), "{report:#?}");
    let files: Vec<&str> = report.files.iter().map(|f| f.file.as_str()).collect();
    for expected in [
        "errors",
        "resets",
        "service_rights",
        "tenancy",
        "versioning",
    ] {
        assert!(
            files.contains(&format!("test/{expected}_test.sql").as_str()),
            "{files:?}"
        );
    }
    let sql = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    for file in &report.files {
        let copy = suite.copy().expect("copy");
        let (lines, verdict) = pg_prove(&copy, &sql, &file.file);
        assert_eq!(
            tap_lines(file.lines.iter().map(String::as_str)),
            lines,
            "{}",
            file.file
        );
        assert_eq!(verdict, Verdict::Pass, "{}", file.file);
    }
    drop(suite);
    assert_eq!(leftovers(), Vec::<String>::new());
}
