//! The session settings psql would carry from one file into the next.
//!
//! psql runs a tree in one session (and the one-transaction build in one transaction),
//! so a `SET search_path` or a `set_config` in one file still holds in every file
//! after it. A parallel build runs
//! each file's statements in a transaction of its own on whichever connection is
//! free, and clears the session after each, so it must hand that state on itself:
//! [`SessionState`] follows the stream in psql's order and gives each unit the
//! statements that recreate the settings in force where the unit starts.
//!
//! Only statements that change the settings when they run are followed: `SET`
//! (`SET LOCAL` too, which a one-transaction build keeps to its end; not `SET
//! TRANSACTION` or `SET CONSTRAINTS`), `RESET`, and a `SELECT` that is one
//! `set_config(..)` call. A function body that sets something acts when it is called,
//! which the text cannot tell; any other statement that calls `set_config` directly
//! is refused, since replaying it would repeat whatever else it does.

use crate::error::{Error, Result};
use crate::tree::lint::lexer::{Tok, lex_spans};
use crate::tree::manifest::Script;

/// What one statement does to the session.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    /// Sets a setting (lower case); the statement replays it.
    Set(String),
    Reset(String),
    ResetAll,
    /// Changes the session in a way that cannot be replayed on its own.
    Opaque,
}

/// The settings in force at a point of the stream, as the statements that made them,
/// in the order they were last set.
#[derive(Debug, Default)]
pub(crate) struct SessionState {
    set: Vec<(String, String)>,
}

/// A statement that changes the session in a form that cannot be carried over.
#[derive(Debug)]
pub(crate) struct Opaque;

/// What every refusal of [`cannot_hand_on`] says, so the builder can tell it apart.
const HAZARD: &str = "which psql would carry into the files after it and a parallel build cannot";

/// The refusal of such a statement at `path`:`line`.
pub(crate) fn cannot_hand_on(path: &str, line: usize) -> Error {
    Error::Unsupported(format!(
        "{path}:{line}: this statement changes the session (a set_config together \
         with other work), {HAZARD}; give the set_config a SELECT of its own, or build on \
         one connection"
    ))
}

/// Whether `e` is [`cannot_hand_on`]'s refusal.
pub(crate) fn is_hazard(e: &Error) -> bool {
    matches!(e, Error::Unsupported(m) if m.contains(HAZARD))
}

/// For each script of a numeric-layout manifest, the statements that recreate the
/// settings the scripts before it left (one session runs them all in a one-transaction
/// build, as `psql -1` would).
pub(crate) fn preludes(scripts: &[Script]) -> Result<Vec<String>> {
    let mut session = SessionState::default();
    scripts
        .iter()
        .map(|s| {
            let before = session.replay();
            session
                .follow_all(&s.sql)
                .map_err(|(_, line)| cannot_hand_on(&s.path, line))?;
            Ok(before)
        })
        .collect()
}

impl SessionState {
    /// Follows every statement of `sql` (a piece of the stream); a refusal gives the
    /// 1-based line in `sql` of the statement it is about.
    pub(crate) fn follow_all(&mut self, sql: &str) -> std::result::Result<(), (Opaque, usize)> {
        let (mut start, mut first_line) = (0, None);
        let mut ends: Vec<(usize, usize, usize)> = Vec::new();
        for (tok, line, at) in lex_spans(sql) {
            if tok == Tok::Semi {
                ends.push((start, at, first_line.unwrap_or(line)));
                start = at + 1;
                first_line = None;
            } else if first_line.is_none() {
                first_line = Some(line);
            }
        }
        if let Some(line) = first_line {
            ends.push((start, sql.len(), line));
        }
        for (from, to, line) in ends {
            self.follow(&sql[from..to]).map_err(|o| (o, line))?;
        }
        Ok(())
    }

