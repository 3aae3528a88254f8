//! A seed's multi-row inserts of constants, sent as `COPY`: the server parses each
//! row's values as text instead of planning a `VALUES` list of constants, about
//! twice as fast on the large seed files a tree holds (30,000 rows: 0.40–0.48 s as
//! `INSERT`s, 0.20–0.25 s as one `COPY`, measured on this machine's server).
//!
//! Consecutive statements `INSERT INTO t (c, ..) VALUES (..), ..` with the same
//! table and column list, nothing after the rows, become one `COPY t (c, ..) FROM
//! STDIN`, when the result is the same table, row for row:
//!
//! - the table, looked up in the build's own transaction (`to_regclass`, the same
//!   search path), is a plain table (not a partition, view or foreign table) with no
//!   trigger (so no foreign key either), no rule (`COPY` ignores rules) and no
//!   row-level security (`COPY FROM` refuses it); no listed column is an identity or
//!   generated one (`COPY` writes an identity `ALWAYS` column an `INSERT` refuses);
//!   defaults of the unlisted columns are evaluated row by row in order by both, and
//!   `COPY` takes rows one at a time when a default is volatile;
//! - every value is a constant whose text the column's input function reads as the
//!   `INSERT` would have coerced it: `NULL`; a string literal without a backslash
//!   (an unknown-typed literal goes through the column type's input function, with
//!   its type modifier, exactly as `COPY` does; a backslash would depend on
//!   `standard_conforming_strings`); `TRUE`/`FALSE` into a `boolean`; an integer
//!   into an integer, `numeric` or floating-point column, and a decimal into a
//!   `numeric` or floating-point one (a decimal into an integer column is rounded by
//!   an `INSERT` and refused by `COPY`; a number into a text column prints
//!   differently); never a signed zero (`-0.0` is `0` as an `INSERT` computes it,
//!   and `-0` as `float8in` reads it).
//!
//! Anything else runs as written. A table is looked up once per step of the tree
//! and looked up again after any statement that is not such an insert (which could
//! have changed it). A failure names the row's own line: `COPY` reports the data
//! line, which maps back to the statement and the row. `RunOptions::bulk_seed(false)`
//! runs every insert as written; `tests/it/copy_rows.rs` proves both give the same
//! rows, value by value, on every column type and literal form this takes.

use crate::build::statements::StatementError;
use crate::tree::lint::lexer::{is_ident_byte, statement_spans};
use std::collections::HashMap;
use std::io::Write;

/// A value of a row, as written.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    /// An integer, with its sign.
    Integer(String),
    /// A number with a fraction or an exponent, with its sign.
    Decimal(String),
    Text(String),
}

/// A plain multi-row insert of constants.
#[derive(Debug)]
struct Insert<'a> {
    /// The table and the column list as written, for the `COPY` statement.
    table: &'a str,
    column_list: &'a str,
    /// The columns as the server names them (unquoted names folded).
    columns: Vec<String>,
    /// Each row's values and the line it starts on, counted from the statement's first.
    rows: Vec<(usize, Vec<Value>)>,
}

/// What a column accepts, for the values a row may give it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Integer,
    Numeric,
    Float,
    Boolean,
    /// Any other type: only `NULL` and string literals.
    Other,
}

impl Column {
    fn of(type_oid: u32) -> Column {
        match type_oid {
            20 | 21 | 23 => Column::Integer,
            1700 => Column::Numeric,
            700 | 701 => Column::Float,
            16 => Column::Boolean,
            _ => Column::Other,
        }
    }

    /// The value's text for `COPY`, when its input function gives what the
    /// `INSERT` would have stored.
    fn copy_text(self, value: &Value) -> Option<String> {
        let signed_zero = |n: &str| {
            n.starts_with(['-', '+'])
                && n.bytes()
                    .take_while(|b| *b != b'e' && *b != b'E')
                    .all(|b| matches!(b, b'-' | b'+' | b'0' | b'.'))
        };
        match (self, value) {
            (_, Value::Null) => Some("\\N".into()),
            (_, Value::Text(t)) => Some(escaped(t)),
            (Column::Boolean, Value::Bool(b)) => Some(if *b { "t" } else { "f" }.into()),
            (Column::Integer | Column::Numeric | Column::Float, Value::Integer(n))
            | (Column::Numeric | Column::Float, Value::Decimal(n))
                if !signed_zero(n) =>
            {
                Some(n.clone())
            }
            _ => None,
        }
    }
}

