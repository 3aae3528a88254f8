use super::*;
use std::fs;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        fs::write(full, text).expect("write");
    }
    dir
}

fn run(files: &[(&str, &str)], vars: &[(&str, &str)]) -> Result<Expansion, PsqlError> {
    let dir = tree(files);
    let vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    expand(dir.path(), &["setup.sql"], vars, &|name| {
        (name == "ORES_SECRET").then(|| "s3cr'et".to_string())
    })
}

fn sql(exp: &Expansion) -> Vec<String> {
    exp.steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Sql(t) => Some(t.clone()),
            Action::Echo(_) | Action::Copy { .. } | Action::Gset { .. } => None,
        })
        .collect()
}

fn refused(files: &[(&str, &str)]) -> String {
    run(files, &[]).expect_err("must be refused").to_string()
}

#[test]
fn includes_follow_psql_order_and_relative_paths() {
    let exp = run(
        &[
            (
                "setup.sql",
                "create table a();\n\\ir create/all.sql\ncreate table z();\n",
            ),
            ("create/all.sql", "\\ir one.sql\n\\i create/two.sql\n"),
            ("create/one.sql", "create table one();\n"),
            ("create/two.sql", "create table two();\n"),
            ("unreached.sql", "this is not sql"),
        ],
        &[],
    )
    .expect("expands");
    assert_eq!(
        exp.files,
        [
            "setup.sql",
            "create/all.sql",
            "create/one.sql",
            "create/two.sql"
        ]
    );
    assert_eq!(
        sql(&exp),
        [
            "create table a();",
            "create table one();",
            "create table two();",
            "create table z();"
        ]
    );
    let one = &exp.steps[1];
    assert_eq!((one.path.as_str(), one.line), ("create/one.sql", 1));
}

#[test]
fn bad_includes_name_file_and_line() {
    let missing = refused(&[("setup.sql", "select 1;\n\\ir nope.sql\n")]);
    assert!(
        missing.starts_with("setup.sql:2: cannot read nope.sql"),
        "{missing}"
    );
    let cycle = refused(&[
        ("setup.sql", "\\ir a.sql\n"),
        ("a.sql", "\n\\ir setup.sql\n"),
    ]);
    assert_eq!(
        cycle,
        "a.sql:2: include cycle: setup.sql -> a.sql -> setup.sql"
    );
    let escape = refused(&[("setup.sql", "\\ir ../../etc/passwd\n")]);
    assert_eq!(escape, "setup.sql:1: \\ir ../../etc/passwd leaves sql/");
}

#[test]
fn variables_are_substituted_only_where_psql_does() {
    let exp = run(
        &[(
            "setup.sql",
            concat!(
                "\\set tbl my_table\n",
                "\\set who 'O''Brien'\n",
                "-- :nope in a comment\n",
                "create table :\"tbl\" (x text default :'who', y int);\n",
                "select 'a :nope b', $$ :nope $$, \"col:nope\", 1::int, :env_n::text;\n",
            ),
        )],
        &[("env_n", "42")],
    )
    .expect("expands");
    // A step starts at its first token: the comment before it is not sent.
    assert_eq!(
        sql(&exp),
        [concat!(
            "create table \"my_table\" (x text default 'O''Brien', y int);\n",
            "select 'a :nope b', $$ :nope $$, \"col:nope\", 1::int, 42::text;"
        )]
    );
}

#[test]
fn undefined_variable_names_file_line_and_variable() {
    let err = refused(&[("setup.sql", "select 1;\nselect :'missing';\n")]);
    assert_eq!(err, "setup.sql:2: undefined variable :missing");
}

#[test]
fn conditionals_follow_defined_and_boolean_variables() {
    let exp = run(
        &[(
            "setup.sql",
            concat!(
                "\\set flag off\n",
                "\\if :{?absent}\nselect 'no1';\n",
                "\\elif :flag\nselect 'no2';\n",
                "\\else\nselect 'yes1';\n",
                "  \\if yes\nselect 'yes2';\n\\else\nselect 'no3';\n\\endif\n",
                "\\endif\n",
                "\\if 0\n\\unknown_is_skipped\n\\if :undefined\nselect 'no4';\n\\endif\n\\endif\n",
            ),
        )],
        &[],
    )
    .expect("expands");
    assert_eq!(sql(&exp), ["select 'yes1';", "select 'yes2';"]);
    let open = refused(&[("setup.sql", "\\if true\nselect 1;\n")]);
    assert_eq!(
        open,
        "setup.sql:2: end of file inside \\if: missing \\endif"
    );
    let bad = refused(&[("setup.sql", "\\if maybe\n\\endif\n")]);
    assert_eq!(bad, "setup.sql:1: \\if: \"maybe\" is not a boolean");
}

