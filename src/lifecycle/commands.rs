//! A tree's own SQL outside a build: the maintenance commands its `ores-sql.toml`
//! describes (`[commands]`, run by `compass db reset-system` / `reset-tenant`) and
//! its own version row (`[version] query`, shown by `compass db version`).
//!
//! That SQL is the tree's code, so it runs as the trees' scripts do in a build
//! (`build/login.rs`): in a session logged in as a login of the environment (the
//! DDL login, or the one `[commands] as` names), never the administrator's. A
//! superuser running a function the tree defines would hand the tree the
//! superuser's rights. The session is opened under the environment's lock, since
//! opening it may set the login a one-time password that a build running meanwhile
//! would otherwise be refused by.

use crate::build::login::{ddl_login, open_login_sessions};
use crate::build::single::entry::{Row, run_step};
use crate::config::Config;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::EnvLock;
use crate::server::admin::{connect_admin, database_exists};
use crate::tree::entry::engine_variables;
use crate::tree::manifest::Manifest;
use crate::tree::psql::{self, Action, PsqlError, Step};
use crate::tree::roles::role_name;
use postgres::SimpleQueryMessage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What one statement of a command returned: its columns and rows (every value as
/// text, as psql shows it), or only its command tag when it returns no rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResultSet {
    /// Column names; empty for a statement that returns no rows (`UPDATE ...`).
    pub columns: Vec<String>,
    /// The rows, each value as text (`None` for NULL).
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows the statement returned or changed, as the server counted them.
    pub affected: u64,
}

/// What a tree's command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CommandReport {
    /// The `[commands]` key that ran (`reset_system`, `reset_tenant`).
    pub command: String,
    /// The database it ran in.
    pub database: String,
    /// The login it ran as.
    pub run_as: String,
    /// What each statement returned, in order.
    pub results: Vec<ResultSet>,
}

/// Runs the tree's `[commands] <key>` in the configured database, in one
/// transaction, with the engine's psql variables and `extra` ones; a tree without
/// the key is refused naming it.
pub fn run_command(
    config: &Config,
    manifest: &Manifest,
    key: &str,
    extra: &[(&str, &str)],
) -> Result<CommandReport> {
    crate::runtime::off_runtime(|| {
        config.validate()?;
        let commands = &manifest.settings().commands;
        let sql = match key {
            "reset_system" => commands.reset_system.as_deref(),
            "reset_tenant" => commands.reset_tenant.as_deref(),
            _ => None,
        }
        .ok_or_else(|| missing_command(key))?;
        let (role, suffix) = command_login(config, manifest)?;
        let mut variables = engine_variables(manifest.settings(), &config.env, &config.database);
        for (name, value) in extra {
            variables.insert(name.to_string(), value.to_string());
        }
        let results = in_login_session(config, (&role, &suffix), |client| {
            let mut tx = client
                .transaction()
                .context(format!("opening the transaction of [commands] {key}"))?;
            let results = run_sql(&mut tx, &format!("[commands] {key}"), sql, variables)?;
            tx.commit()
                .context(format!("committing [commands] {key}"))?;
            Ok(results)
        })?;
        Ok(CommandReport {
            command: key.to_string(),
            database: config.database.clone(),
            run_as: role,
            results,
        })
    })
}

/// The tree's own version row (`[version] query`), as (column, value) pairs, read in
/// a read-only transaction of the DDL login; `None` when the tree names no query.
pub fn tree_version(config: &Config, manifest: &Manifest) -> Result<Option<Row>> {
    crate::runtime::off_runtime(|| {
        let Some(query) = manifest.settings().version_query.as_deref() else {
            return Ok(None);
        };
        config.validate()?;
        let (role, suffix) = ddl_login(manifest, &config.env).ok_or_else(|| {
            Error::Unsupported(
                "[version] query runs as the tree's DDL login, and its ores-sql.toml names no login user of group owner".into(),
            )
        })?;
        in_login_session(config, (&role, &suffix), |client| {
            let mut tx = client
                .build_transaction()
                .read_only(true)
                .start()
                .context("opening the read-only transaction of [version] query")?;
            let mut results = run_sql(
                &mut tx,
                "[version] query",
                query,
                engine_variables(manifest.settings(), &config.env, &config.database),
            )?;
            let Some(last) = results.pop().filter(|r| r.rows.len() == 1) else {
                return Err(Error::Unsupported(
                    "[version] query of the tree's ores-sql.toml must return exactly one row; fix the query (e.g. `select ... from <table> limit 1`)".into(),
                ));
            };
            tx.rollback().context("ending [version] query")?;
            Ok(Some(
                last.columns
                    .into_iter()
                    .zip(last.rows.into_iter().next().unwrap_or_default())
                    .collect(),
            ))
        })
    })
}