/// `COPY`'s text format: a tab, newline or carriage return inside a value is
/// escaped (a backslash never reaches here).
fn escaped(text: &str) -> String {
    if !text.contains(['\t', '\n', '\r']) {
        return text.to_string();
    }
    text.replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Fewer rows than this in a run of inserts into one table run as written: the
/// lookup of the table would cost about what `COPY` saves (most seed files of a
/// tree fill a versioned table, which no lookup would admit, with a few dozen rows).
const COPY_MIN_ROWS: usize = 100;

/// Runs the statements of `sql` in order on `tx`, sending each run of eligible
/// inserts as one `COPY` and every other statement through `plain`; stops at the
/// first failure, named by its statement and line. Returns how many statements went
/// as `COPY`.
pub(crate) fn execute_each_copying(
    tx: &mut postgres::Transaction<'_>,
    sql: &str,
    mut plain: impl FnMut(&mut postgres::Transaction<'_>, &str) -> Result<(), postgres::Error>,
) -> Result<usize, StatementError> {
    let mut copied = 0;
    let spans = statement_spans(sql);
    let statements: Vec<(&str, usize)> = spans
        .iter()
        .map(|s| (&sql[s.range.clone()], s.line))
        .collect();
    let mut tables: HashMap<String, Option<HashMap<String, Column>>> = HashMap::new();
    let mut next = 0;
    while next < statements.len() {
        let run = insert_run(&statements[next..]);
        let rows: usize = run.iter().map(|(_, _, i)| i.rows.len()).sum();
        let batch = match run.first() {
            Some((statement, line, first)) if rows >= COPY_MIN_ROWS => {
                if !tables.contains_key(first.table) {
                    let columns = eligible(tx, first.table)
                        .map_err(|error| StatementError::new(error, statement, *line))?;
                    tables.insert(first.table.to_string(), columns);
                }
                tables[first.table]
                    .as_ref()
                    .and_then(|columns| Batch::of(&run, columns))
            }
            _ => None,
        };
        match batch {
            Some(batch) => {
                batch.send(tx)?;
                next += run.len();
                copied += run.len();
            }
            None => {
                // Not sent as `COPY`: each statement of the run (or the one that is
                // not an insert) as written.
                for &(statement, line) in &statements[next..next + run.len().max(1)] {
                    plain(tx, statement)
                        .map_err(|error| StatementError::new(error, statement, line))?;
                }
                next += run.len().max(1);
                // What a statement did to a table is not known: look them up again.
                tables.clear();
            }
        }
    }
    Ok(copied)
}

/// What a build does with the statements of `sql` (a seed's inserts sent as `COPY`
/// where they may be), for the tests that hold it to running them as written: how
/// many statements went as `COPY`, or the failure as a build reports it in `path`.
#[doc(hidden)]
pub fn run_as_build(
    tx: &mut postgres::Transaction<'_>,
    sql: &str,
    path: &str,
) -> Result<usize, crate::error::ScriptFailure> {
    execute_each_copying(tx, sql, |tx, s| tx.batch_execute(s)).map_err(|e| e.failure(path))
}

/// The inserts of constants at the start of `statements` into one table with one
/// column list: empty when the first is not one.
fn insert_run<'a>(statements: &[(&'a str, usize)]) -> Vec<(&'a str, usize, Insert<'a>)> {
    let mut run: Vec<(&str, usize, Insert<'_>)> = Vec::new();
    for &(statement, line) in statements {
        match parse_insert(statement) {
            Some(insert)
                if run.first().is_none_or(|(_, _, first)| {
                    first.table == insert.table && first.column_list == insert.column_list
                }) =>
            {
                run.push((statement, line, insert))
            }
            _ => break,
        }
    }
    run
}

/// Consecutive inserts into one table with one column list, as one `COPY`.
struct Batch<'a> {
    table: &'a str,
    column_list: &'a str,
    data: String,
    /// For each data line: the statement it came from and the row's line in the
    /// script.
    lines: Vec<(&'a str, usize)>,
}

impl<'a> Batch<'a> {
    /// The run as one `COPY`, when every row's every value suits its column.
    fn of(
        run: &[(&'a str, usize, Insert<'a>)],
        columns: &HashMap<String, Column>,
    ) -> Option<Batch<'a>> {
        let (_, _, first) = run.first()?;
        let mut batch = Batch {
            table: first.table,
            column_list: first.column_list,
            data: String::new(),
            lines: Vec::new(),
        };
        for (statement, line, insert) in run {
            batch.data.push_str(&copy_data(insert, columns)?);
            batch.lines.extend(
                insert
                    .rows
                    .iter()
                    .map(|(offset, _)| (*statement, line + offset)),
            );
        }
        Some(batch)
    }

    fn send(self, tx: &mut postgres::Transaction<'_>) -> Result<(), StatementError> {
        let copy = format!("COPY {} {} FROM STDIN", self.table, self.column_list);
        let (first, line) = self.lines[0];
        let mut writer = tx
            .copy_in(copy.as_str())
            .map_err(|e| StatementError::new(e, first, line))?;
        // A server error stops the writing; `finish` returns it.
        let _ = writer.write_all(self.data.as_bytes());
        writer.finish().map(drop).map_err(|e| {
            // `COPY t, line N, column c: ..`: the N-th row sent.
            let row = e
                .as_db_error()
                .and_then(|db| db.where_())
                .and_then(|w| w.split(", line ").nth(1))
                .and_then(|rest| rest.split([',', ' ']).next())
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1));
            let (statement, line) = row
                .and_then(|r| self.lines.get(r).copied())
                .unwrap_or((first, line));
            StatementError::new(e, statement, line)
        })
    }
}

