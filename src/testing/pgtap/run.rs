//! Running files: the setup on the test template, then the test files on their
//! workers' copies (see [`Supply`] and [`run_one`]), with psql's semantics (the tree's psql subset: `\set`, `\ir`, `\if`;
//! `ON_ERROR_STOP` always on; each statement sent by itself, in autocommit unless the
//! file opens a transaction) and psql's `-tA` output (a row's columns joined by `|`,
//! a value's lines each a line of output), which is what `pg_prove` reads.

use super::clean::{Sequences, Statements, wait_gone};
use super::{FileReport, KeptCopy, PgTapOptions, PgTapSuite, Tap, Verdict, next_name};
use crate::build::login::open_sessions;
use crate::build::single::numeric::failure_in;
use crate::config::Config;
use crate::error::PgContext;
use crate::error::{Error, Result, ScriptFailure};
use crate::server::admin::connect_admin_to;
use crate::server::admin::connect_within;
use crate::testing::lock;
use crate::tree::entry::engine_variables;
use crate::tree::lint::lexer::statement_spans;
use crate::tree::psql::{self, Action, PsqlError, Step};
use postgres::{Client, SimpleQueryMessage};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Runs the `[tests] setup` scripts on `database` (the test template being built) as
/// the DDL login.
pub(super) fn setup(
    suite: &PgTapSuite,
    admin: &mut Client,
    config: &Config,
    database: &str,
) -> Result<()> {
    let settings = suite.settings();
    if settings.setup.is_empty() {
        return Ok(());
    }
    let manifest = suite.tree.manifest();
    let mut session = open_sessions(admin, config, manifest, database, 1, true)?
        .pop()
        .expect("one session asked for");
    for script in &settings.setup {
        let rel = format!("{}/{script}", settings.dir);
        let mut out = Vec::new();
        let mut seen = Statements::default();
        run_script(
            suite,
            &mut session,
            &rel,
            &config.database,
            &mut out,
            &mut seen,
        )?;
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
    seen: &mut Statements,
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
        run_step(client, step, &path, out, seen).map_err(|e| {
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
    seen: &mut Statements,
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
                seen.see(statement);
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
            seen.see(statement);
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
                run_step(client, &earlier, path, out, seen)?;
            }
            seen.see(last);
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

/// Where the workers' copies come from: one thread hands them out on request,
/// each a ready copy of the test template renamed (instant) or, when none is left, a
/// new one made. Copies are asked for ahead of need: one per worker and one spare,
/// then one more each time a worker takes a copy beyond the first per worker, so a
/// worker whose copy was given up rarely waits; the spare left at the end is put
/// back among the ready copies for the next run.
struct Supply {
    copies: Mutex<mpsc::Receiver<Result<String>>>,
    want: Mutex<Option<mpsc::Sender<()>>>,
    taken: AtomicUsize,
    first: usize,
}

impl Supply {
    fn take(&self) -> Result<String> {
        if self.taken.fetch_add(1, Ordering::SeqCst) >= self.first
            && let Some(want) = lock(&self.want).as_ref()
        {
            let _ = want.send(());
        }
        lock(&self.copies)
            .recv()
            .unwrap_or_else(|_| Err(Error::Harness("the test copies' maker stopped".into())))
    }
}

/// Runs `files`, `options.jobs` at a time; see [`Supply`] and [`run_one`].
pub(super) fn run_all(
    suite: &PgTapSuite,
    files: &[String],
    options: &PgTapOptions,
    on_file: &(dyn Fn(&FileReport) + Sync),
) -> Vec<FileReport> {
    let jobs = options.jobs.clamp(1, files.len().max(1));
    let (copy_tx, copy_rx) = mpsc::channel::<Result<String>>();
    let (want_tx, want_rx) = mpsc::channel::<()>();
    let supply = Supply {
        copies: Mutex::new(copy_rx),
        want: Mutex::new(Some(want_tx.clone())),
        taken: AtomicUsize::new(0),
        first: jobs,
    };
    for _ in 0..=jobs {
        let _ = want_tx.send(());
    }
    drop(want_tx);
    let next = AtomicUsize::new(0);
    let first_state: OnceLock<Option<Sequences>> = OnceLock::new();
    let reports: Mutex<Vec<Option<FileReport>>> = Mutex::new(vec![None; files.len()]);
    let progress = Mutex::new(());
    let panicked: Mutex<Option<Box<dyn std::any::Any + Send>>> = Mutex::new(None);
    std::thread::scope(|outer| {
        outer.spawn(move || make_copies(suite, want_rx, copy_tx));
        // Once every worker is done, or one panicked (in `on_file`, say), the maker
        // must see its requests end, or the outer scope would wait for it forever.
        let _requests_end = CloseOnDrop(&supply.want);
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| {
                    let mut copy: Option<String> = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(file) = files.get(i) else { break };
                        let name = copy.take().map_or_else(|| supply.take(), Ok);
                        let (report, kept) = run_one(suite, file, name, options, &first_state);
                        copy = kept;
                        let _shown = lock(&progress);
                        let shown = catch_unwind(AssertUnwindSafe(|| on_file(&report)));
                        lock(&reports)[i] = Some(report);
                        if let Err(panic) = shown {
                            // Handed on once every copy is put back or dropped.
                            lock(&panicked).get_or_insert(panic);
                            next.store(files.len(), Ordering::SeqCst);
                            break;
                        }
                    }
                    if let Some(name) = copy {
                        put_back(suite, &name, jobs);
                    }
                });
            }
        });
    });
    while let Ok(Ok(name)) = lock(&supply.copies).try_recv() {
        put_back(suite, &name, jobs);
    }
    if let Some(panic) = lock(&panicked).take() {
        resume_unwind(panic);
    }
    reports
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Drops the request sender it guards when it goes, so [`make_copies`] stops.
struct CloseOnDrop<'a>(&'a Mutex<Option<mpsc::Sender<()>>>);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        lock(self.0).take();
    }
}

