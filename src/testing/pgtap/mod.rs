//! A tree's pgTAP tests (`compass db test`), on copies of the tree's test template,
//! several at once, judged as `pg_prove` judges them.
//!
//! The test template is a copy of the harness's template of the tree (built once per
//! key, see [`super::template`]; never an environment's database) on which the
//! administrator installs the `[tests] extensions` (pgTAP is not a trusted
//! extension) and the DDL login then runs the `[tests] setup` scripts; it is kept as
//! a template of its own key (the harness key, the extensions, the setup's files).
//! Each worker runs its files one after another on one copy of it, as long as they
//! are clean (`clean`: every statement inside a transaction that never commits;
//! the sequences are set back after each, and its session must be seen gone); after
//! any other file the copy is dropped and the worker takes another, so a file that
//! commits, leaves locks or crashes its session touches nothing another file sees.
//! Copies are ready copies of the test template claimed by rename when there are
//! any, else made by one thread while the workers run; untouched ones are put back
//! at the end (`run`). Every copy is named like a harness test database
//! (`ores_t_<key>_<owner>_<n>`), so one left behind by a killed run is removed by the
//! next harness start ([`super::template::remove_orphans`]). The rules:
//! `docs/design.md`, "pgTAP files on shared copies".
//!
//! ```no_run
//! use ores_sql::testing::pgtap::{PgTapOptions, PgTapSuite};
//! // The compiled-in tree's suite (`sql/test/*_test.sql`); `Some(dir)` for another tree.
//! let suite = PgTapSuite::open(None)?;
//! let report = suite.run(&PgTapOptions::default())?;
//! assert!(report.passed(), "{}", report.summary());
//! # Ok::<(), ores_sql::Error>(())
//! ```

mod clean;
mod files;
mod run;
pub mod tap;

pub use tap::{Directive, Tap, TapTest};

use super::names::{KEPT_COMMENT, TemplateKey, base36, pool_prefix, test_db_name};
use super::{Harness, harness, pool, template};
use crate::config::Config;
use crate::config::ident::{quote_ident, quote_literal};
use crate::error::{Error, PgContext, Result};
use crate::server::admin::{connect_admin_to, server_major_version};
use crate::server::grants::database_grants_sql;
use crate::server::roles::role_name;
use crate::tree::settings::{TestRole, TestSettings};
use crate::tree::source::SqlTree;
use files::TestFiles;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Default limit on one file's run (`--timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How a run goes.
#[derive(Debug, Clone)]
pub struct PgTapOptions {
    /// Files to run (relative to the tree root or the tests folder, or paths inside
    /// the tree); empty: every file matching `[tests] pattern`.
    pub files: Vec<String>,
    /// Files run at once (default: the machine's cores).
    pub jobs: usize,
    /// Longest a file may run; its session is then terminated and the file errors.
    pub timeout: Duration,
    /// Keep the copy a failing file ran on (commented as kept; the report says how
    /// to connect).
    pub keep_failed: bool,
    /// One copy per file, even for files that leave nothing behind (by default those
    /// share their worker's copy; see the module's documentation).
    pub fresh: bool,
}

impl Default for PgTapOptions {
    fn default() -> PgTapOptions {
        PgTapOptions {
            files: Vec::new(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout: DEFAULT_TIMEOUT,
            keep_failed: false,
            fresh: false,
        }
    }
}

/// A file's outcome, as `pg_prove` would call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every test passed (or was skipped, or failed under TODO) and the plan held.
    Pass,
    /// A test failed, or the plan did not hold.
    Fail,
    /// The session failed: a statement errored (psql would exit 3), the file timed
    /// out, or the copy could not be made.
    Error,
}

/// One test file's run.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// Path relative to the tree root.
    pub file: String,
    /// Pass, fail or error.
    pub verdict: Verdict,
    /// Its TAP output, parsed.
    pub tap: Tap,
    /// Every line the file printed (TAP, diagnostics, `\echo`), in order.
    pub lines: Vec<String>,
    /// The error that stopped it (`file:line: SQLSTATE ...: message`), if any.
    pub error: Option<String>,
    /// Wall-clock time of the file (its copy's creation not included), milliseconds.
    pub elapsed_ms: u64,
    /// The copy kept for a failing file (`keep_failed`), and how to connect to it.
    pub kept: Option<KeptCopy>,
}

