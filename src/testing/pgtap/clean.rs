//! Whether a file left its copy as it found it, so the next file of the same worker
//! may run on it: what its statements were (every one inside an explicit transaction
//! that never commits), and what no transaction undoes (sequences, restored here; the
//! session, which must be seen to end).

use crate::config::ident::quote_ident;
use crate::error::{PgContext, Result};
use crate::tree::lint::lexer::{Tok, lex_spans_keeping};
use postgres::Client;
use std::time::{Duration, Instant};

/// What the statements a file sent say about what it can have left behind, judged
/// from the statements as they were sent (after the psql subset expanded them), so
/// `\ir`, `\if` and variables are seen as they ran.
///
/// The file is clean while every statement ran inside an explicit `BEGIN` / `START
/// TRANSACTION` block that no `COMMIT`, `END`, `PREPARE TRANSACTION`, `COMMIT
/// PREPARED` or `ROLLBACK PREPARED` closed. `SET`, `RESET` and `SHOW` may also run
/// outside one: they reach no further than the session. A block still open when the
/// file stops (an error, or no final `ROLLBACK`) is rolled back when its session
/// ends.
#[derive(Debug, Default)]
pub(super) struct Statements {
    in_block: bool,
    dirty: bool,
}

impl Statements {
    /// Takes note of one statement, before it is sent.
    pub(super) fn see(&mut self, statement: &str) {
        let words = leading_words(statement, 3);
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let chained = || {
            let upper = statement.to_ascii_uppercase();
            upper.contains("CHAIN") && !upper.contains("NO CHAIN")
        };
        match w.as_slice() {
            [] => {}
            ["BEGIN", ..] | ["START", "TRANSACTION", ..] => self.in_block = true,
            ["COMMIT" | "END", ..] | ["PREPARE", "TRANSACTION", ..] => self.dirty = true,
            ["ROLLBACK", "PREPARED", ..] => self.dirty = true,
            ["ROLLBACK" | "ABORT", "TO", ..] | ["ROLLBACK", "WORK" | "TRANSACTION", "TO"] => {
                self.dirty |= !self.in_block
            }
            ["ROLLBACK" | "ABORT", ..] => self.in_block = chained(),
            ["SET" | "RESET" | "SHOW", ..] => {}
            _ => self.dirty |= !self.in_block,
        }
    }

    /// Whether every statement seen so far ran in a transaction that cannot commit.
    pub(super) fn clean(&self) -> bool {
        !self.dirty
    }
}

/// The first `n` words of a statement, upper-cased, past whitespace and comments, as
/// the build's lexer reads them; anything else (a parenthesis, a literal) ends them,
/// as an empty word of its own. Only the words [`Statements::see`] tells apart are
/// spelled out; any other is empty too.
fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let keep = |w: &str| {
        matches!(
            w,
            "begin"
                | "start"
                | "transaction"
                | "commit"
                | "end"
                | "prepare"
                | "prepared"
                | "rollback"
                | "abort"
                | "to"
                | "work"
                | "set"
                | "reset"
                | "show"
        )
    };
    let mut words = Vec::new();
    for (tok, _, _) in lex_spans_keeping(sql, keep) {
        if words.len() == n {
            break;
        }
        match tok {
            Tok::Word(w) => words.push(w.to_ascii_uppercase()),
            _ => {
                // Not a word: a word of its own, which no rule lets outside a block.
                words.push(String::new());
                break;
            }
        }
    }
    words
}

/// Every sequence of a copy and its state (`last_value`, `is_called`), read once from
/// a copy no file has run on: what a clean file's `nextval` calls are undone to.
#[derive(Debug)]
pub(super) struct Sequences {
    /// One query reading every sequence's state, by oid (empty: there are none).
    query: String,
    state: Vec<(u32, i64, bool)>,
}

impl Sequences {
    /// Reads them on `client` (a session on an untouched copy).
    pub(super) fn read(client: &mut Client) -> Result<Sequences> {
        let names: Vec<(u32, String, String)> = client
            .query(
                "SELECT c.oid, n.nspname::text, c.relname::text
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind = 'S' AND c.relpersistence <> 't'
                  ORDER BY c.oid",
                &[],
            )
            .context("listing the test template's sequences")?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let query = names
            .iter()
            .map(|(oid, schema, name)| {
                format!(
                    "SELECT {oid}::oid, last_value, is_called FROM {}.{}",
                    quote_ident(schema),
                    quote_ident(name)
                )
            })
            .collect::<Vec<_>>()
            .join("\nUNION ALL ");
        let mut sequences = Sequences {
            query,
            state: Vec::new(),
        };
        sequences.state = sequences.now(client)?;
        Ok(sequences)
    }