/// Serves the copy requests of [`Supply`] until every sender is gone.
fn make_copies(suite: &PgTapSuite, want: mpsc::Receiver<()>, copies: mpsc::Sender<Result<String>>) {
    let mut admin = None;
    for () in want {
        if admin.is_none() {
            admin = suite.harness.admin().ok();
        }
        let made = match admin.as_mut() {
            Some(admin) => {
                let name = next_name(&suite.harness, &suite.key);
                suite.obtain(admin, &name).map(|()| name)
            }
            None => Err(Error::Harness("no administrative session".into())),
        };
        if copies.send(made).is_err() {
            break;
        }
    }
    if let Some(admin) = admin {
        suite.harness.give_back(admin);
    }
}

/// Puts an untouched copy back among the ready copies of the test template (at most
/// one per worker and one more are kept), else drops it.
fn put_back(suite: &PgTapSuite, name: &str, jobs: usize) {
    if let Err(e) = suite.shelve(name, jobs + 1) {
        log::warn!("{e}; a later run will remove {name}");
    }
}

/// One file on `copy`. Returns its report and the copy when the next file may run on
/// it: the file was clean (see [`Statements`]), its session is seen gone and the
/// sequences are back as they were. Otherwise the copy is dropped (or kept when
/// asked and the file failed).
fn run_one(
    suite: &PgTapSuite,
    file: &str,
    copy: Result<String>,
    options: &PgTapOptions,
    first_state: &OnceLock<Option<Sequences>>,
) -> (FileReport, Option<String>) {
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
            return (report, None);
        }
    };
    let sequences = match options.fresh {
        true => None,
        false => first_state
            .get_or_init(|| read_sequences(suite, &name))
            .as_ref(),
    };
    let (outcome, clean) = run_file(suite, file, &name, options.timeout, &mut report.lines);
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
    } else if let Some(sequences) = sequences
        && clean
    {
        match restore(suite, &name, sequences) {
            Ok(true) => return (report, Some(name)),
            Ok(false) => {}
            Err(e) => log::warn!("{e}; {name} is given up"),
        }
    }
    let released = suite.harness.admin().and_then(|mut admin| {
        let done = suite.release(&mut admin, &name, keep);
        suite.harness.give_back(admin);
        done
    });
    if let Err(e) = released {
        log::warn!("{e}; a later run will remove {name}");
    }
    (report, None)
}

