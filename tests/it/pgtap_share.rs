//! `compass db test`'s shared copies: files that leave nothing behind run one after
//! another on their worker's copy, and nothing a file does reaches the next file of
//! that copy: a rolled-back `nextval`, a session's advisory lock, a commit, an error,
//! a timeout. The ready copies a run leaves are bounded and claimed by the next run.

use crate::common;
use crate::pgtap::{fixture, leftovers, serial, variant};

use ores_sql::testing::pgtap::{PgTapOptions, PgTapReport, PgTapSuite, Verdict};
use std::time::Duration;

/// A check every file of these trees can end with: the sequence is untouched, the
/// committed row of `commit_test.sql` absent, the advisory lock free; and the copy's
/// name as a diagnostic line.
const CHECK: &str = "\\ir helpers.psql
begin;
select plan(3);
select is(nextval('widget_seq'), 1::bigint, 'the sequence starts afresh');
select is(widget_count(), :expected_widgets::bigint, 'no committed widget');
select ok(pg_try_advisory_xact_lock(42), 'nobody holds the advisory lock');
select diag('copy ' || current_database());
select * from finish();
rollback;
";

/// Advances the sequence and takes a session-level advisory lock (neither undone by
/// its rollback), then rolls back.
const MOVES: &str = "begin;
select plan(2);
select is(nextval('widget_seq'), 1::bigint, 'first value');
select ok(pg_advisory_lock(42) is not null, 'a session lock held past the rollback');
select diag('copy ' || current_database());
select * from finish();
rollback;
";

/// Commits a row (no transaction), then leaves a lock held until its session ends.
const COMMITS: &str = "insert into ores_iam_widgets_tbl values (2, 'committed');
select plan(2);
select is(widget_count(), 2::bigint, 'the committed row is here');
select diag('copy ' || current_database());
begin;
lock table ores_iam_widgets_tbl in access exclusive mode;
select ok(true, 'holding a lock');
select * from finish();
";

/// Writes and advances the sequence inside its block, then errors there.
const ERRS: &str = "begin;
select plan(2);
insert into ores_iam_widgets_tbl values (7, 'in the failed block');
select ok(nextval('widget_seq') = 1, 'moved');
select diag('copy ' || current_database());
select 1 / 0;
rollback;
";

/// Never finishes: ended at the timeout while holding its block open.
const SLOW: &str = "begin;
select plan(1);
select nextval('widget_seq');
insert into ores_iam_widgets_tbl values (8, 'never committed');
select diag('copy ' || current_database());
select pg_sleep(60);
rollback;
";

fn tree() -> tempfile::TempDir {
    variant(&[
        (
            "test/test.sql",
            "create function widget_count() returns bigint
    language sql stable as $$ select count(*) from ores_iam_widgets_tbl $$;
create sequence widget_seq;
",
        ),
        ("test/a1_moves_test.sql", MOVES),
        ("test/a2_check_test.sql", CHECK),
        ("test/b1_commit_test.sql", COMMITS),
        ("test/b2_check_test.sql", CHECK),
        ("test/c1_errs_test.sql", ERRS),
        ("test/c2_check_test.sql", CHECK),
        ("test/d1_slow_test.sql", SLOW),
        ("test/d2_check_test.sql", CHECK),
        ("test/e1_moves_test.sql", MOVES),
        ("test/e2_check_test.sql", CHECK),
    ])
}

const FILES: [&str; 10] = [
    "a1_moves_test.sql",
    "a2_check_test.sql",
    "b1_commit_test.sql",
    "b2_check_test.sql",
    "c1_errs_test.sql",
    "c2_check_test.sql",
    "d1_slow_test.sql",
    "d2_check_test.sql",
    "e1_moves_test.sql",
    "e2_check_test.sql",
];

fn run(suite: &PgTapSuite, fresh: bool) -> PgTapReport {
    suite
        .run(&PgTapOptions {
            files: FILES.iter().map(|f| f.to_string()).collect(),
            jobs: 1,
            timeout: Duration::from_secs(3),
            fresh,
            ..PgTapOptions::default()
        })
        .expect("run")
}