/// The table's columns, by name, when an insert into it may be sent as `COPY`.
fn eligible(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
) -> Result<Option<HashMap<String, Column>>, postgres::Error> {
    let rows = tx.query(
        "SELECT c.relkind = 'r' AND NOT c.relispartition AND NOT c.relhasrules
                AND NOT c.relhastriggers AND NOT c.relrowsecurity,
                a.attname::text, a.atttypid::oid,
                a.attidentity = '' AND a.attgenerated = ''
           FROM pg_class c
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          WHERE c.oid = to_regclass($1)",
        &[&table],
    )?;
    if rows.is_empty() || !rows[0].get::<_, bool>(0) {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            // An identity or generated column is never given a value.
            .filter(|r| r.get::<_, bool>(3))
            .map(|r| (r.get(1), Column::of(r.get(2))))
            .collect(),
    ))
}

/// The rows of `insert` in `COPY`'s text format, when every value suits its column.
fn copy_data(insert: &Insert<'_>, columns: &HashMap<String, Column>) -> Option<String> {
    let kinds: Vec<Column> = insert
        .columns
        .iter()
        .map(|c| columns.get(c).copied())
        .collect::<Option<_>>()?;
    let mut data = String::new();
    for (_, row) in &insert.rows {
        if row.len() != kinds.len() {
            return None;
        }
        for (k, (value, kind)) in row.iter().zip(&kinds).enumerate() {
            if k > 0 {
                data.push('\t');
            }
            data.push_str(&kind.copy_text(value)?);
        }
        data.push('\n');
    }
    Some(data)
}