    fn now(&self, client: &mut Client) -> Result<Vec<(u32, i64, bool)>> {
        if self.query.is_empty() {
            return Ok(Vec::new());
        }
        let mut state: Vec<(u32, i64, bool)> = client
            .query(self.query.as_str(), &[])
            .context("reading the sequences of a test copy")?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        state.sort_unstable();
        Ok(state)
    }

    /// Sets every sequence that moved back to its first state (`setval` is not
    /// transactional, which is why a rolled-back `nextval` needs this).
    pub(super) fn restore(&self, client: &mut Client) -> Result<()> {
        let now = self.now(client)?;
        if now.len() != self.state.len() {
            return Err(crate::error::Error::Harness(
                "a test copy's sequences are not those of its template".into(),
            ));
        }
        let moved: Vec<&(u32, i64, bool)> = self
            .state
            .iter()
            .zip(&now)
            .filter(|(was, is)| was != is)
            .map(|(was, _)| was)
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        let oids: Vec<u32> = moved.iter().map(|s| s.0).collect();
        let values: Vec<i64> = moved.iter().map(|s| s.1).collect();
        let called: Vec<bool> = moved.iter().map(|s| s.2).collect();
        client
            .execute(
                "SELECT count(setval(o::regclass, v, c))
                   FROM unnest($1::oid[], $2::int8[], $3::bool[]) AS t(o, v, c)",
                &[&oids, &values, &called],
            )
            .context("restoring the sequences of a test copy")?;
        Ok(())
    }
}

/// How long a session that was closed may take to be gone from the server before its
/// copy is given up.
const GONE_WITHIN: Duration = Duration::from_secs(5);

/// Waits until the backend `pid` has exited: only then are its temporary tables,
/// advisory locks and open transaction gone. False if it is still there after
/// [`GONE_WITHIN`].
pub(super) fn wait_gone(admin: &mut Client, pid: i32) -> Result<bool> {
    wait_until(
        admin,
        "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)",
        &pid,
    )
}

/// Waits until nobody is connected to `database` (see [`wait_gone`]).
pub(super) fn wait_no_session(admin: &mut Client, database: &str) -> Result<bool> {
    wait_until(
        admin,
        "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE datname = $1)",
        &database,
    )
}

fn wait_until(
    admin: &mut Client,
    query: &str,
    param: &(dyn postgres::types::ToSql + Sync),
) -> Result<bool> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let gone: bool = admin
            .query_one(query, &[param])
            .context("waiting for a test session to end")?
            .get(0);
        if gone {
            return Ok(true);
        }
        if started.elapsed() > GONE_WITHIN {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(statements: &[&str]) -> bool {
        let mut s = Statements::default();
        for st in statements {
            s.see(st);
        }
        s.clean()
    }

    #[test]
    fn a_rolled_back_block_is_clean_and_anything_that_can_commit_is_not() {
        assert!(clean(&[
            "-- a comment\nbegin",
            "select plan(1)",
            "savepoint a",
            "rollback to savepoint a",
            "select * from finish()",
            "rollback"
        ]));
        assert!(clean(&["set search_path = x", "BEGIN", "select 1"]));
        assert!(clean(&[
            "/* x /* nested */ */ START TRANSACTION",
            "select 1",
            "ABORT"
        ]));
        assert!(!clean(&["select plan(1)"]));
        assert!(!clean(&["begin", "select 1", "commit"]));
        assert!(!clean(&["begin", "select 1", "END"]));
        assert!(!clean(&["begin", "prepare transaction 'x'"]));
        assert!(!clean(&["commit prepared 'x'"]));
        assert!(!clean(&["begin", "rollback prepared 'x'"]));
        assert!(!clean(&["begin", "rollback", "insert into t values (1)"]));
        assert!(clean(&[
            "begin",
            "rollback and chain",
            "insert into t values (1)",
            "rollback"
        ]));
        assert!(!clean(&["begin", "rollback and no chain", "select 1"]));
        assert!(!clean(&["(select 1)"]));
    }
}
