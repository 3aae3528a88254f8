//! Rule S009: a tree never controls the transaction it runs in.
//!
//! A build is one transaction (or, on several connections, one per script, committed
//! by the builder): a `COMMIT` in a script would end it, and what follows would run
//! outside it, in autocommit and as the session's login (the administrator), where a
//! failure can no longer be rolled back. Only a statement's first words count, so a
//! `BEGIN ... END` in a function body (a literal, or `BEGIN ATOMIC`, which the
//! splitter keeps inside its statement) or the `END` of a `CASE` never trips it.

use super::lexer::{Splitter, Statement, Tok, lex};

/// How many leading tokens of a statement [`control`] can look at.
const HEAD: usize = 4;

/// The statements of `sql` that control a transaction: (1-based line, what it is).
pub fn transaction_control(sql: &str) -> Vec<(usize, String)> {
    let mut scan = ControlScan::default();
    for (t, line) in lex(sql) {
        scan.feed(&t, line);
    }
    scan.finish()
}

/// [`transaction_control`] fed token by token: the psql interpreter hands it the
/// tokens it has already lexed, so megabytes of inserts are lexed once. Only each
/// statement's first tokens are kept.
#[derive(Default)]
pub(crate) struct ControlScan {
    split: Splitter,
    head: Vec<Tok>,
    line: usize,
    len: usize,
    found: Vec<(usize, String)>,
}

impl ControlScan {
    /// The words [`ControlScan::feed`] looks at (the splitter's, and those of a
    /// statement that controls a transaction); any other may reach it empty.
    pub(crate) fn needs(w: &str) -> bool {
        Splitter::needs(w)
            || matches!(
                w,
                "begin"
                    | "commit"
                    | "rollback"
                    | "end"
                    | "abort"
                    | "savepoint"
                    | "release"
                    | "start"
                    | "prepare"
                    | "set"
                    | "transaction"
                    | "local"
                    | "session"
                    | "characteristics"
            )
    }

    /// The next token of the text and its line.
    pub(crate) fn feed(&mut self, t: &Tok, line: usize) {
        if self.split.ends(t) {
            self.end();
            return;
        }
        if self.len == 0 {
            self.line = line;
        }
        if self.len < HEAD {
            self.head.push(t.clone());
        }
        self.len += 1;
    }

    fn end(&mut self) {
        if self.len > 0 {
            let st = Statement {
                toks: std::mem::take(&mut self.head),
                line: self.line,
            };
            if let Some(what) = control(&st) {
                self.found.push((st.line, what));
            }
        }
        self.head.clear();
        self.len = 0;
    }

    /// What was found, once the text is over.
    pub(crate) fn finish(mut self) -> Vec<(usize, String)> {
        self.end();
        self.found
    }
}

/// What is wrong with a statement [`transaction_control`] found (without the rule id,
/// which each report places its own way).
pub fn transaction_control_message(what: &str) -> String {
    format!(
        "`{what}` controls the transaction: the build runs the whole tree in one \
         transaction (or one per script, committed by the builder); remove the statement"
    )
}

fn control(st: &Statement) -> Option<String> {
    let first = st.word(0)?;
    let two = |second: &str| st.word(1) == Some(second);
    let named = match first {
        "begin" | "commit" | "rollback" | "end" | "abort" | "savepoint" | "release" => first,
        "start" if two("transaction") => "start transaction",
        "prepare" if two("transaction") => "prepare transaction",
        "set" if setting_transaction(st) => "set transaction",
        _ => return None,
    };
    Some(named.to_uppercase())
}

/// `SET [LOCAL | SESSION] TRANSACTION ...` and `SET [LOCAL | SESSION] SESSION
/// CHARACTERISTICS AS TRANSACTION ...`: the one changes the transaction the build
/// is, the other every later one on the connection.
fn setting_transaction(st: &Statement) -> bool {
    let at = |i: usize| {
        st.word(i) == Some("transaction") || st.expect(i, &["session", "characteristics"]).is_some()
    };
    at(1) || (matches!(st.word(1), Some("local" | "session")) && at(2))
}
