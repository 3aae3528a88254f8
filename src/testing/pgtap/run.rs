//! Running files: the setup on the test template, then every test file on its own
//! copy, with psql's semantics (the tree's psql subset: `\set`, `\ir`, `\if`;
//! `ON_ERROR_STOP` always on; each statement sent by itself, in autocommit unless the
//! file opens a transaction) and psql's `-tA` output (a row's columns joined by `|`,
//! a value's lines each a line of output), which is what `pg_prove` reads.

use super::{FileReport, KeptCopy, PgTapOptions, PgTapSuite, Tap, Verdict, next_name};
use crate::build::login::open_sessions;
use crate::build::single::numeric::failure_in;
use crate::config::Config;
use crate::error::{Error, Result, ScriptFailure};
use crate::server::admin::connect_within;
use crate::tree::entry::engine_variables;
use crate::tree::lint::lexer::statement_spans;
use crate::tree::psql::{self, Action, PsqlError, Step};
use postgres::{Client, SimpleQueryMessage};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs the `[tests] setup` scripts on the test template as the DDL login.
pub(super) fn setup(suite: &PgTapSuite, admin: &mut Client, config: &Config) -> Result<()> {
    let settings = suite.settings();
    if settings.setup.is_empty() {
        return Ok(());
    }
    let manifest = suite.tree.manifest();
    let mut session = open_sessions(admin, config, manifest, &suite.template, 1, true)?
        .pop()
        .expect("one session asked for");
    for script in &settings.setup {
        let rel = format!("{}/{script}", settings.dir);
        let mut out = Vec::new();
        run_script(suite, &mut session, &rel, &config.database, &mut out)?;
    }
    Ok(())
}

/// Expands `rel` and runs each step on `client`, appending its output lines to `out`.
/// The first failure stops it (psql's `ON_ERROR_STOP`).
fn run_script(
    suite: &PgTapSuite,
    client: &mut Client,
    rel: &str,
    database: &str,
    out: &mut Vec<String>,
) -> Result<()> {
    let label = suite.tree.manifest().label();
    let variables = engine_variables(
        suite.tree.manifest().settings(),
        &suite.key.label(),
        database,
    );
    let read = |p: &Path| suite.files.read(p);
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut failure: Option<Error> = None;
    let mut sink = |step: &Step| {
        let path = format!("{label}/{}", step.path);
        run_step(client, step, &path, out).map_err(|e| {
            failure = Some(e);
            PsqlError {
                path: step.path.clone(),
                line: step.line,
                message: "step failed".into(),
            }
        })
    };
    let expanded = psql::expand_session(&read, &[rel], variables, &lookup, Some(&mut sink));
    crate::build::single::entry::outcome(expanded, failure, label)
}

type Row = Vec<(String, Option<String>)>;

fn run_step(
    client: &mut Client,
    step: &Step,
    path: &str,
    out: &mut Vec<String>,
) -> Result<Option<Row>> {
    let at = |f: ScriptFailure| {
        let mut f = f;
        f.line = Some(step.line + f.line.map_or(0, |l| l - 1));
        Error::Script(f)
    };
    match &step.action {
        Action::Sql(sql) => {
            for span in statement_spans(sql) {
                let statement = &sql[span.range];
                let messages = client.simple_query(statement).map_err(|e| {
                    let mut f = failure_in(path, statement, &e);
                    f.line = Some(span.line + f.line.map_or(0, |l| l - 1));
                    at(f)
                })?;
                print_rows(&messages, out);
            }
            Ok(None)
        }
        Action::Echo(text) => {
            out.extend(text.lines().map(str::to_string));
            Ok(None)
        }
        Action::Copy {
            statement, data, ..
        } => {
            let fail = |e: &postgres::Error| at(failure_in(path, statement, e));
            let mut writer = client.copy_in(statement.as_str()).map_err(|e| fail(&e))?;
            writer.write_all(data.as_bytes()).map_err(|e| Error::Io {
                context: format!("{path}:{}: sending \\copy data", step.line),
                source: e,
            })?;
            writer.finish().map_err(|e| fail(&e))?;
            Ok(None)
        }
        Action::Gset { query, .. } => {
            // psql sends each finished statement as it reads it, so only the last
            // one is `\gset`'s; those before it print as usual.
            let spans = statement_spans(query);
            let (last, before) = match spans.split_last() {
                Some((last, before)) => (&query[last.range.clone()], before),
                None => (query.as_str(), &[][..]),
            };
            if let Some(end) = before.last().map(|s| s.range.end) {
                let sql = Action::Sql(query[..end].to_string());
                let earlier = Step {
                    action: sql,
                    ..step.clone()
                };
                run_step(client, &earlier, path, out)?;
            }
            let messages = client
                .simple_query(last)
                .map_err(|e| at(failure_in(path, last, &e)))?;
            // The rows of the last statement, as psql's \gset sees them.
            let mut rows = Vec::new();
            for m in &messages {
                match m {
                    SimpleQueryMessage::RowDescription(_) => rows.clear(),
                    SimpleQueryMessage::Row(r) => rows.push(r),
                    _ => {}
                }
            }
            let [row] = rows.as_slice() else {
                return Err(Error::Psql(PsqlError {
                    path: path.to_string(),
                    line: step.line,
                    message: format!("\\gset expects one row, got {}", rows.len()),
                }));
            };
            Ok(Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), row.get(i).map(str::to_string)))
                    .collect(),
            ))
        }
    }
}