/// A copy kept after its file failed.
#[derive(Debug, Clone, Serialize)]
pub struct KeptCopy {
    /// The database.
    pub database: String,
    /// libpq connection string of the role the file ran as (no password).
    pub connect: String,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct PgTapReport {
    /// Every file, in the order they were selected.
    pub files: Vec<FileReport>,
    /// Test lines over every file.
    pub tests: usize,
    /// Test lines that failed (outside TODO).
    pub failed_tests: usize,
    /// Wall-clock time of the run (setup included), milliseconds.
    pub elapsed_ms: u64,
    /// `PASS` or `FAIL`.
    pub result: &'static str,
}

impl PgTapReport {
    /// Whether every file passed.
    pub fn passed(&self) -> bool {
        self.files.iter().all(|f| f.verdict == Verdict::Pass)
    }

    /// `Files=N, Tests=M, S wallclock secs` and `Result: PASS|FAIL`, as pg_prove ends.
    pub fn summary(&self) -> String {
        format!(
            "Files={}, Tests={}, {:.2} wallclock secs\nResult: {}",
            self.files.len(),
            self.tests,
            self.elapsed_ms as f64 / 1000.0,
            self.result
        )
    }
}

/// A tree's pgTAP suite, ready to run: the test template exists (extensions and
/// setup applied). It outlives the suite, for the next run of the same tree and
/// setup; it goes with the harness's unused templates (after the grace period).
pub struct PgTapSuite {
    tree: SqlTree,
    files: TestFiles,
    harness: Arc<Harness>,
    /// The harness template's key: its roles (label `t_<key>`) are the copies' roles.
    key: Arc<TemplateKey>,
    /// The test template's own key (see [`test_key`]): it names the template and its
    /// ready copies.
    test_key: TemplateKey,
    /// The test template: the harness template plus extensions and setup.
    template: String,
}

impl std::fmt::Debug for PgTapSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTapSuite")
            .field("template", &self.template)
            .finish()
    }
}

impl PgTapSuite {
    /// The suite of the tree in `dir` (else `ORES_SQL_DIR`'s, else the compiled-in
    /// tree). Builds (or takes) the harness's template of the tree, then the test
    /// template.
    pub fn open(dir: Option<&Path>) -> Result<PgTapSuite> {
        let configured = match dir {
            Some(_) => None,
            None => Config::load()?.sql_dir,
        };
        let dir = dir.or(configured.as_deref());
        crate::runtime::off_runtime(|| {
            let tree = SqlTree::open(dir)?;
            let files = match dir {
                Some(d) => TestFiles::Dir(d.to_path_buf()),
                None => TestFiles::Compiled,
            };
            // Bad input is refused before anything is built.
            files.select(&tree.manifest().settings().tests, &[])?;
            let harness = harness()?;
            let key = harness.template_unswept(tree.manifest())?;
            let test_key = test_key(&key, &tree, &files);
            let suite = PgTapSuite {
                template: test_key.template_name(),
                tree,
                files,
                harness,
                key,
                test_key,
            };
            let prepared = suite.prepare();
            suite
                .harness
                .sweep(std::slice::from_ref(&suite.test_key.short));
            prepared?;
            Ok(suite)
        })
    }

    /// The tree's `[tests]` settings.
    pub fn settings(&self) -> &TestSettings {
        &self.tree.manifest().settings().tests
    }

    /// The files a run with `files` (see [`PgTapOptions::files`]) would run.
    pub fn select(&self, files: &[String]) -> Result<Vec<String>> {
        self.files.select(self.settings(), files)
    }

    /// Runs the files; `on_file` sees each file's report as it finishes (from the
    /// worker threads, one at a time).
    pub fn run_with(
        &self,
        options: &PgTapOptions,
        on_file: &(dyn Fn(&FileReport) + Sync),
    ) -> Result<PgTapReport> {
        let started = std::time::Instant::now();
        let selected = self.select(&options.files)?;
        let files =
            crate::runtime::off_runtime(|| Ok(run::run_all(self, &selected, options, on_file)))?;
        let tests = files.iter().map(|f| f.tap.tests.len()).sum();
        let failed_tests = files.iter().map(|f| f.tap.failed()).sum();
        let pass = files.iter().all(|f| f.verdict == Verdict::Pass);
        Ok(PgTapReport {
            files,
            tests,
            failed_tests,
            elapsed_ms: started.elapsed().as_millis() as u64,
            result: if pass { "PASS" } else { "FAIL" },
        })
    }

    /// [`run_with`](Self::run_with) without progress.
    pub fn run(&self, options: &PgTapOptions) -> Result<PgTapReport> {
        self.run_with(options, &|_| {})
    }

