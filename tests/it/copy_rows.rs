//! A build sends a seed's multi-row inserts of constants as `COPY`
//! (`build/copy_rows.rs`, on by default with `RunOptions::bulk_seed`). These tests
//! hold it to running the same text as written: value for value on every column
//! type and literal form it takes, on what it must leave alone, in the line a
//! failure names, and for a whole tree built both ways.

use crate::common;

use ores_sql::build::copy_rows::run_as_build;
use ores_sql::server::admin::connect_admin_to;
use ores_sql::testing::ScratchEnv;

/// The wide table's definition under `name` (its own enum, domain and sequence
/// are shared by the twins).
fn wide_table(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (
            id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric(12,3), nn numeric,
            f4 float4, f8 float8, b bool, txt text, vc varchar(10), ch char(4), d date,
            ts timestamptz, u uuid, j jsonb, arr int[], e copy_mood, dom copy_short,
            dflt text DEFAULT 'dflt', seq bigint DEFAULT nextval('copy_seq'));"
    )
}

const WIDE_TYPES: &str = "CREATE TYPE copy_mood AS ENUM ('a', 'b');
    CREATE DOMAIN copy_short AS text CHECK (length(VALUE) < 20);
    CREATE SEQUENCE copy_seq;";

/// `rows` rows of every literal form `COPY` is given for each column, cut into
/// inserts of `per` rows into `table`; line breaks inside rows and literals.
fn wide_inserts(table: &str, rows: usize, per: usize) -> String {
    const I2: &[&str] = &["-5", "+7", "007", "32767", "NULL", "'12'", "0"];
    const I4: &[&str] = &["2147483647", "-2147483648", "'  42  '", "1", "- 3"];
    const I8: &[&str] = &["9223372036854775807", "-9223372036854775808", "12"];
    const N: &[&str] = &[
        "1.5e3",
        "-2.25",
        "0.0005",
        "12345.6785",
        "+0.5",
        "3",
        "'NaN'",
        "' 7.1 '",
        ".5",
    ];
    const NN: &[&str] = &[
        "1.50",
        "-1e-5",
        "123456789012345678901234567890",
        "0.0",
        "5.",
    ];
    const F4: &[&str] = &["1e-3", "-1.5", "3", "'Infinity'", "0.1", "16777217"];
    const F8: &[&str] = &[
        "1.7976931348623157e308",
        "-2.5e-300",
        "0.1",
        "'-Infinity'",
        "'NaN'",
        "12",
        "-0.30000000000000004",
    ];
    const B: &[&str] = &["TRUE", "false", "'yes'", "'off'", "NULL", "'t'"];
    const T: &[&str] = &[
        "'plain'",
        "'it''s'",
        "'tab\there'",
        "'line\nbreak'",
        "'ünïcødé ✓'",
        "''",
        "NULL",
        "'N'",
        "'\\N'",
    ];
    const VC: &[&str] = &["'short'", "'ten chars!'", "'trailing   '"];
    const CH: &[&str] = &["'ab'", "'abcd'", "'x   '"];
    const D: &[&str] = &["'2024-01-31'", "'epoch'", "'2024-02-29'"];
    const TS: &[&str] = &["'2024-01-31 10:00:00+02'", "'2000-01-01'"];
    const U: &[&str] = &[
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
        "'{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a12}'",
    ];
    const J: &[&str] = &["'{\"a\": [1, 2.50]}'", "'[]'", "'\"s\"'"];
    const ARR: &[&str] = &["'{1,2,3}'", "'{}'", "NULL"];
    const E: &[&str] = &["'b'", "'a'"];
    let pick = |list: &[&'static str], i: usize| list[i % list.len()];
    let mut sql = String::new();
    for start in (0..rows).step_by(per) {
        sql.push_str(&format!(
            "INSERT INTO {table} (id, i2, i4, i8, n, nn, f4, f8, b, txt, vc, ch, d, ts, u, j, arr, e, dom) VALUES\n"
        ));
        let end = (start + per).min(rows);
        for i in start..end {
            // A backslash would not be sent as COPY: that form goes in its own test.
            let t = pick(T, i);
            let t = if t.contains('\\') {
                "'no backslash'"
            } else {
                t
            };
            sql.push_str(&format!(
                "  ({i}, {}, {}, {}, {}, {},\n   {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'dom{}')",
                pick(I2, i),
                pick(I4, i),
                pick(I8, i),
                pick(N, i),
                pick(NN, i),
                pick(F4, i),
                pick(F8, i),
                pick(B, i),
                t,
                pick(VC, i),
                pick(CH, i),
                pick(D, i),
                pick(TS, i),
                pick(U, i),
                pick(J, i),
                pick(ARR, i),
                pick(E, i),
                i % 10
            ));
            sql.push_str(if i + 1 < end { ",\n" } else { ";\n" });
        }
    }
    sql
}

/// Every row of `table` as text, each column through its output function.
fn rows_of(db: &mut postgres::Client, table: &str) -> Vec<String> {
    db.query(&format!("SELECT r::text FROM {table} r ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Runs `sql` (naming `{t}`) on a fresh twin `a` as a build would and on `b` as
/// written, in transactions that commit; returns how many statements went as COPY.
fn both_ways(db: &mut postgres::Client, setup: &str, sql: &str) -> usize {
    db.batch_execute(&format!(
        "{}\n{}",
        setup.replace("{t}", "a_tbl"),
        setup.replace("{t}", "b_tbl")
    ))
    .unwrap();
    let mut tx = db.transaction().unwrap();
    let copied = run_as_build(&mut tx, &sql.replace("{t}", "a_tbl"), "seed.sql").unwrap();
    tx.commit().unwrap();
    db.batch_execute(&sql.replace("{t}", "b_tbl")).unwrap();
    copied
}

#[test]
fn a_run_of_inserts_sent_as_copy_stores_what_the_inserts_store_value_for_value() {
    let env = common::built();
    let mut db = common::admin(&env);
    db.batch_execute(&format!(
        "{WIDE_TYPES}\n{}\n{}",
        wide_table("a_tbl"),
        wide_table("b_tbl")
    ))
    .unwrap();
    // Three inserts of 40 rows, one run; the sequence is drawn in the same order.
    let sql = wide_inserts("{t}", 120, 40);
    let mut tx = db.transaction().unwrap();
    let copied = run_as_build(&mut tx, &sql.replace("{t}", "a_tbl"), "seed.sql").unwrap();
    tx.commit().unwrap();
    assert_eq!(copied, 3, "the run was not sent as COPY");
    db.batch_execute("SELECT setval('copy_seq', 1, false)")
        .unwrap();
    db.batch_execute(&sql.replace("{t}", "b_tbl")).unwrap();
    let (a, b) = (rows_of(&mut db, "a_tbl"), rows_of(&mut db, "b_tbl"));
    assert_eq!(a.len(), 120);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    // The forms that matter were there: rounding, a float's last digit, a tab.
    assert!(a.iter().any(|r| r.contains(",0.001,")), "{a:?}");
    assert!(a.iter().any(|r| r.contains("-0.30000000000000004")));
    assert!(a.iter().any(|r| r.contains("\"tab\there\"")));
}

#[test]
fn what_copy_would_store_otherwise_or_refuse_runs_as_written() {
    let env = common::built();
    let mut db = common::admin(&env);
    let rows = |values: &dyn Fn(usize) -> String| {
        let body: Vec<String> = (0..120).map(|i| format!("({i}, {})", values(i))).collect();
        format!("INSERT INTO {{t}} (id, v) VALUES {};", body.join(", "))
    };
    let plain = |ty: &str| format!("CREATE TABLE {{t}} (id int PRIMARY KEY, v {ty});");
    let cases: Vec<(&str, String, String)> = vec![
        // A decimal into an integer is rounded by INSERT, refused by COPY.
        ("decimal into int", plain("int"), rows(&|i| format!("{i}.5"))),
        // -0.0 is 0 to INSERT and -0 to float8in.
        ("signed zero", plain("float8"), rows(&|_| "-0.0".into())),
        // A number into text prints as the number's output, not as written.
        ("number into text", plain("text"), rows(&|i| format!("00{i}"))),
        ("boolean into text", plain("text"), rows(&|_| "true".into())),
        // A backslash depends on standard_conforming_strings.
        ("backslash", plain("text"), rows(&|_| "'a\\b'".into())),
        ("function", plain("text"), rows(&|_| "upper('x')".into())),
        ("cast", plain("text"), rows(&|_| "'x'::text".into())),
        (
            "trigger",
            format!(
                "{} CREATE FUNCTION {{t}}_fn() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN NEW.v := NEW.v || '!'; RETURN NEW; END $$;
                 CREATE TRIGGER {{t}}_trg BEFORE INSERT ON {{t}} FOR EACH ROW EXECUTE FUNCTION {{t}}_fn();",
                plain("text")
            ),
            rows(&|i| format!("'r{i}'")),
        ),
        (
            "rule",
            format!(
                "{} CREATE TABLE {{t}}_log (id int); CREATE RULE {{t}}_r AS ON INSERT TO {{t}} DO ALSO INSERT INTO {{t}}_log VALUES (NEW.id);",
                plain("text")
            ),
            rows(&|i| format!("'r{i}'")),
        ),
        (
            "row-level security",
            format!(
                "{} ALTER TABLE {{t}} ENABLE ROW LEVEL SECURITY;",
                plain("text")
            ),
            rows(&|i| format!("'r{i}'")),
        ),
        ("too few rows", plain("text"), {
            let body: Vec<String> = (0..5).map(|i| format!("({i}, 'r')")).collect();
            format!("INSERT INTO {{t}} (id, v) VALUES {};", body.join(", "))
        }),
    ];
    for (what, setup, sql) in &cases {
        let copied = both_ways(&mut db, setup, sql);
        assert_eq!(copied, 0, "{what}: sent as COPY");
        assert_eq!(
            rows_of(&mut db, "a_tbl"),
            rows_of(&mut db, "b_tbl"),
            "{what}"
        );
        assert!(!rows_of(&mut db, "a_tbl").is_empty(), "{what}");
        db.batch_execute(
            "DROP TABLE a_tbl, b_tbl CASCADE; DROP TABLE IF EXISTS a_tbl_log, b_tbl_log;
             DROP FUNCTION IF EXISTS a_tbl_fn(), b_tbl_fn();",
        )
        .unwrap();
    }
    // An identity column given a value: INSERT refuses it, and so does the build.
    db.batch_execute("CREATE TABLE ident_tbl (id int GENERATED ALWAYS AS IDENTITY, v text)")
        .unwrap();
    let body: Vec<String> = (0..120).map(|i| format!("({i}, 'r')")).collect();
    let mut tx = db.transaction().unwrap();
    let failure = run_as_build(
        &mut tx,
        &format!("INSERT INTO ident_tbl (id, v) VALUES {};", body.join(", ")),
        "seed.sql",
    )
    .unwrap_err();
    assert_eq!(failure.sqlstate, "428C9", "{failure:?}");
}

#[test]
fn a_failing_row_sent_as_copy_is_named_by_its_own_line() {
    let env = common::built();
    let mut db = common::admin(&env);
    db.batch_execute("CREATE TABLE strict_tbl (id int PRIMARY KEY, v int NOT NULL)")
        .unwrap();
    // Two inserts of 60 rows, a row on each line after the header; the second
    // statement's 10th row is a duplicate key.
    let mut sql = String::from("-- seed\n");
    for part in 0..2 {
        sql.push_str("INSERT INTO strict_tbl (id, v) VALUES\n");
        let rows: Vec<String> = (0..60)
            .map(|k| {
                let id = if part == 1 && k == 9 {
                    3
                } else {
                    part * 60 + k
                };
                format!("  ({id}, {k})")
            })
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
    }
    let line = sql
        .lines()
        .position(|l| l.starts_with("  (3, 9)"))
        .expect("the duplicate row")
        + 1;
    let mut tx = db.transaction().unwrap();
    let failure = run_as_build(&mut tx, &sql, "seed.sql").unwrap_err();
    assert_eq!(failure.sqlstate, "23505", "{failure:?}");
    assert_eq!(failure.path, "seed.sql");
    assert_eq!(failure.line, Some(line), "{failure:?}");
}

#[test]
fn a_tree_built_with_its_seed_sent_as_copy_equals_one_built_as_written() {
    let mut env = ScratchEnv::new("cr").unwrap();
    // The fixture reads the wt login's password through a backtick.
    env.config
        .passwords
        .insert("wt_user".into(), ores_sql::Secret::new("copy-rows-t0ken"));
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/entry_tree");
    ores_sql::testing::workload::copy_tree(&fixture, dir.path()).expect("copy the fixture");
    let append = |path: &str, more: &str| {
        let file = dir.path().join(path);
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("{}\n{more}\n", text.trim_end())).unwrap();
    };
    let table = "ores_synthetic_copy_wide_tbl";
    append(
        "create/synthetic/synthetic_create.sql",
        &format!("{WIDE_TYPES}\n{}", wide_table(table)),
    );
    append(
        "populate/refdata/refdata_populate.sql",
        &wide_inserts(table, 150, 50),
    );
    let manifest = ores_sql::Manifest::from_dir(dir.path()).expect("tree reads");
    let options = env.options.clone().rebuild(true);
    let copied = common::Run {
        config: env.config.clone(),
        options: options.clone().bulk_seed(true),
    };
    let written = common::Run {
        config: env
            .config
            .clone()
            .with_database(&format!("{}_w", env.config.database))
            .unwrap(),
        options: options.bulk_seed(false),
    };
    let _guard = common::DropOnExit(written.config.clone());
    copied.recreate(&manifest).expect("built with COPY");
    written.recreate(&manifest).expect("built as written");
    common::assert_same_schema(
        &common::schema_dump(&copied, &copied.database),
        &common::schema_dump(&written, &written.database),
        "seed sent as COPY against as written",
    );
    let (a, b) = (
        common::table_contents(&copied, &copied.database),
        common::table_contents(&written, &written.database),
    );
    assert_eq!(a.get(table).map(Vec::len), Some(150));
    assert_eq!(a, b);
    let mut db = connect_admin_to(&copied, &copied.database).unwrap();
    let wide = rows_of(&mut db, table);
    let mut db = connect_admin_to(&written, &written.database).unwrap();
    assert_eq!(wide, rows_of(&mut db, table));
}
