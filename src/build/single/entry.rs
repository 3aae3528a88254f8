//! Applies an entry-mode tree (psql entry scripts, see `crate::tree::entry`) inside the
//! build transaction of a DDL login's session (`build/login.rs`).
//!
//! The tree is expanded again here, from its compiled-in text, with the environment's
//! real variables, and each step runs the moment the expander reaches it, so a
//! `\gset` sets its variables before the statements after it are expanded. A failure
//! names the file and line the failing statement came from (an included file's own
//! line, not the entry script's).
//!
//! Ownership: the scripts run as the environment's DDL login, so `current_user` is
//! what it would be under psql run by that user; the build's end reassigns
//! everything that login came to own in the new database to the owner group
//! (`build/phases.rs`, `finish`), so the end state is the same as for a tree
//! applied as the owner group.

use crate::build::copy_rows::execute_each_copying;
use crate::build::hidden;
use crate::build::incremental::GsetRows;
use crate::build::single::numeric::failure_in;
use crate::build::statements::execute_each_with;
use crate::config::Config;
use crate::error::{Error, Result, ScriptFailure};
use crate::tree::entry::engine_variables;
use crate::tree::manifest::Manifest;
use crate::tree::psql::{self, Action, PsqlError, Step};
use postgres::SimpleQueryMessage;
use std::cell::RefCell;
use std::io::Write;
use std::path::Path;