/// The sequences of a copy no file has run on; `None` (every copy then serves one
/// file) when they cannot be read.
fn read_sequences(suite: &PgTapSuite, database: &str) -> Option<Sequences> {
    let read = suite.config_on(database).and_then(|config| {
        let mut admin = connect_admin_to(&config, database)?;
        let pid = backend_pid(&mut admin, "reading a test copy's sequences")?;
        let read = Sequences::read(&mut admin);
        drop(admin);
        ended(suite, pid)?;
        read
    });
    read.map_err(|e| log::warn!("{e}; every test file gets a copy of its own"))
        .ok()
}

/// Puts a clean file's sequences back; true when the copy may serve the next file.
fn restore(suite: &PgTapSuite, database: &str, sequences: &Sequences) -> Result<bool> {
    let config = suite.config_on(database)?;
    let mut admin = connect_admin_to(&config, database)?;
    let pid = backend_pid(&mut admin, "restoring a test copy's sequences")?;
    sequences.restore(&mut admin)?;
    drop(admin);
    ended(suite, pid)
}

fn backend_pid(client: &mut Client, what: &str) -> Result<i32> {
    Ok(client
        .query_one("SELECT pg_backend_pid()", &[])
        .context(what.to_string())?
        .get(0))
}

/// Whether the closed session `pid` is gone from the server.
fn ended(suite: &PgTapSuite, pid: i32) -> Result<bool> {
    let mut admin = suite.harness.admin()?;
    let gone = wait_gone(&mut admin, pid);
    suite.harness.give_back(admin);
    gone
}

/// Opens the file's session as the configured role and runs it, terminating the
/// session if it outlives `timeout`. Also says whether the file left the copy as it
/// found it (but for sequences): clean statements, no timeout, and its session seen
/// gone.
fn run_file(
    suite: &PgTapSuite,
    file: &str,
    database: &str,
    timeout: Duration,
    out: &mut Vec<String>,
) -> (Result<()>, bool) {
    let config = match suite.config_on(database) {
        Ok(config) => config,
        Err(e) => return (Err(e), false),
    };
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
    let mut client = match connect_within(pg, config.connect_timeout, target) {
        Ok(client) => client,
        Err(e) => return (Err(e), false),
    };
    let pid = match backend_pid(&mut client, &format!("starting {file}")) {
        Ok(pid) => pid,
        Err(e) => return (Err(e), false),
    };
    let (done, wait) = mpsc::channel::<()>();
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (harness, timed_out) = (suite.harness.clone(), timed_out.clone());
        std::thread::spawn(move || {
            if wait.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                timed_out.store(true, Ordering::SeqCst);
                let _ = harness.run(
                    &format!("SELECT pg_terminate_backend({pid})"),
                    "ending a test file that ran too long",
                );
            }
        })
    };
    let mut seen = Statements::default();
    let ran = run_script(suite, &mut client, file, database, out, &mut seen);
    let _ = done.send(());
    let _ = watchdog.join();
    drop(client);
    if timed_out.load(Ordering::SeqCst) {
        let e = Error::Harness(format!(
            "{file}: did not finish within {} s (--timeout); its session was terminated",
            timeout.as_secs()
        ));
        return (Err(e), false);
    }
    let clean = seen.clean() && ended(suite, pid).unwrap_or(false);
    (ran, clean)
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
