//! The rows a multi-row insert wrote, by key: what lets an edit of a few rows in a
//! large populate file delete and insert those rows instead of emptying the table
//! and inserting all of them again.
//!
//! A build keeps, for each `INSERT INTO t (k, ..) VALUES (<constant>, ..), ..` of its
//! stream, the text of every row's first value (`ores_sql.outline_keys`, by the
//! statement's digest; the text of the tree is never stored otherwise). When a later
//! tree replaces such a statement, the rows it wrote are found again by those
//! constants: on a table whose rows nothing but such inserts writes, with `k` its
//! one-column primary key, no trigger, rule, foreign key, inheritance, identity, or
//! default drawn from a sequence or a function of the tree (checked in the catalog of
//! the copy it runs on, [`eligibility_sql`]), the table holds exactly the union of
//! the rows of its inserts, whatever their order, so deleting the removed
//! statements' keys and running the added statements gives the full build's rows.
//! Each key must delete exactly one row; otherwise, or when the catalog says no, the
//! table is emptied and filled again as before.

use crate::tree::lint::lexer::{Tok, lex_spans};

/// The first column of a multi-row insert's column list (unquoted, lowercased; or as
/// quoted) and the text of each row's first value, when the statement is a plain
/// `INSERT INTO t (k, ..) VALUES (..), ..` (nothing after the rows) whose every
/// first value is one constant: a number, with its sign, or a string literal.
pub(crate) fn row_keys(sql: &str) -> Option<(String, Vec<String>)> {
    let toks = lex_spans(sql);
    let tok = |i: usize| toks.get(i).map(|t| &t.0);
    let word = |i: usize| match tok(i) {
        Some(Tok::Word(w)) => w.as_str(),
        _ => "",
    };
    if word(0) != "insert" || word(1) != "into" {
        return None;
    }
    let mut i = 2;
    loop {
        if !matches!(tok(i), Some(Tok::Word(w)) if !w.is_empty())
            && !matches!(tok(i), Some(Tok::Quoted(_)))
        {
            return None;
        }
        if tok(i + 1) == Some(&Tok::Punct('.')) {
            i += 2;
        } else {
            i += 1;
            break;
        }
    }
    if tok(i) != Some(&Tok::Punct('(')) {
        return None;
    }
    let column = match tok(i + 1)? {
        Tok::Word(w) => w.clone(),
        Tok::Quoted(q) => q.clone(),
        _ => return None,
    };
    // The column list holds names and commas only.
    i += 1;
    while tok(i) != Some(&Tok::Punct(')')) {
        if !matches!(tok(i)?, Tok::Word(_) | Tok::Quoted(_) | Tok::Punct(',')) {
            return None;
        }
        i += 1;
    }
    if word(i + 1) != "values" {
        return None;
    }
    i += 2;
    let mut keys = Vec::new();
    loop {
        if tok(i) != Some(&Tok::Punct('(')) {
            return None;
        }
        let first = i + 1;
        let (end, close) = row_end(&toks, first)?;
        if !constant(&toks[first..end]) {
            return None;
        }
        // Up to the comma or parenthesis that ends it: a comment after the value
        // comes with it, which is why a reader puts each key on a line of its own.
        keys.push(sql[toks[first].2..toks[end].2].trim_end().to_string());
        i = close + 1;
        match tok(i) {
            Some(Tok::Punct(',')) => i += 1,
            None | Some(Tok::Semi) if toks[i..].iter().all(|t| t.0 == Tok::Semi) => break,
            _ => return None,
        }
    }
    Some((column, keys))
}