    /// A fresh copy of the test template (what each file runs on), dropped with the
    /// handle: for running something else, `pg_prove` say, on the same start.
    pub fn copy(&self) -> Result<TestCopy> {
        crate::runtime::off_runtime(|| {
            let name = next_name(&self.harness, &self.key);
            let mut admin = self.harness.admin()?;
            let made = self.make_copy(&mut admin, &name);
            self.harness.give_back(admin);
            made?;
            let variables = crate::tree::entry::engine_variables(
                self.tree.manifest().settings(),
                &self.key.label(),
                &name,
            );
            Ok(TestCopy {
                name,
                harness: self.harness.clone(),
                config: self.config(),
                variables,
            })
        })
    }

    /// Configuration of the template's roles (label `t_<key>`) on `database`.
    fn config_on(&self, database: &str) -> Result<Config> {
        self.harness
            .server
            .clone()
            .with_env(&self.key.label())?
            .with_database(database)
    }

    fn config(&self) -> Config {
        // The label and name were accepted when the suite was made.
        self.config_on(&self.template)
            .unwrap_or_else(|_| self.harness.server.clone())
    }

    /// The login role the files run as; `None` for the administrator.
    fn role(&self) -> Option<(String, String)> {
        let suffix = match &self.settings().role {
            TestRole::Admin => return None,
            TestRole::LoginUser(stem) => format!("{stem}_user"),
            TestRole::Service(name) => format!("{name}_service"),
        };
        Some((role_name(&self.key.label(), &suffix), suffix))
    }

    /// The test template: a copy of the harness template, the extensions installed by
    /// the administrator (before the setup, so the DDL login finds them), the setup
    /// run as the DDL login, then made a template under its own key, like the
    /// harness's: built once, kept while a process uses the key and for the grace
    /// period after, and found ready by the next run of the same tree and setup.
    fn prepare(&self) -> Result<()> {
        let mut anchor = self.harness.anchor()?;
        let key = &self.test_key;
        template::ensure_built(&mut anchor, key, |anchor, build| {
            log::info!("building pgTAP test template {}", key.template_name());
            self.harness.make_clone(anchor, &self.key, build)?;
            let config = self.config_on(build)?;
            let mut admin = connect_admin_to(&config, build)?;
            self.install_extensions(&mut admin, build)?;
            run::setup(self, &mut admin, &config, build)?;
            drop(admin);
            // The rename into place needs every session of the setup gone.
            match clean::wait_no_session(anchor, build)? {
                true => Ok(()),
                false => Err(Error::Harness(format!(
                    "{build}: the setup's sessions did not end; run `compass db test` again"
                ))),
            }
        })?;
        super::lock(&self.harness.held).push(key.short.clone());
        Ok(())
    }

    fn install_extensions(&self, admin: &mut postgres::Client, database: &str) -> Result<()> {
        let wanted = &self.settings().extensions;
        let available: Vec<String> = admin
            .query(
                "SELECT name::text FROM pg_available_extensions WHERE name = ANY($1)",
                &[wanted],
            )
            .context("checking the test extensions")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if let Some(missing) = wanted.iter().find(|e| !available.contains(e)) {
            let major = server_major_version(admin)?;
            let package = match missing.as_str() {
                "pgtap" => format!("postgresql-{major}-pgtap"),
                other => crate::server::admin::package_for_extension(other).to_string(),
            };
            return Err(Error::MissingExtension {
                name: missing.clone(),
                package,
            });
        }
        for e in wanted {
            admin
                .batch_execute(&format!(
                    "CREATE EXTENSION IF NOT EXISTS {}",
                    quote_ident(e)
                ))
                .context(format!("installing {e} on {database}"))?;
        }
        Ok(())
    }

    /// A copy of the test template under `name`, open to the role the files run as:
    /// one of its ready copies renamed when there is one, else made now.
    fn obtain(&self, admin: &mut postgres::Client, name: &str) -> Result<()> {
        let owner = role_name(&self.key.label(), "owner");
        let open = self.open_sql(name);
        match pool::claim(admin, &self.test_key.short, &owner, name, &open)? {
            Some(()) => Ok(()),
            None => self.make_copy(admin, name),
        }
    }

