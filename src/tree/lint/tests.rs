use super::rules::RuleId::{self, *};
use super::statements::*;
use super::*;
use crate::tree::lint::lexer;
use crate::tree::scan::{Phase, Script};

fn rules_of(sql: &str) -> Vec<RuleId> {
    let mut out = Vec::new();
    check_sql(
        &Script {
            phase: Phase::Create,
            path: "x.sql".into(),
            component: "iam".into(),
            entity: "iam_x".into(),
            sha256: "".into(),
            sql: sql.to_string().into(),
        },
        &mut out,
    );
    out.iter().map(|v| v.rule).collect()
}

#[test]
fn literals_comments_and_bodies_do_not_trip_rules() {
    let sql = "-- ALTER TABLE t ADD COLUMN c int; \\i x\n\
               /* ALTER TABLE t RENAME TO u; /* nested \\set */ */\n\
               CREATE TABLE t (a text DEFAULT 'ALTER TABLE u DROP COLUMN a; \\set', b text DEFAULT E'it\\'s \\\\');\n\
               CREATE OR REPLACE FUNCTION f_fn() RETURNS void LANGUAGE plpgsql AS $body$\n\
               BEGIN EXECUTE 'ALTER TABLE u ADD COLUMN c int'; RAISE NOTICE $$\\i$$; END $body$;\n\
               ALTER TABLE t ENABLE ROW LEVEL SECURITY;\n\
               ALTER TABLE ONLY public.t FORCE ROW LEVEL SECURITY, ADD CONSTRAINT c UNIQUE (a);\n\
               SELECT $1, \"a\\b\";";
    assert_eq!(rules_of(sql), Vec::<&str>::new());
}

#[test]
fn each_statement_rule_fires() {
    assert_eq!(
        rules_of("CREATE TABLE t (a int); ALTER TABLE t ADD b int;"),
        [S003]
    );
    assert_eq!(
        rules_of("CREATE TABLE t (a int); ALTER TABLE t DROP a;"),
        [S003]
    );
    assert_eq!(
        rules_of("ALTER TABLE IF EXISTS u ALTER COLUMN a SET NOT NULL;"),
        [S003]
    );
    assert_eq!(rules_of("ALTER INDEX i RENAME TO j;"), [S003]);
    assert_eq!(rules_of("ALTER TYPE e ADD VALUE 'x';"), [S003]);
    assert_eq!(rules_of("ALTER TABLE u ENABLE ROW LEVEL SECURITY;"), [S004]);
    assert_eq!(rules_of("DROP TABLE IF EXISTS u;"), [S004]);
    assert_eq!(
        rules_of("DROP TABLE IF EXISTS t; CREATE TABLE t (a int);"),
        Vec::<&str>::new()
    );
    assert_eq!(
        rules_of("CREATE FUNCTION f_fn() RETURNS int LANGUAGE sql AS 'select 1';"),
        [S007]
    );
    assert_eq!(
        rules_of("CREATE TRIGGER t_trg AFTER INSERT ON t EXECUTE FUNCTION f_fn();"),
        [S007]
    );
    assert_eq!(
        rules_of("SELECT 1;\n  \\set x 1\nSELECT 2 \\gset"),
        [S008, S008]
    );
    assert_eq!(
        rules_of("\\set ON_ERROR_STOP 1\nALTER TABLE u ADD COLUMN x int;"),
        [S008, S003]
    );
}

#[test]
fn truncated_input_never_panics() {
    // build.rs runs this on whatever is under sql/, half-typed scripts included.
    let sql = "CREATE TABLE \"a\"\"b\" (x text DEFAULT E'\\'' /* /* */ $t$ $$ \\ -- ';\n\
               ALTER TABLE ONLY s.\"a\" ADD COLUMN y int, DROP z; $f$ body $f$ \\i";
    let chars: Vec<char> = sql.chars().collect();
    for end in 0..=chars.len() {
        let prefix: String = chars[..end].iter().collect();
        let _ = rules_of(&prefix);
    }
}

#[test]
fn finds_plain_creates_only() {
    let sql = r#"
-- CREATE TABLE commented_tbl (x int);
/* CREATE TABLE block_tbl (x int); */
CREATE TABLE ores_iam_tenants_tbl (id int, note text DEFAULT 'CREATE TABLE no_tbl');
create unlogged table if not exists public."Odd Name" (x int);
CREATE OR REPLACE VIEW ores_iam_tenants_vw AS SELECT 1;
CREATE VIEW ores_iam_tenant_names_vw AS SELECT 1;
CREATE OR REPLACE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN CREATE TABLE inside_tbl (x int); END $body$;
CREATE INDEX tenants_code_idx ON ores_iam_tenants_tbl (id);
CREATE SEQUENCE ores_iam_tenant_seq;
"#;
    assert_eq!(
        created_relations([sql]),
        [
            "ores_iam_tenants_tbl",
            "Odd Name",
            "ores_iam_tenant_names_vw",
            "ores_iam_tenant_seq"
        ]
    );
}

#[test]
fn created_relations_take_the_better_lexer_where_the_two_differed() {
    // recreate-entity's own lexer ended `E'it\'s'` at the escaped quote, found
    // no_tbl and lost b_tbl; it also kept the middle part of a three-part name.
    let sql = r#"
CREATE TABLE a_tbl (x text DEFAULT E'it\'s; CREATE TABLE no_tbl (y int)');
CREATE TABLE b_tbl (y int);
/* outer /* nested */ CREATE TABLE still_comment_tbl (x int); */
CREATE MATERIALIZED VIEW IF NOT EXISTS ores.public.c_vw AS SELECT $q$;$q$;
CREATE TEMP RECURSIVE VIEW d_vw (n) AS SELECT 1;
CREATE FOREIGN TABLE "E_Tbl" (x int) SERVER s;
CREATE TABLE ÄRGER_TBL (x int);
CREATE TABLE b_tbl (y int);
"#;
    assert_eq!(
        created_relations([sql]),
        ["a_tbl", "b_tbl", "c_vw", "d_vw", "E_Tbl", "Ärger_tbl"]
    );
}

