//! A tree is a boundary (README, "What a tree may read"): each attack of the hostile
//! probe of issue 23, tried on every path that reads a tree, and refused naming the
//! file, with the previous database left as it was.
//!
//! The paths: `Manifest::from_dir` (`--sql-dir`, `SqlTree`) for both layouts, the
//! psql interpreter's `\i` / `\ir` / `\copy`, and the functions `build.rs` calls for
//! the compiled-in tree (`lint::check_tree` for the numeric layout, `entry::closure`
//! for entry scripts, `boundary::read_optional` for `ores-sql.toml` and the
//! allow-list): `build.rs` compiles these very files, so what they refuse it refuses.

use crate::common;

use ores_sql::server::admin::connect_admin_to;
use ores_sql::testing::ScratchEnv;
use ores_sql::tree::boundary::{MAX_FILE_BYTES, MAX_INCLUDE_DEPTH, read_optional};
use ores_sql::tree::settings::TreeSettings;
use ores_sql::tree::{entry, lint};
use ores_sql::{Config, Error, Manifest, RunOptions};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

const SECRET: &str = "the-content-of-a-file-outside-the-tree";

/// A file outside any tree, whose content must never show up anywhere.
fn outside() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shadow"), format!("select '{SECRET}';\n")).unwrap();
    dir
}

/// A numeric-layout tree our registry accepts.
const NUMERIC: [(&str, &str); 2] = [
    (
        "create/01_iam/010_iam_widgets.sql",
        "CREATE TABLE ores_iam_widgets_tbl (id integer PRIMARY KEY, name text NOT NULL);",
    ),
    (
        "populate/01_iam/010_iam_widgets.sql",
        "INSERT INTO ores_iam_widgets_tbl VALUES (1, 'precious');",
    ),
];

/// An entry-script tree: `setup.sql` includes the create and populate scripts and
/// copies a data file.
fn entry_tree() -> tempfile::TempDir {
    common::tree(&[
        ("ores-sql.toml", "entry = [\"setup.sql\"]\n"),
        (
            "setup.sql",
            "\\ir create/widgets.sql\n\\ir populate/widgets.sql\n",
        ),
        (
            "create/widgets.sql",
            "create table ores_iam_widgets_tbl (id integer primary key, name text not null);\n",
        ),
        (
            "populate/widgets.sql",
            "insert into ores_iam_widgets_tbl values (1, 'precious');\n\\copy ores_iam_widgets_tbl from '../data/widgets.csv' with (format csv)\n",
        ),
        ("data/widgets.csv", "2,second\n"),
    ])
}