/// psql `-tA`: each row's columns joined by `|` (NULL as empty), then split at line
/// breaks, since a pgTAP function returns a failure and its diagnostics as one value.
fn print_rows(messages: &[SimpleQueryMessage], out: &mut Vec<String>) {
    for m in messages {
        if let SimpleQueryMessage::Row(row) = m {
            let text: Vec<&str> = (0..row.len()).map(|i| row.get(i).unwrap_or("")).collect();
            out.extend(text.join("|").split('\n').map(str::to_string));
        }
    }
}

/// Runs `files` on copies made ahead by one thread, `options.jobs` at a time.
pub(super) fn run_all(
    suite: &PgTapSuite,
    files: &[String],
    options: &PgTapOptions,
    on_file: &(dyn Fn(&FileReport) + Sync),
) -> Vec<FileReport> {
    let jobs = options.jobs.clamp(1, files.len().max(1));
    // At most `jobs` copies wait ready: enough that a worker never waits for one,
    // few enough that an aborted run leaves little to drop.
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<String>)>(jobs);
    let rx = Mutex::new(rx);
    let reports: Mutex<Vec<Option<FileReport>>> = Mutex::new(vec![None; files.len()]);
    let progress = Mutex::new(());
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let Ok(mut admin) = suite.harness.admin() else {
                for i in 0..files.len() {
                    let _ = tx.send((i, Err(Error::Harness("no administrative session".into()))));
                }
                return;
            };
            for i in 0..files.len() {
                let name = next_name(&suite.harness, &suite.key);
                let made = suite.make_copy(&mut admin, &name).map(|()| name);
                if tx.send((i, made)).is_err() {
                    break;
                }
            }
            suite.harness.give_back(admin);
        });
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let next = super::super::lock(&rx).recv();
                    let Ok((i, copy)) = next else { break };
                    let report = run_one(suite, &files[i], copy, options);
                    let _shown = super::super::lock(&progress);
                    on_file(&report);
                    super::super::lock(&reports)[i] = Some(report);
                }
            });
        }
    });
    reports
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// One file on its copy, then the copy dropped (or kept when asked and it failed).
fn run_one(
    suite: &PgTapSuite,
    file: &str,
    copy: Result<String>,
    options: &PgTapOptions,
) -> FileReport {
    let started = Instant::now();
    let mut report = FileReport {
        file: file.to_string(),
        verdict: Verdict::Error,
        tap: Tap::parse([]),
        lines: Vec::new(),
        error: None,
        elapsed_ms: 0,
        kept: None,
    };
    let name = match copy {
        Ok(name) => name,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let outcome = run_file(suite, file, &name, options.timeout, &mut report.lines);
    report.tap = Tap::parse(report.lines.iter().map(String::as_str));
    report.error = outcome.err().map(|e| e.to_string());
    report.verdict = match (&report.error, report.tap.passed()) {
        (Some(_), _) => Verdict::Error,
        (None, true) => Verdict::Pass,
        (None, false) => Verdict::Fail,
    };
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    let keep = options.keep_failed && report.verdict != Verdict::Pass;
    if keep {
        report.kept = Some(KeptCopy {
            connect: connect_string(suite, &name),
            database: name.clone(),
        });
    }
    let released = suite.harness.admin().and_then(|mut admin| {
        let done = suite.release(&mut admin, &name, keep);
        suite.harness.give_back(admin);
        done
    });
    if let Err(e) = released {
        log::warn!("{e}; a later run will remove {name}");
    }
    report
}

/// Opens the file's session as the configured role and runs it, terminating the
/// session if it outlives `timeout`.
fn run_file(
    suite: &PgTapSuite,
    file: &str,
    database: &str,
    timeout: Duration,
    out: &mut Vec<String>,
) -> Result<()> {
    let config = suite.config_on(database)?;
    let mut pg = match suite.role() {
        None => config.admin_pg_config(database),
        Some((role, suffix)) => {
            let mut pg = config.role_pg_config(&role, config.password_for(&suffix));
            pg.dbname(database);
            pg
        }
    };
    pg.application_name("ores-sql pgtap");
    let target = format!("{}/{database}", config.server_label());
    let mut client = connect_within(pg, config.connect_timeout, target)?;
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .map_err(|e| Error::Postgres {
            context: format!("starting {file}"),
            source: e,
        })?
        .get(0);
    let (done, wait) = mpsc::channel::<()>();
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (harness, timed_out) = (suite.harness.clone(), timed_out.clone());
        std::thread::spawn(move || {
            if wait.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = harness.run(
                    &format!("SELECT pg_terminate_backend({pid})"),
                    "ending a test file that ran too long",
                );
            }
        })
    };
    let ran = run_script(suite, &mut client, file, database, out);
    let _ = done.send(());
    let _ = watchdog.join();
    if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::Harness(format!(
            "{file}: did not finish within {} s (--timeout); its session was terminated",
            timeout.as_secs()
        )));
    }
    ran
}

/// How to connect to a kept copy as the role its file ran as.
fn connect_string(suite: &PgTapSuite, database: &str) -> String {
    let Ok(config) = suite.config_on(database) else {
        return database.to_string();
    };
    let user = suite
        .role()
        .map_or(config.admin_user.clone(), |(role, _)| role);
    format!(
        "psql 'host={} port={} dbname={database} user={user}'",
        config.host, config.port
    )
}