fn missing_command(key: &str) -> Error {
    let example = match key {
        "reset_tenant" => "reset_tenant = \"select my_reset_tenant_fn(:'tenant_code');\"",
        _ => "reset_system = \"select my_reset_system_fn();\"",
    };
    Error::Unsupported(format!(
        "the tree's ores-sql.toml says nothing about `{key}`: add it under [commands] (e.g. `{example}`; README, \"Commands a tree describes\")"
    ))
}

/// The login `[commands]` run as: `as` when the tree names one, else its DDL login.
fn command_login(config: &Config, manifest: &Manifest) -> Result<(String, String)> {
    match &manifest.settings().commands.run_as {
        Some(stem) => {
            let suffix = format!("{stem}_user");
            Ok((role_name(&config.env, &suffix), suffix))
        }
        None => ddl_login(manifest, &config.env).ok_or_else(|| {
            Error::Unsupported(
                "[commands] run as the tree's DDL login, and its ores-sql.toml names no login user of group owner: add one, or name a login user with `as = \"<stem>\"` under [commands]".into(),
            )
        }),
    }
}

/// Opens one session on the configured database as `login` (role, suffix), under the
/// environment's lock, and hands it to `f`.
fn in_login_session<T>(
    config: &Config,
    login: (&str, &str),
    f: impl FnOnce(&mut postgres::Client) -> Result<T>,
) -> Result<T> {
    let mut lock = EnvLock::acquire(connect_admin(config)?, config)?;
    crate::lifecycle::target::check(lock.client(), config)?;
    if !database_exists(lock.client(), &config.database)? {
        return Err(Error::NoSuchDatabase(config.database.clone()));
    }
    let mut sessions =
        open_login_sessions(lock.client(), config, login, &config.database, 1, false)?;
    f(&mut sessions[0])
}

/// Expands `sql` (the psql subset, `path` naming it in errors) and runs each step in
/// `tx`, returning what every statement returned.
fn run_sql(
    tx: &mut postgres::Transaction<'_>,
    path: &str,
    sql: &str,
    variables: BTreeMap<String, String>,
) -> Result<Vec<ResultSet>> {
    let text = sql.to_string();
    let read = |rel: &Path| {
        if rel == Path::new(path) {
            Ok(text.clone())
        } else {
            Err("a command's SQL cannot include files".to_string())
        }
    };
    // Nothing is read through a backtick here: a command is not a build.
    let lookup = |_: &str| None;
    let mut results = Vec::new();
    let mut failure: Option<Error> = None;
    let mut sink = |step: &Step| {
        let outcome = match &step.action {
            Action::Sql(sql) => statement_results(tx, path, step, sql).map(|mut r| {
                results.append(&mut r);
                None
            }),
            _ => run_step(tx, step, path, &[]),
        };
        outcome.map_err(|e| {
            failure = Some(e);
            PsqlError {
                path: step.path.clone(),
                line: step.line,
                message: "step failed".into(),
            }
        })
    };
    let expanded = psql::expand_with(&read, &[path], variables, &lookup, Some(&mut sink));
    match (expanded, failure) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(Error::Psql(e)),
        (Ok(_), None) => Ok(results),
    }
}

/// Runs one step's SQL and collects what each of its statements returned.
fn statement_results(
    tx: &mut postgres::Transaction<'_>,
    path: &str,
    step: &Step,
    sql: &str,
) -> Result<Vec<ResultSet>> {
    let messages = tx.simple_query(sql).map_err(|e| {
        let mut f = crate::build::single::numeric::failure_in(path, sql, &e);
        f.line = Some(f.line.map_or(step.line, |l| step.line + l - 1));
        Error::Script(f)
    })?;
    let mut out = Vec::new();
    let mut current: Option<ResultSet> = None;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(columns) => {
                current = Some(ResultSet {
                    columns: columns.iter().map(|c| c.name().to_string()).collect(),
                    rows: Vec::new(),
                    affected: 0,
                });
            }
            SimpleQueryMessage::Row(row) => {
                if let Some(set) = current.as_mut() {
                    set.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
            }
            SimpleQueryMessage::CommandComplete(n) => {
                let mut set = current.take().unwrap_or(ResultSet {
                    columns: Vec::new(),
                    rows: Vec::new(),
                    affected: 0,
                });
                set.affected = n;
                out.push(set);
            }
            _ => {}
        }
    }
    Ok(out)
}