/// The copy a file named in its diagnostics.
fn copy_of(report: &PgTapReport, file: &str) -> String {
    let f = report
        .files
        .iter()
        .find(|f| f.file.ends_with(file))
        .unwrap();
    f.lines
        .iter()
        .find_map(|l| l.strip_prefix("# copy "))
        .unwrap_or_else(|| panic!("{file} names no copy: {:#?}", f.lines))
        .to_string()
}

/// Ready copies of the server, by name prefix (`ores_tp_`).
fn ready_copies() -> Vec<String> {
    let db = common::built();
    let mut admin = common::admin(&db);
    admin
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, 'ores_tp_')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn nothing_a_file_does_reaches_the_next_file_on_its_copy() {
    let _serial = serial();
    let tree = tree();
    let suite = PgTapSuite::open(Some(tree.path())).expect("suite");
    for fresh in [false, true] {
        let report = run(&suite, fresh);
        let verdicts: Vec<(&str, Verdict)> = report
            .files
            .iter()
            .map(|f| (f.file.trim_start_matches("test/"), f.verdict))
            .collect();
        let expected: Vec<(&str, Verdict)> = FILES
            .iter()
            .map(|f| {
                let v = match *f {
                    "c1_errs_test.sql" | "d1_slow_test.sql" => Verdict::Error,
                    _ => Verdict::Pass,
                };
                (*f, v)
            })
            .collect();
        assert_eq!(verdicts, expected, "fresh {fresh}: {report:#?}");
        let copy = |f| copy_of(&report, f);
        if fresh {
            assert_ne!(copy("a1_moves_test.sql"), copy("a2_check_test.sql"));
        } else {
            // One worker: the clean files share its copy, an error inside the
            // block leaves it clean, and after a file that committed or timed out
            // the next one gets another.
            assert_eq!(copy("a1_moves_test.sql"), copy("a2_check_test.sql"));
            assert_eq!(copy("a2_check_test.sql"), copy("b1_commit_test.sql"));
            assert_ne!(copy("b1_commit_test.sql"), copy("b2_check_test.sql"));
            assert_eq!(copy("b2_check_test.sql"), copy("c1_errs_test.sql"));
            assert_eq!(copy("c1_errs_test.sql"), copy("c2_check_test.sql"));
            assert_eq!(copy("c2_check_test.sql"), copy("d1_slow_test.sql"));
            assert_ne!(copy("d1_slow_test.sql"), copy("d2_check_test.sql"));
            assert_eq!(copy("d2_check_test.sql"), copy("e2_check_test.sql"));
        }
    }
    drop(suite);
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn a_run_leaves_a_few_ready_copies_that_the_next_run_claims() {
    let _serial = serial();
    let suite = PgTapSuite::open(Some(&fixture())).expect("suite");
    let options = PgTapOptions {
        files: vec!["pass_test.sql".into(), "todo_skip_test.sql".into()],
        jobs: 2,
        ..PgTapOptions::default()
    };
    let report = suite.run(&options).expect("first run");
    assert!(report.passed(), "{report:#?}");
    let after_first = ready_copies();
    assert!(!after_first.is_empty(), "a run leaves ready copies");
    let report = suite.run(&options).expect("second run");
    assert!(report.passed(), "{report:#?}");
    let after_second = ready_copies();
    assert!(
        after_first.iter().any(|c| !after_second.contains(c)),
        "the second run claims one of {after_first:?} (now {after_second:?})"
    );
    drop(suite);
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn a_run_ended_by_a_panicking_caller_stops_and_leaves_nothing() {
    let _serial = serial();
    let suite = std::sync::Arc::new(PgTapSuite::open(Some(&fixture())).expect("suite"));
    let (done, finished) = std::sync::mpsc::channel();
    let running = suite.clone();
    std::thread::spawn(move || {
        let options = PgTapOptions {
            jobs: 2,
            ..PgTapOptions::default()
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            running.run_with(&options, &|_| {
                panic!("the caller's progress display failed")
            })
        }));
        let _ = done.send(outcome.is_err());
    });
    let panicked = finished
        .recv_timeout(Duration::from_secs(120))
        .expect("the run ends instead of waiting for its copy maker forever");
    assert!(panicked, "the caller's panic reaches the caller");
    drop(suite);
    assert_eq!(leftovers(), Vec::<String>::new());
}