    /// Follows one statement of the stream (one statement, already split: the
    /// incremental build's outline has them so, and lexing megabytes of inserts again
    /// only to split them is what [`SessionState::follow_all`] would do).
    pub(crate) fn follow(&mut self, sql: &str) -> std::result::Result<(), Opaque> {
        match change_of(sql) {
            None => {}
            Some(Change::Set(name)) => {
                self.set.retain(|(n, _)| *n != name);
                self.set.push((name, statement(sql)));
            }
            Some(Change::Reset(name)) => self.set.retain(|(n, _)| *n != name),
            Some(Change::ResetAll) => self.set.clear(),
            Some(Change::Opaque) => return Err(Opaque),
        }
        Ok(())
    }

    /// The statements that recreate the current settings (empty when there are none).
    pub(crate) fn replay(&self) -> String {
        self.set
            .iter()
            .map(|(_, sql)| format!("{sql};\n"))
            .collect()
    }
}

/// The statement without comments around it or its final semicolon.
fn statement(sql: &str) -> String {
    strip_leading_comments(sql)
        .trim_end()
        .trim_end_matches(';')
        .trim_end()
        .to_string()
}

fn strip_leading_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return sql;
        }
    }
}

/// Words of the statement's head, lower case, up to the first non-word character
/// (so `search_path=x` and `search_path = x` both give `search_path`).
fn head_words(sql: &str, n: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = sql;
    while words.len() < n {
        rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '"'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        words.push(rest[..end].trim_matches('"').to_lowercase());
        rest = &rest[end..];
    }
    words
}

fn change_of(sql: &str) -> Option<Change> {
    let sql = strip_leading_comments(sql);
    let words = head_words(sql, 4);
    let word = |i: usize| words.get(i).map(String::as_str);
    match word(0)? {
        "set" => {
            // `SET LOCAL` counts too: a one-transaction build keeps it to the end,
            // and replayed in the unit's transaction it holds there just the same.
            let at = match (word(1)?, word(2)) {
                ("local", _) => 2,
                ("session", Some("authorization" | "characteristics")) => 1,
                ("session", _) => 2,
                _ => 1,
            };
            let name = match (word(at)?, word(at + 1)) {
                // Only valid first in a transaction, or naming constraints one by
                // one: neither is a setting to hand on.
                ("transaction" | "constraints", _) => return None,
                ("session", Some("authorization")) => "session_authorization",
                ("session", Some("characteristics")) => "transaction_characteristics",
                ("time", Some("zone")) => "timezone",
                ("schema", _) => "search_path",
                ("names", _) => "client_encoding",
                ("xml", Some("option")) => "xmloption",
                (name, _) => name,
            };
            Some(Change::Set(name.to_string()))
        }
        "reset" => Some(match (word(1)?, word(2)) {
            ("all", _) => Change::ResetAll,
            ("session", Some("authorization")) => Change::Reset("session_authorization".into()),
            ("time", Some("zone")) => Change::Reset("timezone".into()),
            (name, _) => Change::Reset(name.to_string()),
        }),
        "select" | "do" | "call" | "with" | "values" => set_config_of(sql),
        _ => None,
    }
}

/// A statement that runs `set_config` now: one clean call (an alias allowed) is
/// replayable, anything else is not. A transaction-local one (`true`) counts as well,
/// as `SET LOCAL` does.
fn set_config_of(sql: &str) -> Option<Change> {
    let body = statement(sql);
    let lower = body.to_lowercase();
    // The function itself, not a name that ends or starts with its name.
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let at = lower
        .match_indices("set_config")
        .map(|(i, _)| i)
        .find(|&i| {
            !lower[..i].chars().next_back().is_some_and(ident)
                && !lower[i + "set_config".len()..]
                    .chars()
                    .next()
                    .is_some_and(ident)
        })?;
    let (args, rest) = call_args(&lower[at + "set_config".len()..])?;
    let head = lower[..at].trim_end();
    let head_clean = head == "select" || head == "select pg_catalog.";
    let rest = rest.trim();
    let alias_only = rest
        .strip_prefix("as ")
        .unwrap_or(rest)
        .trim()
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_');
    if !(head_clean && alias_only) {
        return Some(Change::Opaque);
    }
    let name = split_top_level(args)
        .first()?
        .trim()
        .strip_prefix('\'')?
        .split_once('\'')?
        .0
        .to_string();
    Some(Change::Set(name))
}