#[test]
fn only_ascii_letters_of_unquoted_names_fold() {
    // Two different tables to PostgreSQL in a UTF-8 database.
    assert_eq!(
        rules_of("CREATE TABLE Ä_tbl (a int); ALTER TABLE ä_tbl ENABLE ROW LEVEL SECURITY;"),
        [S004]
    );
    assert_eq!(
        rules_of("CREATE TABLE Ä_TBL (a int); ALTER TABLE Ä_tbl ENABLE ROW LEVEL SECURITY;"),
        Vec::<&str>::new()
    );
}

#[test]
fn allow_list_entries_need_a_reason() {
    let (ok, bad) = parse_allow_list(
        "# comment\n\nC001 ores_x_tbl # legacy name kept for the loader\nC002 f\nZ9 a # b\nC003 a b # c\n",
        "allow.txt",
    );
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].reason, "legacy name kept for the loader");
    assert_eq!(
        bad.iter().map(|v| v.line).collect::<Vec<_>>(),
        [Some(4), Some(5), Some(6)]
    );
    assert!(bad.iter().all(|v| v.rule == A001));
}

#[test]
fn statements_split_as_psql_splits_them() {
    let sql = "create table t (a int);\n\
               create or replace function f_fn() returns int language sql\n\
               begin atomic\n  select case when 1 = 1 then 1 end;\n  select 2;\nend;\n\
               -- a comment\nselect (1);select 3";
    let spans = super::lexer::statement_spans(sql);
    let texts: Vec<&str> = spans.iter().map(|s| &sql[s.range.clone()]).collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert_eq!(texts[0], "create table t (a int);");
    assert!(
        texts[1].starts_with("create or replace function"),
        "{texts:?}"
    );
    assert!(texts[1].ends_with("select 2;\nend;"), "{texts:?}");
    assert_eq!(texts[2], "select (1);");
    assert_eq!(texts[3], "select 3");
    let lines: Vec<usize> = spans.iter().map(|s| s.line).collect();
    assert_eq!(lines, [1, 2, 8, 8]);
    // Multi-byte text before a statement: ranges are bytes, not chars.
    let sql = "select 'ä';\nselect 'ö';";
    let spans = super::lexer::statement_spans(sql);
    assert_eq!(&sql[spans[1].range.clone()], "select 'ö';");
}

#[test]
fn transaction_control_is_found_only_where_a_statement_starts() {
    let found = |sql: &str| -> Vec<String> {
        transaction_control(sql)
            .into_iter()
            .map(|(_, what)| what)
            .collect()
    };
    for (sql, what) in [
        ("begin;", "BEGIN"),
        ("BEGIN ISOLATION LEVEL SERIALIZABLE;", "BEGIN"),
        ("start transaction;", "START TRANSACTION"),
        ("commit;", "COMMIT"),
        ("commit prepared 'x';", "COMMIT"),
        ("rollback;", "ROLLBACK"),
        ("rollback to savepoint s;", "ROLLBACK"),
        ("end;", "END"),
        ("abort;", "ABORT"),
        ("savepoint s;", "SAVEPOINT"),
        ("release savepoint s;", "RELEASE"),
        ("prepare transaction 'x';", "PREPARE TRANSACTION"),
        (
            "set transaction isolation level serializable;",
            "SET TRANSACTION",
        ),
        ("set local transaction read only;", "SET TRANSACTION"),
        (
            "set session characteristics as transaction read only;",
            "SET TRANSACTION",
        ),
    ] {
        assert_eq!(found(sql), [what], "{sql}");
    }
    let innocent = "create table t (a int);\n\
        do $$ begin commit; end $$;\n\
        create or replace function f_fn() returns int language plpgsql as $f$\n\
        begin rollback; return 1; end $f$;\n\
        create or replace procedure p_fn() language sql begin atomic\n\
          select case when true then 1 end; select 2; end;\n\
        select case when a > 0 then 'x' end from t;\n\
        prepare q as select 1;\n\
        set local role x; set search_path = public;\n\
        -- commit;\n\
        select 'commit;';";
    assert_eq!(found(innocent), Vec::<String>::new());
    let lines: Vec<usize> = transaction_control("select 1;\n\nselect 2; commit;\nbegin;")
        .into_iter()
        .map(|(line, _)| line)
        .collect();
    assert_eq!(lines, [3, 4]);
}

#[test]
fn token_offsets_are_char_boundaries_of_the_text() {
    let sql =
        "select 'ä' as é, \"Ñ\"\"x\", $€$body$€$ , $tag$ü$tag$, e'\\\\ø', Ä_TBL; -- ß\n/* ✓ */ x";
    let toks = lexer::lex_spans(sql);
    for (_, _, at) in &toks {
        assert!(sql.is_char_boundary(*at), "{at} in {sql}");
    }
    let words: Vec<String> = toks
        .iter()
        .filter_map(|(t, _, _)| match t {
            lexer::Tok::Word(w) => Some(w.clone()),
            lexer::Tok::Quoted(q) => Some(format!("\"{q}\"")),
            _ => None,
        })
        .collect();
    // `$€$` opens a dollar quote (the server's scanner takes any byte of a
    // multi-byte character in a tag); `Ä_TBL` folds only its ASCII.
    assert_eq!(words, ["select", "as", "é", "\"Ñ\"x\"", "Ä_tbl", "x"]);
}