/// What a backtick ``echo "$NAME"`` reads, for a name the interpreter lets a tree
/// read (`tree::psql::readable_by_tree`): the password of the environment's login
/// role for `ORES_DB_<SUFFIX>_PASSWORD`, from the configuration, else the process
/// environment.
pub(crate) fn lookup_in(config: &Config, name: &str) -> Option<String> {
    if let Some(suffix) = name
        .strip_prefix("ORES_DB_")
        .and_then(|n| n.strip_suffix("_PASSWORD"))
    {
        return config
            .password_for(&suffix.to_ascii_lowercase())
            .map(|secret| secret.expose().to_string());
    }
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Expands the tree and runs each step as it comes.
pub(crate) fn run_steps(
    tx: &mut postgres::Transaction<'_>,
    manifest: &Manifest,
    config: &Config,
    gsets: Option<&GsetRows>,
    copy_rows: bool,
) -> Result<()> {
    let label = manifest.label().to_string();
    expand_tree(
        manifest,
        config,
        &mut |step, secrets| {
            let path = format!("{label}/{}", step.path);
            run_seeding(tx, step, &path, secrets, copy_rows)
        },
        gsets,
    )
}

/// Expands the tree with the environment's variables, handing each step (with the
/// values read through backticks so far, which nothing may show) to `run` as psql
/// would run it; a `\gset` step's row comes back from `run`, and is kept in `gsets`
/// when given (the build's outline is the stream as it ran). The first error `run`
/// returns stops the expansion and is returned.
pub(crate) fn expand_tree(
    manifest: &Manifest,
    config: &Config,
    run: StepRunner<'_>,
    gsets: Option<&GsetRows>,
) -> Result<()> {
    let label = manifest.label().to_string();
    let variables = engine_variables(manifest.settings(), &config.env, &config.database);
    // Values read through a backtick are passwords: an echo never shows them.
    let secrets: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let lookup = |name: &str| {
        let value = lookup_in(config, name);
        if let Some(v) = &value {
            secrets.borrow_mut().push(v.clone());
        }
        value
    };
    let read = |rel: &Path| {
        let key = rel.to_string_lossy().replace('\\', "/");
        manifest.tree_file(&key).map(str::to_string).ok_or_else(|| {
            "not part of the compiled manifest (reached only with this environment's variables)"
                .to_string()
        })
    };
    let mut failure: Option<Error> = None;
    let mut sink = |step: &Step| {
        let result = run(step, &secrets.borrow());
        if let (Ok(Some(row)), Some(kept)) = (&result, gsets) {
            kept.record(row);
        }
        result.map_err(|e| {
            failure = Some(e);
            PsqlError {
                path: step.path.clone(),
                line: step.line,
                message: "step failed".into(),
            }
        })
    };
    let entries: Vec<&str> = manifest
        .settings()
        .entry
        .iter()
        .map(String::as_str)
        .collect();
    let expanded = psql::expand_with(&read, &entries, variables, &lookup, Some(&mut sink));
    outcome(expanded, failure, &label)
}

/// An expansion's outcome: the first failure of a step it ran comes first (the
/// expander only stops because of it), else the expander's own error, named by the
/// tree's `label` and the file.
pub(crate) fn outcome(
    expanded: std::result::Result<psql::Expansion, PsqlError>,
    failure: Option<Error>,
    label: &str,
) -> Result<()> {
    match (expanded, failure) {
        (_, Some(e)) => Err(e),
        (Err(mut e), None) => {
            e.path = format!("{label}/{}", e.path);
            Err(Error::Psql(e))
        }
        (Ok(_), None) => Ok(()),
    }
}

/// Values psql's `\gset` sets: the columns of the query's one row.
pub(crate) type Row = Vec<(String, Option<String>)>;

/// What runs each expanded step: the step and the values read through backticks so
/// far; a `\gset` step's row comes back.
pub(crate) type StepRunner<'r> = &'r mut dyn FnMut(&Step, &[String]) -> Result<Option<Row>>;

pub(crate) fn run_step(
    tx: &mut postgres::Transaction<'_>,
    step: &Step,
    path: &str,
    secrets: &[String],
) -> Result<Option<Row>> {
    run_seeding(tx, step, path, secrets, false)
}

/// [`run_step`] for a build, which with `copy_rows` sends a seed's multi-row inserts
/// of constants as `COPY` where that stores the same rows (`build/copy_rows.rs`).
pub(crate) fn run_seeding(
    tx: &mut postgres::Transaction<'_>,
    step: &Step,
    path: &str,
    secrets: &[String],
    copy_rows: bool,
) -> Result<Option<Row>> {
    let redact = |text: &str| hidden::redact(text, secrets);
    // The server quotes values back (invalid input, the statement an EXECUTE ran): a
    // password read through a backtick is taken out of the report.
    let report = |mut f: ScriptFailure| {
        f.line = Some(f.line.map_or(step.line, |l| step.line + l - 1));
        f.message = redact(&f.message);
        f.detail = f.detail.as_deref().map(redact);
        Error::Script(f)
    };
    let at_line = |sql: &str, e: &postgres::Error| report(failure_in(path, sql, e));
    match &step.action {
        // A value read through a backtick is only ever sent by `hidden`.
        Action::Sql(sql) if copy_rows && !hidden::holds(sql, secrets) => {
            let copied = execute_each_copying(tx, sql, |tx, s| tx.batch_execute(s))
                .map_err(|e| report(e.failure(path)))?;
            if copied > 0 {
                log::debug!("{path}:{}: {copied} inserts sent as COPY", step.line);
            }
            Ok(None)
        }
        Action::Sql(sql) => {
            execute_each_with(sql, |s| {
                if hidden::holds(s, secrets) {
                    hidden::execute(tx, s, secrets)
                } else {
                    tx.batch_execute(s)
                }
            })
            .map_err(|e| report(e.failure(path)))?;
            Ok(None)
        }
        Action::Copy {
            statement, data, ..
        } => {
            let mut writer = tx
                .copy_in(statement.as_str())
                .map_err(|e| at_line(statement, &e))?;
            writer.write_all(data.as_bytes()).map_err(|e| Error::Io {
                context: format!("{path}:{}: sending \\copy data", step.line),
                source: e,
            })?;
            writer.finish().map_err(|e| at_line(statement, &e))?;
            Ok(None)
        }
        Action::Echo(text) => {
            log::info!("{path}:{}: {}", step.line, redact(text));
            Ok(None)
        }
        Action::Gset { query, .. } => {
            let messages = if hidden::holds(query, secrets) {
                hidden::query(tx, query, secrets)
            } else {
                tx.simple_query(query)
            }
            .map_err(|e| at_line(query, &e))?;
            // The rows of the last statement, as psql's \gset sees them.
            let mut rows = Vec::new();
            for m in messages {
                match m {
                    SimpleQueryMessage::RowDescription(_) => rows.clear(),
                    SimpleQueryMessage::Row(r) => rows.push(r),
                    _ => {}
                }
            }
            let [row] = rows.as_slice() else {
                let problem = if rows.is_empty() {
                    "no rows returned for \\gset"
                } else {
                    "more than one row returned for \\gset"
                };
                return Err(Error::Psql(PsqlError {
                    path: path.to_string(),
                    line: step.line,
                    message: problem.into(),
                }));
            };
            let values = row
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name().to_string(), row.get(i).map(str::to_string)))
                .collect();
            Ok(Some(values))
        }
    }
}