/// The text inside the parentheses that open `s` (after spaces), and what follows
/// the matching close; quotes are skipped over.
fn call_args(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start().strip_prefix('(')?;
    let (mut depth, mut quoted) = (0usize, false);
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth == 0 => return Some((&s[..i], &s[i + 1..])),
            ')' if !quoted => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `args` split at its top-level commas.
fn split_top_level(args: &str) -> Vec<&str> {
    let (mut out, mut start, mut depth, mut quoted) = (Vec::new(), 0, 0usize, false);
    for (i, c) in args.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                out.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&args[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_of(statements: &[&str]) -> String {
        let mut s = SessionState::default();
        for sql in statements {
            s.follow_all(sql).expect("replayable");
        }
        s.replay()
    }

    #[test]
    fn session_settings_are_followed_and_transaction_ones_are_not() {
        assert_eq!(
            replay_of(&[
                "-- the schema\nSET search_path = app, public;",
                "SET LOCAL work_mem = '64MB'",
                "set transaction isolation level serializable",
                "SET CONSTRAINTS ALL DEFERRED",
                "SELECT set_config('ores.tenant_id', 'abc', false);",
                "SELECT set_config('ores.service', 'x', true)",
                "SET LOCAL TIME ZONE 'UTC'",
                "SET SESSION datestyle TO 'SQL, DMY'",
            ]),
            "SET search_path = app, public;\n\
             SET LOCAL work_mem = '64MB';\n\
             SELECT set_config('ores.tenant_id', 'abc', false);\n\
             SELECT set_config('ores.service', 'x', true);\n\
             SET LOCAL TIME ZONE 'UTC';\n\
             SET SESSION datestyle TO 'SQL, DMY';\n"
        );
    }

    #[test]
    fn the_last_setting_wins_and_reset_removes_it() {
        assert_eq!(
            replay_of(&[
                "SET search_path = a",
                "SET datestyle = 'German'",
                "SET search_path=b",
                "RESET datestyle",
            ]),
            "SET search_path=b;\n"
        );
        assert_eq!(replay_of(&["SET search_path = a", "RESET ALL"]), "");
        assert_eq!(
            replay_of(&[
                "SET ROLE someone",
                "SET SESSION AUTHORIZATION other",
                "SET LOCAL SESSION AUTHORIZATION other",
                "SET TIME ZONE 'UTC'",
                "RESET TIME ZONE",
            ]),
            "SET ROLE someone;\nSET LOCAL SESSION AUTHORIZATION other;\n"
        );
        assert_eq!(replay_of(&["SET ROLE someone", "RESET ROLE"]), "");
    }

    #[test]
    fn a_piece_of_several_statements_is_followed_statement_by_statement() {
        assert_eq!(
            replay_of(&[
                "create function f() returns text language sql as $$ select 'a;b' $$;\n\
                 comment on function f() is 'x; y';\nset search_path = a;\nselect 1"
            ]),
            "set search_path = a;\n"
        );
        let mut s = SessionState::default();
        let (_, line) = s
            .follow_all("select 1;\n\n-- why\nselect set_config('a', 'b', false), 2;")
            .unwrap_err();
        assert_eq!(line, 4);
    }

    #[test]
    fn definitions_that_set_something_when_called_change_nothing_now() {
        assert_eq!(
            replay_of(&[
                "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT set_config('a', 'b', false) $$",
                "INSERT INTO t VALUES (1)",
                "SELECT my_set_config('a'), set_config_log(2)",
                "SELECT count(*) FROM t",
            ]),
            ""
        );
    }

    #[test]
    fn a_set_config_mixed_with_other_work_is_refused() {
        let mut s = SessionState::default();
        for sql in [
            "SELECT set_config('a', 'b', false), nextval('s')",
            "DO $$ BEGIN PERFORM set_config('a', 'b', false); END $$",
            "SELECT set_config('a', 'b', false) FROM t",
            "SELECT set_config('a', 'b', true) FROM t",
        ] {
            assert!(s.follow_all(sql).is_err(), "{sql}");
        }
        assert_eq!(
            replay_of(&[
                "select pg_catalog.set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false) as t"
            ]),
            "select pg_catalog.set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false) as t;\n"
        );
    }
}
