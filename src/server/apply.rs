//! Applies a manifest to an empty database in one transaction.
//!
//! refinery-core drives the run: each script becomes a `Migration`, and its
//! `migrate` function interleaves the scripts with the inserts that record them in
//! the applied-scripts table, all inside the transaction we hand it. We implement its
//! `Transaction` trait on our own open transaction rather than on the client, for two
//! reasons: the whole build (extensions, scripts, grants, build record) must commit
//! or vanish together, and in grouped mode refinery's own error does not say which
//! script failed, while our implementation sees every statement and can report the
//! script path, line and SQLSTATE.

use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result, ScriptFailure};
use crate::server::statements::execute_each;
use crate::tree::manifest::{Manifest, Script};
use postgres::error::ErrorPosition;
use refinery_core::traits::sync::{Migrate, Transaction as RefineryTransaction, migrate};
use refinery_core::{Migration, Target};

/// Table that keeps refinery's record of applied scripts (named by our conventions).
pub const APPLIED_SCRIPTS_TABLE: &str = "ores_database_applied_scripts_tbl";

/// Our open transaction, seen by refinery as the thing it applies migrations through.
struct ScriptRunner<'t, 'c> {
    tx: &'t mut postgres::Transaction<'c>,
    scripts: &'t [&'t Script],
    failure: Option<ScriptFailure>,
}

impl RefineryTransaction for ScriptRunner<'_, '_> {
    type Error = postgres::Error;

    fn execute<'a, T: Iterator<Item = &'a str>>(
        &mut self,
        queries: T,
    ) -> std::result::Result<usize, Self::Error> {
        // refinery hands us script, record, script, record, ... in manifest order.
        let mut count = 0;
        for (i, query) in queries.enumerate() {
            let script = self.scripts[i / 2];
            if i % 2 == 0 {
                if let Err(e) = execute_each(self.tx, query) {
                    self.failure = Some(e.failure(&script.path));
                    return Err(e.error);
                }
            } else if let Err(e) = self.tx.batch_execute(query) {
                self.failure = Some(failure_in(APPLIED_SCRIPTS_TABLE, query, &e));
                return Err(e);
            }
            count += 1;
        }
        Ok(count)
    }
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
    if let Some(d) = db.detail() {
        extra.push(format!("detail: {d}"));
    }
    if let Some(h) = db.hint() {
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

/// Migration name refinery accepts: `V<n>__<path with non-word characters as _>`.
pub(crate) fn migration_name(index: usize, script: &Script) -> String {
    let word: String = script
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("V{}__{word}", index + 1)
}

/// How every build transaction starts: the extensions installed, the session acting
/// as `owner_role`, and the applied-scripts table in place. A superuser installs the
/// extensions itself; any other login (`extensions_as_owner`) can only install
/// trusted ones, as the database's owner, so it does so after taking the role.
pub(crate) fn build_prologue(
    extensions: &[String],
    owner_role: &str,
    extensions_as_owner: bool,
) -> String {
    let mut prologue = String::from("SET LOCAL synchronous_commit = off;\n");
    let create_extensions = extensions
        .iter()
        .map(|ext| {
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public;\n",
                quote_ident(ext)
            )
        })
        .collect::<String>();
    if !extensions_as_owner {
        prologue.push_str(&create_extensions);
    }
    // Everything the scripts create belongs to the owner role, exactly as if the DDL
    // user had run them; a superuser only installs extensions.
    prologue.push_str(&format!("SET LOCAL ROLE {};\n", quote_ident(owner_role)));
    if extensions_as_owner {
        prologue.push_str(&create_extensions);
    }
    prologue.push_str(
        &<postgres::Client as Migrate>::assert_migrations_table_query(APPLIED_SCRIPTS_TABLE),
    );
    prologue
}

/// Installs extensions, then applies `scripts` as `owner_role` and records each one,
/// inside the caller's transaction. Nothing is committed here.
pub(crate) fn apply_scripts(
    tx: &mut postgres::Transaction<'_>,
    scripts: &[&Script],
    owner_role: &str,
    extensions: &[String],
    extensions_as_owner: bool,
) -> Result<()> {
    let prologue = build_prologue(extensions, owner_role, extensions_as_owner);
    tx.batch_execute(&prologue)
        .context("preparing the database (extensions, owner role, applied-scripts table)")?;

    let migrations = scripts
        .iter()
        .enumerate()
        .map(|(i, s)| Migration::unapplied(&migration_name(i, s), &s.sql))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("manifest rejected by refinery: {e}")))?;

    let mut runner = ScriptRunner {
        tx,
        scripts,
        failure: None,
    };
    match migrate(
        &mut runner,
        migrations,
        Target::Latest,
        APPLIED_SCRIPTS_TABLE,
        true,
    ) {
        Ok(_) => Ok(()),
        Err(e) => Err(match runner.failure.take() {
            Some(f) => Error::Script(f),
            None => Error::Config(format!("applying scripts: {e}")),
        }),
    }
}

/// All scripts of a manifest, in order.
pub(crate) fn all_scripts(manifest: &Manifest) -> Vec<&Script> {
    manifest.scripts().iter().collect()
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