/// A cursor over a statement's bytes.
struct Cursor<'a> {
    sql: &'a str,
    at: usize,
    /// Something this reader does not follow: the statement runs as written.
    broken: bool,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.sql.as_bytes().get(self.at).copied()
    }

    /// Skips whitespace and comments; whether a newline was among them.
    fn skip(&mut self) -> bool {
        let b = self.sql.as_bytes();
        let mut newline = false;
        loop {
            match b.get(self.at) {
                Some(b'\n') => {
                    newline = true;
                    self.at += 1;
                }
                Some(b' ' | b'\t' | b'\r' | 0x0b | 0x0c) => self.at += 1,
                Some(b'-') if b.get(self.at + 1) == Some(&b'-') => {
                    self.at = memchr::memchr(b'\n', &b[self.at..]).map_or(b.len(), |p| self.at + p);
                }
                Some(b'/') if b.get(self.at + 1) == Some(&b'*') => {
                    // Nested comments are rare in a seed: such a statement runs as
                    // written.
                    let body = self.at + 2;
                    match self.sql[body..].find("*/") {
                        Some(p) if !self.sql[body..body + p].contains("/*") => {
                            newline |= self.sql[self.at..body + p].contains('\n');
                            self.at = body + p + 2;
                        }
                        _ => {
                            self.broken = true;
                            self.at = b.len();
                        }
                    }
                }
                _ => return newline,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip();
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// An unquoted word (ASCII letters folded, as the server folds them) or a
    /// quoted name; with the text as written.
    fn name(&mut self) -> Option<(String, &'a str)> {
        self.skip();
        let start = self.at;
        match self.peek()? {
            b'"' => {
                let name = self.doubled(b'"')?;
                Some((name, &self.sql[start..self.at]))
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let b = self.sql.as_bytes();
                let end = b[start..]
                    .iter()
                    .position(|&c| !is_ident_byte(c))
                    .map_or(b.len(), |p| start + p);
                self.at = end;
                let word = &self.sql[start..end];
                Some((word.to_ascii_lowercase(), word))
            }
            _ => None,
        }
    }

    /// The text between the `quote` at the cursor and the one that closes it, a
    /// doubled quote inside read as one (a quoted name, a string literal); `None`
    /// when nothing closes it.
    fn doubled(&mut self, quote: u8) -> Option<String> {
        let b = self.sql.as_bytes();
        let mut text = String::new();
        let mut i = self.at + 1;
        loop {
            let q = memchr::memchr(quote, &b[i..])? + i;
            text.push_str(&self.sql[i..q]);
            if b.get(q + 1) == Some(&quote) {
                text.push(quote as char);
                i = q + 2;
            } else {
                self.at = q + 1;
                return Some(text);
            }
        }
    }

    fn keyword(&mut self, k: &str) -> bool {
        let at = self.at;
        match self.name() {
            Some((w, raw)) if w == k && !raw.starts_with('"') => true,
            _ => {
                self.at = at;
                false
            }
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.skip();
        match self.peek()? {
            b'\'' => {
                let text = self.doubled(b'\'')?;
                // A backslash means what `standard_conforming_strings` says; a
                // literal on the next line continues this one.
                if text.contains('\\') || (self.skip() && self.peek() == Some(b'\'')) {
                    return None;
                }
                Some(Value::Text(text))
            }
            b'-' | b'+' | b'0'..=b'9' | b'.' => {
                let mut number = String::new();
                if matches!(self.peek(), Some(b'-' | b'+')) {
                    number.push(self.peek()? as char);
                    self.at += 1;
                    self.skip();
                }
                let start = self.at;
                let digits = |c: &mut Cursor<'_>| {
                    let from = c.at;
                    while c.peek().is_some_and(|d| d.is_ascii_digit()) {
                        c.at += 1;
                    }
                    c.at > from
                };
                let whole = digits(self);
                let mut decimal = false;
                if self.peek() == Some(b'.') {
                    self.at += 1;
                    decimal = true;
                    if !digits(self) && !whole {
                        return None;
                    }
                } else if !whole {
                    return None;
                }
                if matches!(self.peek(), Some(b'e' | b'E')) {
                    decimal = true;
                    self.at += 1;
                    if matches!(self.peek(), Some(b'-' | b'+')) {
                        self.at += 1;
                    }
                    if !digits(self) {
                        return None;
                    }
                }
                // `123abc`, `0x1F`, `1_000`: not a number as this reads it.
                if self.peek().is_some_and(is_ident_byte) {
                    return None;
                }
                number.push_str(&self.sql[start..self.at]);
                Some(if decimal {
                    Value::Decimal(number)
                } else {
                    Value::Integer(number)
                })
            }
            _ => match self.name()? {
                (w, raw) if !raw.starts_with('"') && w == "null" => Some(Value::Null),
                (w, raw) if !raw.starts_with('"') && w == "true" => Some(Value::Bool(true)),
                (w, raw) if !raw.starts_with('"') && w == "false" => Some(Value::Bool(false)),
                _ => None,
            },
        }
    }
}

/// `INSERT INTO t (c, ..) VALUES (v, ..), ..` with nothing after the rows but a
/// semicolon and comments, every value a constant ([`Value`]).
fn parse_insert(sql: &str) -> Option<Insert<'_>> {
    let mut c = Cursor {
        sql,
        at: 0,
        broken: false,
    };
    if !c.keyword("insert") || !c.keyword("into") {
        return None;
    }
    c.skip();
    let table_start = c.at;
    c.name()?;
    while c.peek() == Some(b'.') {
        c.at += 1;
        c.name()?;
    }
    let table = &sql[table_start..c.at];
    c.skip();
    let list_start = c.at;
    if !c.eat(b'(') {
        return None;
    }
    let mut columns = Vec::new();
    loop {
        let (name, _) = c.name()?;
        if columns.contains(&name) {
            return None;
        }
        columns.push(name);
        if c.eat(b')') {
            break;
        }
        if !c.eat(b',') {
            return None;
        }
    }
    let column_list = &sql[list_start..c.at];
    if !c.keyword("values") {
        return None;
    }
    let mut rows = Vec::new();
    // Lines are counted as the rows go, never from the start again.
    let (mut counted, mut line) = (0, 0);
    loop {
        c.skip();
        line += memchr::memchr_iter(b'\n', &sql.as_bytes()[counted..c.at]).count();
        counted = c.at;
        if !c.eat(b'(') {
            return None;
        }
        let mut row = Vec::new();
        loop {
            row.push(c.value()?);
            if c.eat(b')') {
                break;
            }
            if !c.eat(b',') {
                return None;
            }
        }
        rows.push((line, row));
        if !c.eat(b',') {
            break;
        }
    }
    c.eat(b';');
    c.skip();
    (c.at == sql.len() && !c.broken).then_some(Insert {
        table,
        column_list,
        columns,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<Vec<Value>> {
        parse_insert(sql)
            .expect("an insert of constants")
            .rows
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    #[test]
    fn constants_are_read_with_their_sign_and_kind_and_rows_with_their_line() {
        let sql = "insert into public.\"T\" (a, \"B\") values\n  (1, 'x''y'),\n  (-2.5e3, NULL), (+7, true) -- end\n;";
        let insert = parse_insert(sql).unwrap();
        assert_eq!(insert.table, "public.\"T\"");
        assert_eq!(insert.columns, ["a", "B"]);
        assert_eq!(insert.column_list, "(a, \"B\")");
        assert_eq!(
            insert.rows.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [1, 2, 2]
        );
        assert_eq!(
            kinds(sql),
            [
                vec![Value::Integer("1".into()), Value::Text("x'y".into())],
                vec![Value::Decimal("-2.5e3".into()), Value::Null],
                vec![Value::Integer("+7".into()), Value::Bool(true)],
            ]
        );
    }

    #[test]
    fn anything_but_constants_in_a_plain_insert_runs_as_written() {
        for sql in [
            "insert into t (a) values (now())",
            "insert into t (a) values ('x'::text)",
            "insert into t (a) values (E'x')",
            "insert into t (a) values ('a\\b')",
            "insert into t (a) values ('a'\n'b')",
            "insert into t (a) values (DEFAULT)",
            "insert into t (a) values (1) on conflict do nothing",
            "insert into t (a) values (1) returning a",
            "insert into t values (1)",
            "insert into t (a, a) values (1, 2)",
            "insert into t (a) select 1",
            "insert into t (a) values (0x1F)",
            "insert into t (a) values (1_000)",
            "insert into t (a) values ($1)",
            "insert into t (a) values (1) /* a /* nested */ comment */",
            "update t set a = 1",
        ] {
            assert!(parse_insert(sql).is_none(), "{sql}");
        }
    }

    #[test]
    fn a_value_is_sent_only_where_its_column_reads_it_as_the_insert_stores_it() {
        let int = |s: &str| Value::Integer(s.into());
        let dec = |s: &str| Value::Decimal(s.into());
        assert_eq!(Column::Integer.copy_text(&int("-5")), Some("-5".into()));
        assert_eq!(Column::Integer.copy_text(&dec("1.5")), None);
        assert_eq!(Column::Numeric.copy_text(&dec("1.50")), Some("1.50".into()));
        assert_eq!(Column::Float.copy_text(&dec("-0.0")), None);
        assert_eq!(Column::Numeric.copy_text(&int("-0")), None);
        assert_eq!(Column::Float.copy_text(&dec("-0.0e5")), None);
        assert_eq!(Column::Float.copy_text(&dec("-0.5")), Some("-0.5".into()));
        assert_eq!(Column::Other.copy_text(&int("7")), None);
        assert_eq!(Column::Other.copy_text(&Value::Bool(true)), None);
        assert_eq!(
            Column::Boolean.copy_text(&Value::Bool(false)),
            Some("f".into())
        );
        assert_eq!(
            Column::Other.copy_text(&Value::Text("a\tb\nc".into())),
            Some("a\\tb\\nc".into())
        );
        assert_eq!(Column::Integer.copy_text(&Value::Null), Some("\\N".into()));
    }
}