#[test]
fn set_reads_backtick_echo_and_refuses_other_commands() {
    let exp = run(
        &[(
            "setup.sql",
            "\\set pw `echo \"$ORES_SECRET\"`\n\\echo set :pw\nselect :'pw';\n\\pset format aligned\n\\timing on\n",
        )],
        &[],
    )
    .expect("expands");
    assert_eq!(sql(&exp), ["select 's3cr''et';"]);
    assert_eq!(exp.steps[0].action, Action::Echo("set s3cr'et".into()));
    let shell = refused(&[("setup.sql", "\n\\set x `rm -rf /`\n")]);
    assert!(
        shell.starts_with("setup.sql:2: backtick command `rm -rf /` refused"),
        "{shell}"
    );
    let unset = refused(&[("setup.sql", "\\set x `echo $ORES_NOT_SET`\n")]);
    assert_eq!(unset, "setup.sql:1: backtick: $ORES_NOT_SET is not set");
    // The administrator's credentials and the rest of the environment are not a
    // tree's to read.
    for name in ["PGPASSWORD", "HOME", "ORES_IAM_SERVICE_DB_PASSWORD"] {
        let e = refused(&[("setup.sql", format!("\\set x `echo ${name}`\n").as_str())]);
        assert!(
            e.starts_with(&format!(
                "setup.sql:1: backtick: ${name} may not be read by a tree"
            )),
            "{e}"
        );
    }
}

#[test]
fn unknown_meta_commands_are_refused() {
    let err = refused(&[("setup.sql", "select 1;\n\\! ls\n")]);
    assert_eq!(err, "setup.sql:2: unsupported psql meta-command \\!");
    let err = refused(&[("setup.sql", "select 1 \\gexec\n")]);
    assert_eq!(err, "setup.sql:1: unsupported psql meta-command \\gexec");
}

#[test]
fn literal_quoting_matches_libpq() {
    assert_eq!(quote_literal("a'b"), "'a''b'");
    assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    assert_eq!(parse_bool("of"), Some(false));
    assert_eq!(parse_bool("o"), None);
    assert_eq!(parse_bool("T"), Some(true));
}

#[test]
fn copy_from_a_file_becomes_copy_from_stdin_with_the_data() {
    let exp = run(
        &[
            ("setup.sql", "\\ir data/load.sql\n"),
            (
                "data/load.sql",
                "\\copy t (a, b) from 'rows.csv' with (format csv)\n",
            ),
            ("data/rows.csv", "1,x\r\n2,y\r\n"),
        ],
        &[],
    )
    .expect("expands");
    assert_eq!(exp.data_files, ["data/rows.csv"]);
    assert_eq!(
        exp.steps[0].action,
        Action::Copy {
            statement: "COPY t (a, b) FROM STDIN with (format csv)".into(),
            source: "data/rows.csv".into(),
            data: "1,x\n2,y\n".into(),
        }
    );
    let out = refused(&[("setup.sql", "\n\\copy t from '../x.csv'\n")]);
    assert_eq!(out, "setup.sql:2: \\copy: ../x.csv leaves sql/");
    let stdin = refused(&[("setup.sql", "\\copy t from stdin\n")]);
    assert!(
        stdin.starts_with("setup.sql:1: \\copy: only a data file"),
        "{stdin}"
    );
    let to = refused(&[("setup.sql", "\\copy t to 'x.csv'\n")]);
    assert!(to.starts_with("setup.sql:1: \\copy: only"), "{to}");
}

#[test]
fn a_statement_may_be_split_by_set_and_if_as_in_psql() {
    let exp = run(
        &[(
            "setup.sql",
            "create table t (\n    a int\n\\if true\n    , b int\n\\endif\n\\set x 1\n);\n\\echo done\nselect :x;\n",
        )],
        &[],
    )
    .expect("expands");
    assert_eq!(
        sql(&exp),
        // Blank lines stand for the meta-commands, so each line keeps its number.
        [
            "create table t (\n    a int\n\n, b int\n\n\n);",
            "select 1;"
        ]
    );
    assert_eq!(exp.steps[1].action, Action::Echo("done".into()));
}

#[test]
fn gset_takes_the_query_before_it_and_defers_its_variables() {
    let exp = run(
        &[(
            "setup.sql",
            "select 1 as n\n\\gset\nselect 'x' as v;\n\\gset p_\nselect :n, :'p_v';\n",
        )],
        &[],
    )
    .expect("expands");
    let gsets: Vec<(&str, &str, usize)> = exp
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Gset { query, prefix } => Some((query.as_str(), prefix.as_str(), s.line)),
            _ => None,
        })
        .collect();
    assert_eq!(
        gsets,
        [("select 1 as n", "", 1), ("select 'x' as v", "p_", 3)]
    );
    // Without a server the names a \gset sets are unknown: left for apply time.
    assert_eq!(sql(&exp), ["select :n, :'p_v';"]);
}

