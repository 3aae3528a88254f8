//! Applies the scripts of a numeric-prefix tree, in manifest order, inside the
//! caller's build transaction, one statement at a time (`build/statements.rs`), a
//! failure naming the script's path, the failing statement's line and the SQLSTATE.

use crate::build::statements::execute_each;
use crate::error::{Error, Result, ScriptFailure};
use crate::tree::manifest::Script;
use postgres::error::ErrorPosition;

/// Applies `scripts` in order inside the caller's transaction. Nothing is committed
/// here.
pub(crate) fn apply_scripts(tx: &mut postgres::Transaction<'_>, scripts: &[Script]) -> Result<()> {
    for script in scripts {
        execute_each(tx, &script.sql).map_err(|e| Error::Script(e.failure(&script.path)))?;
    }
    Ok(())
}

/// Turns a driver error raised by `sql` into a report naming `path` and the line.
pub(crate) fn failure_in(path: &str, sql: &str, e: &postgres::Error) -> ScriptFailure {
    let Some(db) = e.as_db_error() else {
        return ScriptFailure {
            path: path.to_string(),
            line: None,
            sqlstate: "08000".into(),
            message: e.to_string(),
            detail: None,
        };
    };
    let line = match db.position() {
        Some(ErrorPosition::Original(pos)) => Some(line_of(sql, *pos as usize)),
        _ => None,
    };
    let mut extra = Vec::new();
    // A re-raised error (`build/hidden.rs`) carries empty ones.
    if let Some(d) = db.detail().filter(|d| !d.is_empty()) {
        extra.push(format!("detail: {d}"));
    }
    if let Some(h) = db.hint().filter(|h| !h.is_empty()) {
        extra.push(format!("hint: {h}"));
    }
    if let Some(w) = db.where_() {
        extra.push(format!("context: {}", w.replace('\n', " / ")));
    }
    ScriptFailure {
        path: path.to_string(),
        line,
        sqlstate: db.code().code().to_string(),
        message: db.message().to_string(),
        detail: (!extra.is_empty()).then(|| extra.join("; ")),
    }
}

/// 1-based line holding the 1-based character position `pos`.
fn line_of(sql: &str, pos: usize) -> usize {
    sql.chars()
        .take(pos.saturating_sub(1))
        .filter(|c| *c == '\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn positions_map_to_lines() {
        let sql = "select 1;\nselect 2;\nselec 3;";
        assert_eq!(line_of(sql, 1), 1);
        assert_eq!(line_of(sql, 11), 2);
        assert_eq!(line_of(sql, 21), 3);
    }
}