    /// `CREATE DATABASE name TEMPLATE <test template>`, closed until the grants (and
    /// `TEMPORARY` for the role the files run as: pgTAP keeps its state in temporary
    /// tables, which only the owner group may otherwise create) are in place.
    fn make_copy(&self, admin: &mut postgres::Client, name: &str) -> Result<()> {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {} OWNER {} STRATEGY {} ALLOW_CONNECTIONS false",
                quote_ident(name),
                quote_ident(&self.template),
                quote_ident(&role_name(&self.key.label(), "owner")),
                self.harness.strategy
            ))
            .context(format!("copying {} into {name}", self.template))?;
        admin
            .batch_execute(&self.open_sql(name))
            .context(format!("granting access to {name}"))
    }

    fn open_sql(&self, name: &str) -> String {
        let temp = self.role().map_or(String::new(), |(role, _)| {
            format!(
                "GRANT TEMPORARY ON DATABASE {} TO {};",
                quote_ident(name),
                quote_ident(&role)
            )
        });
        format!(
            "{}\n{temp}\nALTER DATABASE {} ALLOW_CONNECTIONS true;",
            database_grants_sql(&self.key.label(), name),
            quote_ident(name)
        )
    }

    /// Puts a copy that holds what the test template holds back among its ready
    /// copies (at most `bound`), else drops it.
    fn shelve(&self, name: &str, bound: usize) -> Result<()> {
        let mut admin = self.harness.admin()?;
        let n = self.harness.counter.fetch_add(1, Ordering::Relaxed);
        let ready = format!(
            "{}{}_{}",
            pool_prefix(&self.test_key.short),
            self.harness.owner.tag(),
            base36(n)
        );
        let done = pool::shelve(&mut admin, &self.test_key.short, name, &ready, bound);
        self.harness.give_back(admin);
        done.map(|_| ())
    }

    /// Drops a copy, or keeps it (commented as kept, so no sweep removes it).
    fn release(&self, admin: &mut postgres::Client, name: &str, keep: bool) -> Result<()> {
        let sql = if keep {
            format!(
                "COMMENT ON DATABASE {} IS {}",
                quote_ident(name),
                quote_literal(KEPT_COMMENT)
            )
        } else {
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name))
        };
        admin
            .batch_execute(&sql)
            .context(format!("releasing {name}"))
    }
}

/// The test template's key: the harness template's full key, the extensions
/// installed on it and the text of every file the setup reads (found by expanding it
/// as psql would; if that fails, the setup's own files, and the failure shows when
/// the setup runs). The role the files run as is not in it: its grants are made per
/// copy.
fn test_key(base: &TemplateKey, tree: &SqlTree, files: &TestFiles) -> TemplateKey {
    let settings = &tree.manifest().settings().tests;
    let mut h = Sha256::new();
    h.update(b"ores-sql pgtap test template 1\n");
    h.update(base.full.as_bytes());
    for e in &settings.extensions {
        h.update(format!("\next {e}").as_bytes());
    }
    let setup: Vec<String> = settings
        .setup
        .iter()
        .map(|s| format!("{}/{s}", settings.dir))
        .collect();
    let entries: Vec<&str> = setup.iter().map(String::as_str).collect();
    let read = |p: &Path| files.read(p);
    let variables = crate::tree::entry::engine_variables(tree.manifest().settings(), "k", "db");
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let reached = crate::tree::psql::expand_session(&read, &entries, variables, &lookup, None)
        .map_or(setup.clone(), |x| x.files);
    for file in reached {
        h.update(format!("\nfile {file}\n").as_bytes());
        h.update(files.read(Path::new(&file)).unwrap_or_default().as_bytes());
    }
    TemplateKey::from_full(hex::encode(h.finalize()))
}

/// The next harness test-database name of this process for `key`.
fn next_name(harness: &Harness, key: &TemplateKey) -> String {
    let n = harness.counter.fetch_add(1, Ordering::Relaxed);
    test_db_name(&key.short, &harness.owner, n)
}

/// A copy of a suite's test template, dropped with the handle.
pub struct TestCopy {
    name: String,
    harness: Arc<Harness>,
    config: Config,
    variables: std::collections::BTreeMap<String, String>,
}

impl TestCopy {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// libpq settings for the administrative login on it, as `PG*` variables (no
    /// password: set `PGPASSWORD` yourself where one is needed).
    pub fn pg_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PGHOST", self.config.host.clone()),
            ("PGPORT", self.config.port.to_string()),
            ("PGUSER", self.config.admin_user.clone()),
            ("PGDATABASE", self.name.clone()),
        ]
    }
}

impl TestCopy {
    /// The psql variables a test file sees (`:"iam_service_user"`, `:'db_name'`,
    /// ...), the build's own, for `psql --set` or `pg_prove --set`.
    pub fn psql_variables(&self) -> &std::collections::BTreeMap<String, String> {
        &self.variables
    }
}

impl Drop for TestCopy {
    fn drop(&mut self) {
        let (harness, name) = (&self.harness, &self.name);
        if let Err(e) = crate::runtime::in_drop(|| {
            harness.run(
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)),
                format!("dropping {name}"),
            )
        }) {
            eprintln!("warning: could not drop {name}: {e}; a later test run will remove it");
        }
    }
}