#[test]
fn a_sink_answers_gset_before_later_statements_expand() {
    let dir = tree(&[(
        "setup.sql",
        "select 1 as n, null as gone\n\\gset\nselect :n;\n\\if :{?gone}\nselect 'never';\n\\endif\n",
    )]);
    let read =
        |rel: &Path| std::fs::read_to_string(dir.path().join(rel)).map_err(|e| e.to_string());
    let vars: BTreeMap<String, String> = [("gone".to_string(), "was set".to_string())].into();
    let mut sink = |step: &Step| match &step.action {
        Action::Gset { .. } => Ok(Some(vec![
            ("n".to_string(), Some("42".to_string())),
            ("gone".to_string(), None),
        ])),
        _ => Ok(None),
    };
    let exp =
        expand_with(&read, &["setup.sql"], vars, &|_| None, Some(&mut sink)).expect("expands");
    assert_eq!(sql(&exp), ["select 42;"]);
    assert!(
        !exp.variables.contains_key("gone"),
        "a NULL unsets, as in psql"
    );
}

#[test]
fn bad_gset_is_refused_with_file_and_line() {
    for (text, message) in [
        ("\\gset\n", "setup.sql:1: \\gset without a query before it"),
        (
            "select 1\n\\gset a b\n",
            "setup.sql:2: \\gset takes at most one",
        ),
        (
            "select true as t\n\\gset\n\\if :t\n\\endif\n",
            "setup.sql:3: \\if :t: a condition on a variable a \\gset may set",
        ),
    ] {
        let e = refused(&[("setup.sql", text)]);
        assert!(e.starts_with(message), "{text:?}: {e}");
    }
}

#[test]
fn transaction_control_is_refused_even_when_a_variable_spells_it() {
    let e = run(&[("setup.sql", "select 1;\n\n  commit;\n")], &[]).unwrap_err();
    assert_eq!((e.path.as_str(), e.line), ("setup.sql", 3), "{e}");
    assert!(e.message.starts_with("S009: `COMMIT`"), "{e}");
    let e = run(
        &[("setup.sql", "\\set how commit\nselect 1;\n:how;\n")],
        &[],
    )
    .unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    let e = run(&[("setup.sql", "savepoint s \\gset\n")], &[]).unwrap_err();
    assert!(e.message.contains("SAVEPOINT"), "{e}");
    // Bodies and CASE are not statements of their own.
    run(
        &[(
            "setup.sql",
            "do $$ begin commit; end $$;\nselect case when true then 1 end;\n",
        )],
        &[],
    )
    .expect("no transaction control");
}

/// `setup.sql` including `f1.sql`, which includes `f2.sql`, ... down to `f<last>.sql`.
fn chain(last: usize) -> Vec<(String, String)> {
    (0..=last)
        .map(|i| {
            let name = if i == 0 {
                "setup.sql".to_string()
            } else {
                format!("f{i}.sql")
            };
            let body = if i < last {
                format!("\\ir f{}.sql\n", i + 1)
            } else {
                "select 1;\n".to_string()
            };
            (name, body)
        })
        .collect()
}

#[test]
fn includes_nest_at_most_max_include_depth() {
    let depth = crate::tree::boundary::MAX_INCLUDE_DEPTH;
    let expand_chain = |last: usize| {
        let files = chain(last);
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_str()))
            .collect();
        run(&files, &[])
    };
    expand_chain(depth - 1).expect("within the limit");
    let e = expand_chain(depth).unwrap_err();
    assert!(
        e.message
            .contains(&format!("f{depth}.sql is included {depth} files deep")),
        "{e}"
    );
    assert_eq!((e.path, e.line), (format!("f{}.sql", depth - 1), 1));
}

#[test]
fn variables_are_found_and_replaced_among_multibyte_text() {
    // Offsets are bytes: a character of two, three and four bytes before a
    // reference must not shift where it is cut out, nor what the `::` check sees.
    let exp = run(
        &[(
            "setup.sql",
            "\\set v 'Zürich'\nselect 'é€😀' || :'v', \"ñame\"::text, :v_ok;\ncommit_ü; \\echo :v\n",
        )],
        &[("v_ok", "1")],
    )
    .expect("expands");
    assert_eq!(
        sql(&exp),
        ["select 'é€😀' || 'Zürich', \"ñame\"::text, 1;\ncommit_ü;"]
    );
}

#[test]
fn transaction_control_split_by_a_meta_command_is_found_on_its_file_line() {
    // The statement is read across `\set`, as psql's query buffer carries it; the
    // check runs on the tokens already lexed and must still see where it starts.
    let message = refused(&[(
        "setup.sql",
        "select 1;\n\ncommit\n\\set x 1\n;\nselect 2;\n",
    )]);
    assert!(
        message.contains("setup.sql:3") && message.contains("COMMIT"),
        "{message}"
    );
    // A variable spelling the statement is lexed again, after substitution.
    let dir = tree(&[("setup.sql", "select 1;\n:verb;\n")]);
    let vars = [("verb".to_string(), "ROLLBACK".to_string())].into();
    let err = expand(dir.path(), &["setup.sql"], vars, &|_| None).expect_err("refused");
    assert!(
        err.to_string().contains("setup.sql:2") && err.to_string().contains("ROLLBACK"),
        "{err}"
    );
}