/// What a read-only check of some rows of `table` reads: the key column and the
/// constants it looks up, when the statement is a `DO` block whose every read of
/// `table` is `FROM table WHERE column = <constant>` and which holds nothing but
/// such lookups, `IF [NOT] EXISTS`, `count`, `RAISE` and literals (so it writes
/// nothing and reads nothing else), such as a populate file's "the last row is
/// there". Its outcome at its place in the stream depends on those rows alone.
pub(crate) fn point_lookups(sql: &str, table: &str) -> Option<(String, Vec<String>)> {
    let outer = lex_spans(sql);
    let body = match outer.as_slice() {
        [(Tok::Word(d), ..), (Tok::Literal, _, at), rest @ ..]
            if d == "do" && rest.iter().all(|t| t.0 == Tok::Semi) =>
        {
            dollar_body(sql[*at..].trim_end().trim_end_matches(';').trim_end())?
        }
        _ => return None,
    };
    let parts: Vec<String> = table
        .split('.')
        .map(|p| p.trim_matches('"').to_string())
        .collect();
    let toks = lex_spans(body);
    let word = |i: usize| match toks.get(i).map(|t| &t.0) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    const ALLOWED: &[&str] = &[
        "begin",
        "end",
        "if",
        "then",
        "else",
        "not",
        "exists",
        "select",
        "from",
        "where",
        "raise",
        "exception",
        "notice",
        "count",
    ];
    let mut column: Option<String> = None;
    let mut keys = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Word(w) if w == "from" => {
                // `from <table> where <column> = <constant> )`
                let mut j = i + 1;
                for p in &parts {
                    match &toks.get(j)?.0 {
                        Tok::Word(w) | Tok::Quoted(w) if w == p => j += 1,
                        _ => return None,
                    }
                    if toks.get(j).map(|t| &t.0) == Some(&Tok::Punct('.')) {
                        j += 1;
                    }
                }
                if word(j) != Some("where") {
                    return None;
                }
                let c = match &toks.get(j + 1)?.0 {
                    Tok::Word(w) | Tok::Quoted(w) => w.clone(),
                    _ => return None,
                };
                if column.get_or_insert_with(|| c.clone()) != &c
                    || toks.get(j + 2).map(|t| &t.0) != Some(&Tok::Punct('='))
                {
                    return None;
                }
                let from = j + 3;
                let end = (from..toks.len()).find(|&k| toks[k].0 == Tok::Punct(')'))?;
                if from == end || !constant(&toks[from..end]) {
                    return None;
                }
                keys.push(body[toks[from].2..toks[end].2].trim_end().to_string());
                i = end + 1;
            }
            Tok::Word(w) if ALLOWED.contains(&w.as_str()) => i += 1,
            Tok::Word(w) if w.as_bytes().first().is_some_and(u8::is_ascii_digit) => i += 1,
            Tok::Literal | Tok::Semi => i += 1,
            Tok::Punct('(' | ')' | '*' | ';') => i += 1,
            _ => return None,
        }
    }
    Some((column?, keys))
}

/// The text inside a dollar-quoted literal (`$tag$ .. $tag$`).
fn dollar_body(literal: &str) -> Option<&str> {
    let tag_end = literal[1..].find('$')? + 2;
    let tag = &literal[..tag_end];
    (literal.starts_with('$') && literal.len() >= 2 * tag_end && literal.ends_with(tag))
        .then(|| &literal[tag_end..literal.len() - tag_end])
}

/// Where the first value of the row opening before `first` ends (its comma or the
/// row's parenthesis), and the index of the row's closing parenthesis.
fn row_end(toks: &[(Tok, usize, usize)], first: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut end = None;
    for (j, t) in toks.iter().enumerate().skip(first) {
        match t.0 {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(',') if depth == 0 => {
                end.get_or_insert(j);
            }
            Tok::Punct(')') if depth == 0 => return Some((end.unwrap_or(j), j)),
            Tok::Punct(')') => depth -= 1,
            Tok::Semi | Tok::Backslash => return None,
            _ => {}
        }
    }
    None
}

/// Whether the tokens are one constant: a string literal, or a number with its sign
/// (`-12.5`, `.5`, `1e-5`: digits and points, a sign first or after an exponent).
fn constant(toks: &[(Tok, usize, usize)]) -> bool {
    let digits = |w: &str| w.as_bytes().first().is_some_and(u8::is_ascii_digit);
    match toks {
        [(Tok::Literal, ..)] => true,
        _ => {
            toks.iter()
                .any(|t| matches!(&t.0, Tok::Word(w) if digits(w)))
                && toks.iter().enumerate().all(|(j, t)| match &t.0 {
                    Tok::Word(w) => digits(w),
                    Tok::Punct('.') => true,
                    Tok::Punct('-' | '+') => {
                        j == 0 || matches!(&toks[j - 1].0, Tok::Word(w) if w.ends_with('e'))
                    }
                    _ => false,
                })
        }
    }
}

/// One boolean: whether the table `$1` (as the statement wrote it, resolved by the
/// session's search path) may have rows deleted by the key column `$2` (or only
/// rows added, `$2` null): a plain table, `$2` its whole primary key, and nothing
/// that makes its rows depend on the order they were written in or reach beyond it (triggers, rules, foreign keys
/// either way, inheritance, identity columns, defaults or checks drawing on a
/// sequence or on a function of the tree). Row-level security forced on the owner
/// would hide rows from the delete: refused too.
pub(crate) fn eligibility_sql() -> &'static str {
    "SELECT coalesce((
       SELECT c.relkind = 'r' AND NOT c.relforcerowsecurity
          AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid)
          AND NOT EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = c.oid)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint
                           WHERE contype = 'f' AND (conrelid = c.oid OR confrelid = c.oid))
          AND NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid)
          AND NOT EXISTS (SELECT 1 FROM pg_attribute
                           WHERE attrelid = c.oid AND attnum > 0 AND attidentity <> '')
          AND NOT EXISTS (
                SELECT 1 FROM pg_depend d
                 WHERE d.classid IN ('pg_attrdef'::regclass, 'pg_constraint'::regclass)
                   AND d.objid IN (SELECT oid FROM pg_attrdef WHERE adrelid = c.oid
                                   UNION ALL
                                   SELECT oid FROM pg_constraint WHERE conrelid = c.oid)
                   AND (d.refclassid = 'pg_proc'::regclass
                        OR (d.refclassid = 'pg_class'::regclass AND d.refobjid <> c.oid)))
          AND ($2::text IS NULL OR (
                SELECT array_agg(a.attname::text)
                  FROM pg_index i
                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
                 WHERE i.indrelid = c.oid AND i.indisprimary) = ARRAY[$2::text])
         FROM pg_class c WHERE c.oid = to_regclass($1)), false)"
}