/// `Manifest::from_dir`'s refusal as text (the path, line and message).
fn refusal(root: &Path) -> String {
    match Manifest::from_dir(root) {
        Ok(_) => panic!("{}: accepted", root.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_refused(root: &Path, names: &str, why: &str) {
    let text = refusal(root);
    assert!(text.contains(names), "{text}\nshould name {names}");
    assert!(text.contains(why), "{text}\nshould say {why}");
    assert!(!text.contains(SECRET), "{text}");
}

fn replace_with_symlink(root: &Path, rel: &str, target: &Path) {
    let link = root.join(rel);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&link);
    symlink(target, &link).unwrap();
}

const OUTSIDE: &str = "leads outside the tree";

#[test]
fn symlinks_leading_out_of_the_tree_are_refused_on_every_path() {
    let out = outside();
    let shadow = out.path().join("shadow");

    // An entry script, an included file, a `\copy` data file.
    for (rel, names) in [
        ("setup.sql", "setup.sql"),
        ("create/widgets.sql", "setup.sql:1"),
        ("data/widgets.csv", "populate/widgets.sql:2"),
    ] {
        let tree = entry_tree();
        replace_with_symlink(tree.path(), rel, &shadow);
        assert_refused(tree.path(), names, OUTSIDE);
        // What build.rs runs on an entry tree.
        let e = entry::closure(tree.path(), "sql", &entry_settings()).unwrap_err();
        assert!(e.message.contains(OUTSIDE), "{e}");
    }
    // A folder on the way that is a symlink out of the tree.
    let tree = entry_tree();
    std::fs::remove_dir_all(tree.path().join("create")).unwrap();
    common::write_script(out.path(), "create/widgets.sql", "select 1;");
    replace_with_symlink(tree.path(), "create", &out.path().join("create"));
    assert_refused(tree.path(), "setup.sql:1", OUTSIDE);

    // A numeric-layout script, by `--sql-dir` and by what build.rs runs.
    let tree = common::tree(&NUMERIC);
    replace_with_symlink(tree.path(), "create/01_iam/020_iam_leak.sql", &shadow);
    assert_refused(tree.path(), "020_iam_leak.sql", OUTSIDE);
    let (scripts, violations) = lint::check_tree(tree.path(), "sql", &["iam"]);
    assert!(scripts.is_none());
    let shown = violations[0].to_string();
    assert!(
        shown.starts_with("S002 sql/create/01_iam/020_iam_leak.sql") && shown.contains(OUTSIDE),
        "{shown}"
    );

    // The settings and the allow-list, which build.rs compiles in too.
    for name in ["ores-sql.toml", "validate-allow.txt"] {
        let tree = entry_tree();
        replace_with_symlink(tree.path(), name, &shadow);
        let e = read_optional(tree.path(), name).unwrap_err();
        assert!(e.to_string().contains(OUTSIDE), "{e}");
        let e = ores_sql::SqlTree::from_dir(tree.path()).unwrap_err();
        assert!(e.to_string().contains(OUTSIDE), "{e}");
    }
}

fn entry_settings() -> TreeSettings {
    TreeSettings::parse("entry = [\"setup.sql\"]\n", "ores-sql.toml").unwrap()
}

#[test]
fn a_symlink_inside_the_tree_is_followed() {
    let tree = entry_tree();
    let real = tree.path().join("create/widgets.sql");
    std::fs::rename(&real, tree.path().join("create/real.sql")).unwrap();
    replace_with_symlink(tree.path(), "create/widgets.sql", Path::new("real.sql"));
    let m = Manifest::from_dir(tree.path()).expect("a link inside the tree is read");
    assert!(
        m.tree_file("create/widgets.sql")
            .unwrap()
            .contains("create table")
    );
}

/// Runs `f` on another thread and fails the test if it takes more than 20 s: a
/// FIFO opened for reading would block forever.
fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the tree was read without blocking")
}

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(path);
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_fifo_or_a_device_is_refused_without_blocking() {
    const NOT_REGULAR: &str = "not a regular file";
    for rel in ["create/widgets.sql", "data/widgets.csv"] {
        let tree = entry_tree();
        mkfifo(&tree.path().join(rel));
        let root = tree.path().to_path_buf();
        let text = within_seconds(move || refusal(&root));
        assert!(text.contains(NOT_REGULAR), "{text}");
    }
    let tree = common::tree(&NUMERIC);
    mkfifo(&tree.path().join("create/01_iam/020_iam_fifo.sql"));
    let root = tree.path().to_path_buf();
    let text = within_seconds(move || refusal(&root));
    assert!(
        text.contains("020_iam_fifo.sql") && text.contains(NOT_REGULAR),
        "{text}"
    );

    // /dev/zero never ends: a link to it is refused before a byte is read.
    let tree = entry_tree();
    replace_with_symlink(tree.path(), "data/widgets.csv", Path::new("/dev/zero"));
    let root = tree.path().to_path_buf();
    let text = within_seconds(move || refusal(&root));
    assert!(
        text.contains("populate/widgets.sql:2") && text.contains(OUTSIDE),
        "{text}"
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let big = |path: &Path| {
        // Sparse: the size is what counts, not the disk it takes.
        let f = std::fs::File::create(path).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
    };
    let tree = entry_tree();
    big(&tree.path().join("data/widgets.csv"));
    assert_refused(tree.path(), "populate/widgets.sql:2", "larger than 64 MiB");
    let tree = common::tree(&NUMERIC);
    big(&tree.path().join("create/01_iam/010_iam_widgets.sql"));
    assert_refused(tree.path(), "010_iam_widgets.sql", "larger than 64 MiB");
}

#[test]
fn nine_thousand_nested_includes_are_refused_not_a_stack_overflow() {
    let tree = entry_tree();
    let n = 9_000;
    common::write_script(tree.path(), "setup.sql", "\\ir deep/d1.sql\n");
    for i in 1..n {
        common::write_script(
            tree.path(),
            &format!("deep/d{i}.sql"),
            format!("\\ir d{}.sql\n", i + 1),
        );
    }
    common::write_script(tree.path(), &format!("deep/d{n}.sql"), "select 1;\n");
    let text = refusal(tree.path());
    let last = MAX_INCLUDE_DEPTH - 1;
    assert!(
        text.contains(&format!("deep/d{last}.sql:1"))
            && text.contains(&format!("included {MAX_INCLUDE_DEPTH} files deep")),
        "{text}"
    );
}

/// A statement controlling the transaction at line 3 of `body`.
const CONTROL: [&str; 6] = [
    "COMMIT;",
    "begin;",
    "SAVEPOINT before_seed;",
    "set transaction isolation level serializable;",
    "end;",
    "rollback;",
];

fn with_control(statement: &str) -> String {
    format!("select 1;\n-- the next line controls the transaction\n{statement}\nselect 2;\n")
}

#[test]
fn transaction_control_is_refused_with_file_and_line_before_anything_runs() {
    for statement in CONTROL {
        // Numeric layout: refused where the tree is scanned, by `--sql-dir` and by
        // build.rs, so neither one connection nor several ever gets the script.
        let mut files = NUMERIC.to_vec();
        let body = with_control(statement);
        files.push(("create/01_iam/020_iam_control.sql", &body));
        let tree = common::tree(&files);
        assert_refused(tree.path(), "020_iam_control.sql:3", "S009");
        let (_, violations) = lint::check_tree(tree.path(), "sql", &["iam"]);
        assert_eq!(violations[0].rule, "S009", "{statement}");
        assert_eq!(violations[0].line, Some(3), "{statement}");

        // Entry layout: refused by the include closure (`--sql-dir` and build.rs).
        let tree = entry_tree();
        common::write_script(tree.path(), "create/widgets.sql", &body);
        assert_refused(tree.path(), "create/widgets.sql:3", "S009");
        let e = entry::closure(tree.path(), "sql", &entry_settings()).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("create/widgets.sql", 3), "{e}");
    }
    // The probe's tree: a file of its own transaction, then another file.
    let tree = entry_tree();
    common::write_script(
        tree.path(),
        "create/widgets.sql",
        "begin;\ncreate table t (a int);\ninsert into t values (1);\ncommit;\n",
    );
    assert_refused(
        tree.path(),
        "create/widgets.sql:1",
        "`BEGIN` controls the transaction",
    );
}

/// The previous build's rows.
fn widgets(config: &Config) -> Vec<String> {
    let mut db = connect_admin_to(config, &config.database).unwrap();
    common::texts(&mut db, "SELECT name FROM ores_iam_widgets_tbl ORDER BY id")
}

fn workers(n: usize) -> RunOptions {
    RunOptions::new().kill(true).rebuild(true).workers(n)
}

#[test]
fn transaction_control_a_variable_spells_is_refused_as_the_tree_runs_on_one_or_two_connections() {
    // A value read through a backtick is not known when the tree is loaded (the
    // closure reads it as empty), so only the expander can see the COMMIT it makes.
    // SAFETY: nextest runs each test in a process of its own, and no other thread
    // runs yet.
    unsafe { std::env::set_var("ORES_TEST_BOUNDARY_HOW", "commit") };
    let env = ScratchEnv::new("tb").expect("scratch env");
    for n in [1, 2] {
        let (config, options) = (&env.config, workers(n));
        let good = entry_tree();
        ores_sql::recreate_with(config, &Manifest::from_dir(good.path()).unwrap(), &options)
            .unwrap();
        assert_eq!(widgets(config), ["precious", "second"]);

        let tree = entry_tree();
        common::write_script(
            tree.path(),
            "populate/widgets.sql",
            "insert into ores_iam_widgets_tbl values (1, 'replaced');\n\\set how `echo \"$ORES_TEST_BOUNDARY_HOW\"`\n:how;\ninsert into ores_iam_widgets_tbl values (2, 'after');\n",
        );
        let m = Manifest::from_dir(tree.path()).expect("nothing to see when loading");
        match ores_sql::recreate_with(config, &m, &options) {
            Err(Error::Psql(e)) => {
                assert!(e.path.ends_with("populate/widgets.sql"), "{e}");
                assert_eq!(e.line, 3, "{e}");
                assert!(e.message.contains("S009"), "{e}");
            }
            other => panic!("{n} worker(s): expected a refusal, got {other:?}"),
        }
        assert_eq!(widgets(config), ["precious", "second"], "{n} worker(s)");
    }
}

#[test]
fn a_failing_statement_in_the_middle_of_a_script_names_its_own_line() {
    let env = ScratchEnv::new("tl").expect("scratch env");
    for n in [1, 2] {
        let (config, options) = (&env.config, workers(n));
        // Numeric layout: a runtime error (no position) in the third statement.
        let (_good, good) = manifest(&NUMERIC);
        ores_sql::recreate_with(config, &good, &options).unwrap();
        let mut files = NUMERIC.to_vec();
        files.push((
            "populate/01_iam/020_iam_more.sql",
            "select 1;\n\n-- a division\nselect 1 / 0;\nselect 4;\n",
        ));
        let (_bad, bad) = manifest(&files);
        let f = script_failure(ores_sql::recreate_with(config, &bad, &options));
        assert_eq!((f.sqlstate.as_str(), f.line), ("22012", Some(4)), "{f}");
        assert_eq!(widgets(config), ["precious"], "{n} worker(s)");

        // Entry layout: a unique violation after comments and a meta-command, and a
        // server position inside a later statement of the same chunk.
        let good = entry_tree();
        ores_sql::recreate_with(config, &Manifest::from_dir(good.path()).unwrap(), &options)
            .unwrap();
        for (body, sqlstate, line) in [
            (
                "\\echo seeding\n-- one row\ninsert into ores_iam_widgets_tbl values (1, 'a');\n\ninsert into ores_iam_widgets_tbl\n  values (1, 'again');\n",
                "23505",
                5,
            ),
            (
                "insert into ores_iam_widgets_tbl values (1, 'a');\nselect 1;\nselect\n  no_such_column\nfrom ores_iam_widgets_tbl;\n",
                "42703",
                4,
            ),
        ] {
            let tree = entry_tree();
            common::write_script(tree.path(), "populate/widgets.sql", body);
            let m = Manifest::from_dir(tree.path()).unwrap();
            let f = script_failure(ores_sql::recreate_with(config, &m, &options));
            assert!(f.path.ends_with("populate/widgets.sql"), "{f}");
            assert_eq!((f.sqlstate.as_str(), f.line), (sqlstate, Some(line)), "{f}");
            assert_eq!(widgets(config), ["precious", "second"], "{n} worker(s)");
        }
    }
}

fn manifest(files: &[(&str, &str)]) -> (tempfile::TempDir, Manifest) {
    let dir = common::tree(files);
    let m = Manifest::from_dir(dir.path()).unwrap();
    (dir, m)
}

fn script_failure<T: std::fmt::Debug>(result: ores_sql::Result<T>) -> ores_sql::ScriptFailure {
    match result {
        Err(Error::Script(f)) => f,
        other => panic!("expected a script failure, got {other:?}"),
    }
}

#[test]
fn fixture_copies_of_the_build_record_script_match_the_real_one() {
    // The fixtures once linked to it; a tree now holds its own files, so the copies
    // are held to the original here.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = "create/09_database/010_database_builds.sql";
    let real = std::fs::read_to_string(root.join("sql").join(rel)).unwrap();
    for fixture in ["entity_cli", "entity_v1", "entity_v2"] {
        let copy =
            std::fs::read_to_string(root.join("tests/fixtures").join(fixture).join(rel)).unwrap();
        assert_eq!(
            copy, real,
            "tests/fixtures/{fixture}/{rel}: copy sql/{rel} again"
        );
    }
}
