//! Statements that carry a value read through a backtick (a password): the value
//! never travels as statement text or as a bind parameter, which the server logs
//! (`log_statement`, the `STATEMENT:` line of an error, `QUERY:` context lines) and
//! the driver logs at debug level.
//!
//! The statement is sent with each such value replaced by a marker; the values go
//! to a temporary table through `COPY ... FROM STDIN`, whose data no log records;
//! a `DO` block puts them back and runs the statement with `EXECUTE`. An error it
//! raises is caught inside the block (a caught error is not logged) and raised again
//! with every value replaced by `<redacted>` in its message, detail and hint, so
//! neither the server's log nor the caller sees one. The table is dropped with the
//! transaction at the latest.

use crate::tree::lint::lexer::statement_spans;
use postgres::{SimpleQueryMessage, Transaction};
use rand::RngCore;
use std::io::Write;

/// Runs `sql` (one statement) with the values of `secrets` it holds kept out of
/// every log.
pub(crate) fn execute(
    tx: &mut Transaction<'_>,
    sql: &str,
    secrets: &[String],
) -> Result<(), postgres::Error> {
    run(tx, sql, secrets, false).map(drop)
}

/// Runs the statements of `sql` as [`execute`] does and returns the rows of the
/// last (for `\gset`, whose buffer may hold several).
pub(crate) fn query(
    tx: &mut Transaction<'_>,
    sql: &str,
    secrets: &[String],
) -> Result<Vec<SimpleQueryMessage>, postgres::Error> {
    let spans = statement_spans(sql);
    let Some((last, before)) = spans.split_last() else {
        return Ok(Vec::new());
    };
    for span in before {
        run(tx, &sql[span.range.clone()], secrets, false)?;
    }
    run(tx, &sql[last.range.clone()], secrets, true)
}

/// Whether `sql` holds one of the values, in any form.
pub(crate) fn holds(sql: &str, secrets: &[String]) -> bool {
    forms(secrets).iter().any(|f| sql.contains(f.as_str()))
}

/// `text` with every form of every value replaced by `<redacted>`.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for f in forms(secrets) {
        out = out.replace(&f, "<redacted>");
    }
    out
}

/// Every form a value takes in a statement (as read; quote-doubled as psql's `:'x'`
/// writes it, with backslashes doubled too when it writes `E'..'`; as `:"x"` writes
/// it), longest first so a value that contains another is handled whole.
fn forms(secrets: &[String]) -> Vec<String> {
    let mut forms: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        let quoted = s.replace('\'', "''");
        for form in [
            s.clone(),
            quoted.replace('\\', "\\\\"),
            quoted,
            s.replace('"', "\"\""),
        ] {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms
}

fn run(
    tx: &mut Transaction<'_>,
    sql: &str,
    secrets: &[String],
    rows: bool,
) -> Result<Vec<SimpleQueryMessage>, postgres::Error> {
    let nonce = {
        let mut b = [0u8; 8];
        rand::rng().fill_bytes(&mut b);
        hex::encode(b)
    };
    let (template, pairs) = masked(sql, secrets, &nonce);
    tx.batch_execute(
        "CREATE TEMP TABLE ores_hidden_values (marker text NOT NULL, form text NOT NULL) ON COMMIT DROP",
    )?;
    let mut writer = tx.copy_in("COPY pg_temp.ores_hidden_values FROM STDIN")?;
    let mut data = String::new();
    for (marker, form) in &pairs {
        data.push_str(&format!("{}\t{}\n", copy_text(marker), copy_text(form)));
    }
    // A write error surfaces as the driver's error at `finish`.
    let _ = writer.write_all(data.as_bytes());
    writer.finish()?;
    let statement = if rows {
        let query = template.trim_end().trim_end_matches(';');
        format!("CREATE TEMP TABLE ores_hidden_row ON COMMIT DROP AS {query}")
    } else {
        template
    };
    let tag = format!("ores_hidden_{nonce}");
    let run = tx.batch_execute(&format!(
        "DO ${tag}$
         DECLARE q text := ${tag}q${statement}${tag}q$; r record; st text; m text; d text; h text;
         BEGIN
           FOR r IN SELECT marker, form FROM pg_temp.ores_hidden_values LOOP
             q := replace(q, r.marker, r.form);
           END LOOP;
           EXECUTE q;
         EXCEPTION WHEN OTHERS THEN
           GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, m = MESSAGE_TEXT,
                                   d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
           FOR r IN SELECT form FROM pg_temp.ores_hidden_values LOOP
             m := replace(m, r.form, '<redacted>');
             d := replace(d, r.form, '<redacted>');
             h := replace(h, r.form, '<redacted>');
           END LOOP;
           RAISE EXCEPTION USING ERRCODE = st, MESSAGE = m, DETAIL = d, HINT = h;
         END ${tag}$"
    ));
    run?;
    tx.batch_execute("DROP TABLE pg_temp.ores_hidden_values")?;
    if !rows {
        return Ok(Vec::new());
    }
    tx.simple_query("SELECT * FROM pg_temp.ores_hidden_row; DROP TABLE pg_temp.ores_hidden_row")
}

/// `sql` with every form of each value replaced by a marker, and the (marker, form)
/// pairs: every form, present or not, since an error message quotes a value as the
/// server read it (a quoted literal's form unescaped), which is also redacted.
fn masked(sql: &str, secrets: &[String], nonce: &str) -> (String, Vec<(String, String)>) {
    let mut text = sql.to_string();
    let mut pairs = Vec::new();
    for (i, form) in forms(secrets).into_iter().enumerate() {
        let marker = format!("@ores_hidden_{nonce}_{i}@");
        text = text.replace(&form, &marker);
        pairs.push((marker, form));
    }
    (text, pairs)
}

/// A value in `COPY`'s text format.
fn copy_text(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn every_form_of_a_value_is_masked_and_nothing_else() {
        let secrets = vec!["p'w".to_string(), String::new()];
        let (text, pairs) = masked("alter role r password 'p''w'; select 'p'w'", &secrets, "n");
        assert!(!text.contains("p'w") && !text.contains("p''w"), "{text}");
        assert!(
            text.starts_with("alter role r password '@ores_hidden_n_"),
            "{text}"
        );
        assert_eq!(pairs.len(), 2);
    }
}
