//! Rule S009: a tree never controls the transaction it runs in.
//!
//! A build is one transaction (or, on several connections, one per script, committed
//! by the builder): a `COMMIT` in a script would end it, and what follows would run
//! outside it, in autocommit and as the session's login (the administrator), where a
//! failure can no longer be rolled back. Only a statement's first words count, so a
//! `BEGIN ... END` in a function body (a literal, or `BEGIN ATOMIC`, which the
//! splitter keeps inside its statement) or the `END` of a `CASE` never trips it.

use super::lexer::{Statement, lex, statements};

/// The statements of `sql` that control a transaction: (1-based line, what it is).
pub fn transaction_control(sql: &str) -> Vec<(usize, String)> {
    statements(lex(sql))
        .iter()
        .filter_map(|st| control(st).map(|what| (st.line, what)))
        .collect()
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
