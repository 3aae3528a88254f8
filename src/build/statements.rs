//! Sends a script one statement at a time, so a failure names its own line.
//!
//! Sent whole, a script is one simple query, and an error raised while a statement
//! runs (a unique violation, a division by zero) carries no position: the report
//! could name only where the script, or the chunk of an entry script, begins. The
//! driver keeps nothing of the statements that completed before the error, so the
//! failing one cannot be found afterwards, and running it again (say, in a
//! savepoint) could behave differently. psql sends each statement by itself; so do
//! we, split the way psql splits them (`tree::lint::lexer::statement_spans`), inside
//! the same transaction, so nothing but the number of round trips changes.

use crate::build::single::numeric::failure_in;
use crate::error::ScriptFailure;
use crate::tree::lint::lexer::statement_spans;

/// A statement that failed: the driver's error, the statement as sent, and the line
/// of the script it starts on.
pub(crate) struct StatementError {
    pub(crate) error: postgres::Error,
    statement: String,
    line: usize,
}

impl StatementError {
    pub(crate) fn new(error: postgres::Error, statement: &str, line: usize) -> StatementError {
        StatementError {
            error,
            statement: statement.to_string(),
            line,
        }
    }

    /// The report naming `path` and the failing statement's line in the script: the
    /// line of the server's position when it gave one, else the statement's first.
    pub(crate) fn failure(&self, path: &str) -> ScriptFailure {
        let mut f = failure_in(path, &self.statement, &self.error);
        f.line = Some(self.line + f.line.map_or(0, |l| l - 1));
        f
    }
}

/// Runs each statement of `sql` in order on `tx`, stopping at the first failure.
pub(crate) fn execute_each(
    tx: &mut postgres::Transaction<'_>,
    sql: &str,
) -> Result<(), StatementError> {
    execute_each_with(sql, |statement| tx.batch_execute(statement))
}

/// [`execute_each`] through `run`, for a caller that sends some statements its own
/// way (hidden, when they hold a secret).
pub(crate) fn execute_each_with(
    sql: &str,
    mut run: impl FnMut(&str) -> Result<(), postgres::Error>,
) -> Result<(), StatementError> {
    for span in statement_spans(sql) {
        let statement = &sql[span.range];
        if let Err(error) = run(statement) {
            return Err(StatementError {
                error,
                statement: statement.to_string(),
                line: span.line,
            });
        }
    }
    Ok(())
}