/// `DELETE FROM table WHERE column IN (keys)`.
pub(crate) fn delete_sql(table: &str, column: &str, keys: &[String]) -> String {
    format!(
        "DELETE FROM {table} WHERE {} IN ({})",
        crate::config::ident::quote_ident(column),
        listed(keys, None)
    )
}

/// One boolean: whether a value of `checked` equals one of `changed`, each read as
/// a value of type `ty` (the key column's, as `format_type` writes it).
pub(crate) fn overlap_sql(ty: &str, checked: &[String], changed: &[String]) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM unnest(ARRAY[{}]) AS c(v) WHERE v = ANY (ARRAY[{}]))",
        listed(checked, Some(ty)),
        listed(changed, Some(ty))
    )
}

/// Constants as a list, each on a line of its own (a key's text may end in a `--`
/// comment), cast to `ty` when given.
fn listed(keys: &[String], ty: Option<&str>) -> String {
    let mut out = String::from("\n");
    for (n, k) in keys.iter().enumerate() {
        if n > 0 {
            out.push_str(",\n");
        }
        match ty {
            Some(ty) => out.push_str(&format!("CAST(\n{k}\nAS {ty})")),
            None => out.push_str(k),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::row_keys as keys;

    #[test]
    fn the_first_value_of_every_row_is_its_key() {
        assert_eq!(
            keys(
                "INSERT INTO s.t (id, code) VALUES\n (1, 'a'),\n (-2.5, 'b, (c)'),\n (1e-5, f(x));"
            ),
            Some(("id".into(), vec!["1".into(), "-2.5".into(), "1e-5".into()]))
        );
        assert_eq!(
            keys("insert into t (\"Code\", n) values ('it''s', 1), (E'a\\'b', 2), ($$x$$, 3)"),
            Some((
                "Code".into(),
                vec!["'it''s'".into(), "E'a\\'b'".into(), "$$x$$".into()]
            ))
        );
        // A comment after a key stays with it; the reader puts each on its own line.
        assert_eq!(
            keys("insert into t (id) values (1 -- one\n), (2)"),
            Some(("id".into(), vec!["1 -- one".into(), "2".into()]))
        );
    }

    #[test]
    fn a_check_of_rows_by_key_is_read_as_its_lookups() {
        let check = |body: &str| super::point_lookups(&format!("DO $$\n{body}\n$$"), "s.t");
        assert_eq!(
            check(
                "BEGIN\n IF NOT EXISTS (SELECT 1 FROM s.t WHERE id = 24000) THEN\n RAISE EXCEPTION 't stops (early)';\n END IF;\n END"
            ),
            Some(("id".into(), vec!["24000".into()]))
        );
        for body in [
            // Every row, a range, another column or table, a write, a function.
            "BEGIN IF (SELECT count(*) FROM s.t) < 5 THEN RAISE EXCEPTION 'x'; END IF; END",
            "BEGIN IF NOT EXISTS (SELECT 1 FROM s.t WHERE id > 5) THEN RAISE EXCEPTION 'x'; END IF; END",
            "BEGIN IF NOT EXISTS (SELECT 1 FROM s.t WHERE id = 5 OR id = 6) THEN RAISE EXCEPTION 'x'; END IF; END",
            "BEGIN IF NOT EXISTS (SELECT 1 FROM s.u WHERE id = 5) THEN RAISE EXCEPTION 'x'; END IF; END",
            "BEGIN DELETE FROM s.t WHERE id = 5; END",
            "BEGIN IF NOT EXISTS (SELECT 1 FROM s.t WHERE id = f(5)) THEN RAISE EXCEPTION 'x'; END IF; END",
            "BEGIN PERFORM pg_notify('c', 'x'); END",
        ] {
            assert_eq!(check(body), None, "{body}");
        }
    }

    #[test]
    fn anything_but_constants_in_a_plain_insert_has_no_keys() {
        for sql in [
            "insert into t values (1, 'a')",
            "insert into t (id) values (f(1))",
            "insert into t (id) values (1 + 1)",
            "insert into t (id) values (now())",
            "insert into t (id) values ('1'::int)",
            "insert into t (id) values (1) on conflict do nothing",
            "insert into t (id) values (1) returning id",
            "insert into t (id) select 1",
            "insert into t as x (id) values (1)",
            "insert into t (id) values (null)",
            "insert into t (id) values (date '2024-01-01')",
            "update t set id = 1",
        ] {
            assert_eq!(keys(sql), None, "{sql}");
        }
    }
}
