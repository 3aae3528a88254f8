//! Configuration: `.env` first, exported variables over it, libpq defaults under both.
//!
//! Nothing here talks to the server; everything is validated before any SQL is sent.
//!
//! ```no_run
//! use ores_sql::Config;
//! let config = Config::load()?.with_env("ci")?;
//! println!("{} on {}", config.database, config.server_label());
//! let check = ores_sql::config::envfile::check()?;
//! if !check.is_ok() {
//!     eprintln!("missing: {}", check.missing.join(", "));
//! }
//! # Ok::<(), ores_sql::Error>(())
//! ```

pub mod configure;
pub mod envfile;
pub mod ident;
pub mod upstream;

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A password. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the few places that must hand it to the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Default time to wait for the server to accept a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time to wait for another run on the same environment to finish.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(120);
/// Extensions every ORE Studio database needs.
pub const REQUIRED_EXTENSIONS: [&str; 3] = ["btree_gist", "pg_trgm", "pgcrypto"];

/// Everything needed to build, inspect or remove one environment's database.
#[derive(Clone)]
pub struct Config {
    /// Server host name, or a directory holding the server's unix socket.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Administrative login: a superuser, or one with CREATEDB and CREATEROLE.
    pub admin_user: String,
    /// Administrative password, if the server asks for one.
    pub admin_password: Option<Secret>,
    /// Database the administrative connection opens (never dropped).
    pub admin_database: String,
    /// Environment label: scopes roles (`ores_<env>_*`) and the default database name.
    pub env: String,
    /// The environment's database.
    pub database: String,
    /// Login passwords by role suffix (`ddl_user`, `iam_service`, ...).
    pub passwords: BTreeMap<String, Secret>,
    /// How long to wait for the server to answer a connection attempt.
    pub connect_timeout: Duration,
    /// How long to wait for another run on the same environment.
    pub lock_timeout: Duration,
    /// Extensions installed into the database, checked before anything is created.
    pub extensions: Vec<String>,
    /// Connections a full build applies the scripts on when the run's
    /// [`RunOptions::workers`](crate::RunOptions::workers) does not say
    /// (`ORES_DB_BUILD_WORKERS`, default: two per core of the machine). It is read here, with the rest of the
    /// environment, because a machine's `.env` is where its free cores are known;
    /// every other per-run choice lives in [`RunOptions`](crate::RunOptions) only.
    pub default_workers: usize,
    /// The `.env` file that was read, if any.
    pub dotenv_path: Option<PathBuf>,
    /// The SQL tree to read at run time instead of the compiled-in one
    /// (`ORES_SQL_DIR`; `--sql-dir` overrides it). Relative to the working directory.
    pub sql_dir: Option<PathBuf>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("admin_user", &self.admin_user)
            .field("admin_password", &self.admin_password)
            .field("admin_database", &self.admin_database)
            .field("env", &self.env)
            .field("database", &self.database)
            .field("passwords", &self.passwords.keys().collect::<Vec<_>>())
            .field("connect_timeout", &self.connect_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .field("extensions", &self.extensions)
            .field("default_workers", &self.default_workers)
            .field("dotenv_path", &self.dotenv_path)
            .field("sql_dir", &self.sql_dir)
            .finish()
    }
}

fn is_ours(key: &str) -> bool {
    key.starts_with("ORES_") || key.starts_with("PG")
}

impl Config {
    /// Loads `.env` (working directory, else the enclosing repository root), then lets
    /// exported variables override it. `ORES_DOTENV` names another file explicitly.
    ///
    /// ```no_run
    /// let config = ores_sql::Config::load()?;
    /// println!("environment {} builds {} on {}", config.env, config.database, config.server_label());
    /// # Ok::<(), ores_sql::Error>(())
    /// ```
    pub fn load() -> Result<Config> {
        let explicit = std::env::var_os("ORES_DOTENV").map(PathBuf::from);
        let path = match explicit {
            Some(p) => Some(p),
            None => find_dotenv(&std::env::current_dir().map_err(|e| Error::Io {
                context: "reading the working directory".into(),
                source: e,
            })?),
        };
        let vars = load_vars(path.as_deref())?;
        let mut config = Config::from_vars(&vars)?;
        config.dotenv_path = path;
        Ok(config)
    }

    /// Builds a configuration from explicit variables only (no file, no environment).
    /// ORE Studio's own spellings of our keys are accepted ([`upstream`]); two
    /// spellings of one setting that disagree are an error naming both.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Config> {
        let vars = &upstream::resolve(vars, "configuration")?;
        upstream::upstream_version(vars)?;
        let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        let port = match get("PGPORT") {
            Some(p) => p.parse::<u16>().map_err(|_| {
                Error::Config(format!(
                    "PGPORT (or ORES_DB_PORT) {p:?} is not a port number"
                ))
            })?,
            None => 5432,
        };
        let host = get("PGHOST").unwrap_or_else(|| default_host(port));
        let admin_user = get("PGUSER").unwrap_or_else(default_user);
        let env = get("ORES_ENV").unwrap_or_else(|| "local".to_string());
        ident::validate_env_label(&env)?;
        let database = get("ORES_DB_NAME").unwrap_or_else(|| default_database(&env));
        ident::validate_database_name(&database)?;
        let admin_database = get("PGDATABASE").unwrap_or_else(|| "postgres".to_string());
        let passwords = vars
            .iter()
            .filter_map(|(k, v)| {
                let suffix = k.strip_prefix("ORES_DB_")?.strip_suffix("_PASSWORD")?;
                (!v.is_empty()).then(|| (suffix.to_ascii_lowercase(), Secret::new(v.clone())))
            })
            .collect();
        let extensions = match get("ORES_DB_EXTENSIONS") {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => REQUIRED_EXTENSIONS.iter().map(|s| s.to_string()).collect(),
        };
        Ok(Config {
            host,
            port,
            admin_user,
            admin_password: get("PGPASSWORD").map(Secret::new),
            admin_database,
            env,
            database,
            passwords,
            connect_timeout: seconds(&get("ORES_DB_CONNECT_TIMEOUT"), DEFAULT_CONNECT_TIMEOUT)?,
            lock_timeout: seconds(&get("ORES_DB_LOCK_TIMEOUT"), DEFAULT_LOCK_TIMEOUT)?,
            extensions,
            default_workers: workers(&get("ORES_DB_BUILD_WORKERS"))?,
            dotenv_path: None,
            sql_dir: get("ORES_SQL_DIR").map(PathBuf::from),
        })
    }

    /// The tree a command works on: `dir` when given (`--sql-dir`), else
    /// `ORES_SQL_DIR`, else the one compiled in.
    ///
    /// ```no_run
    /// let config = ores_sql::Config::load()?;
    /// let tree = config.sql_tree(None)?; // ORES_SQL_DIR's tree, or the compiled one
    /// let status = ores_sql::inspect::status_with(&config, tree.manifest())?;
    /// # Ok::<(), ores_sql::Error>(())
    /// ```
    pub fn sql_tree(&self, dir: Option<&Path>) -> Result<crate::tree::source::SqlTree> {
        crate::tree::source::SqlTree::open(dir.or(self.sql_dir.as_deref()))
    }

    /// The same server, another environment (its default database `ores_dev_<env>`).
    pub fn with_env(mut self, env: &str) -> Result<Config> {
        ident::validate_env_label(env)?;
        let database = default_database(env);
        ident::validate_database_name(&database)?;
        self.env = env.to_string();
        self.database = database;
        Ok(self)
    }

    /// The same environment, another database name.
    pub fn with_database(mut self, database: &str) -> Result<Config> {
        ident::validate_database_name(database)?;
        self.database = database.to_string();
        Ok(self)
    }

    /// Checks the parts a caller may have changed directly since loading.
    pub fn validate(&self) -> Result<()> {
        ident::validate_env_label(&self.env)?;
        ident::validate_database_name(&self.database)?;
        for ext in &self.extensions {
            ident::validate_role_name(ext).map_err(|_| {
                Error::Config(format!("extension name {ext:?} is not a plain identifier"))
            })?;
        }
        Ok(())
    }

    /// The configured password of a login role, by suffix (`ddl_user`, `iam_service`).
    pub fn password_for(&self, suffix: &str) -> Option<&Secret> {
        self.passwords.get(suffix)
    }

    /// Driver configuration for the administrative login on `database`.
    pub fn admin_pg_config(&self, database: &str) -> postgres::Config {
        let mut pg = self.base_pg_config(database);
        pg.user(&self.admin_user);
        if let Some(p) = &self.admin_password {
            pg.password(p.expose());
        }
        pg
    }

    /// Driver configuration for a login role of this environment.
    pub fn role_pg_config(&self, role: &str, password: Option<&Secret>) -> postgres::Config {
        let mut pg = self.base_pg_config(&self.database);
        pg.user(role);
        if let Some(p) = password {
            pg.password(p.expose());
        }
        pg
    }

    fn base_pg_config(&self, database: &str) -> postgres::Config {
        let mut pg = postgres::Config::new();
        pg.host(&self.host)
            .port(self.port)
            .dbname(database)
            .connect_timeout(self.connect_timeout)
            .application_name("ores-sql");
        pg
    }

    /// `host:port` for messages (never includes credentials).
    pub fn server_label(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Exported variables override the file; only `ORES_*` and `PG*` are taken from the
/// environment, so an unrelated variable can never change what we do.
pub fn merge(
    file_vars: BTreeMap<String, String>,
    exported: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    let mut vars = file_vars;
    for (k, v) in exported {
        if is_ours(&k) {
            vars.insert(k, v);
        }
    }
    vars
}

/// The variables of `.env` at `path` (if any) with the exported ones over them, each
/// source's upstream spellings resolved on its own first: within one source two
/// spellings must agree, and an exported variable overrides the file under either
/// spelling.
pub fn load_vars(path: Option<&Path>) -> Result<BTreeMap<String, String>> {
    let file_vars = match path {
        Some(p) => read_dotenv(p)?,
        None => BTreeMap::new(),
    };
    let shown = path.map(|p| p.display().to_string()).unwrap_or_default();
    merge_sources(&file_vars, &shown, std::env::vars())
}

/// [`merge`], with each source's upstream spellings resolved on its own first
/// (`file_label` names the file in a disagreement).
pub fn merge_sources(
    file_vars: &BTreeMap<String, String>,
    file_label: &str,
    exported: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>> {
    let file_vars = upstream::resolve(file_vars, file_label)?;
    let exported: BTreeMap<String, String> =
        exported.into_iter().filter(|(k, _)| is_ours(k)).collect();
    let exported = upstream::resolve(&exported, "exported variables")?;
    Ok(merge(file_vars, exported))
}

/// `ores_dev_<env>`.
pub fn default_database(env: &str) -> String {
    format!("ores_dev_{env}")
}

/// Longest timeout accepted: a day. PostgreSQL's own `lock_timeout` stops at about
/// 24.8 days, and a longer wait is a typo, not a plan.
pub const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

/// The most connections a parallel build may use: more than the server has cores
/// only queues.
pub const MAX_BUILD_WORKERS: usize = 64;

/// Connections per core a build uses unless told: a backend spends much of a
/// build's create phase waiting for the disk (PostgreSQL 15 syncs each new btree
/// index's file as its build ends, wait event `DataFileImmediateSync`: some 1,500
/// times for a tree of 271 tables), and a second connection keeps the core busy
/// meanwhile. docs/bench.md has the measurements.
pub const WORKERS_PER_CORE: usize = 2;

/// The most connections the default asks for, whatever the cores: a build shares
/// its server's connection slots with every service.
pub const DEFAULT_WORKERS_CAP: usize = 16;

/// `ORES_DB_BUILD_WORKERS`, else [`WORKERS_PER_CORE`] connections per core of the
/// machine, at most [`DEFAULT_WORKERS_CAP`] (the server is local by default; with
/// one core, one transaction).
fn workers(value: &Option<String>) -> Result<usize> {
    match value {
        None => Ok(match std::thread::available_parallelism().map_or(1, |n| n.get()) {
            1 => 1,
            cores => (cores * WORKERS_PER_CORE).min(DEFAULT_WORKERS_CAP),
        }),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BUILD_WORKERS).contains(n))
            .ok_or_else(|| {
                Error::Config(format!(
                    "ORES_DB_BUILD_WORKERS={v:?} is not a number of connections between 1 and {MAX_BUILD_WORKERS}"
                ))
            }),
    }
}

fn seconds(value: &Option<String>, default: Duration) -> Result<Duration> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_TIMEOUT_SECONDS)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                Error::Config(format!(
                    "{v:?} is not a number of seconds between 0 and {MAX_TIMEOUT_SECONDS}"
                ))
            }),
    }
}

/// Where libpq would look with no PGHOST: the Debian socket directory, then /tmp,
/// then TCP on localhost.
fn default_host(port: u16) -> String {
    for dir in ["/var/run/postgresql", "/tmp"] {
        if Path::new(dir).join(format!(".s.PGSQL.{port}")).exists() {
            return dir.to_string();
        }
    }
    "localhost".to_string()
}

/// libpq's default user is the operating-system user.
fn default_user() -> String {
    whoami::username()
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres".to_string())
}

/// `.env` in `start`, else in the nearest ancestor that is a repository root.
fn find_dotenv(start: &Path) -> Option<PathBuf> {
    let here = start.join(".env");
    if here.is_file() {
        return Some(here);
    }
    start
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(|root| root.join(".env"))
        .filter(|p| p.is_file())
}

/// Parses a `.env` file with dotenvy, reporting the line (and key) of a bad entry.
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>> {
    let shown = path.display().to_string();
    let text = read_small_text(path, &shown)?;
    // A BOM (what some Windows editors write first) is not part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    check_dotenv_lines(text, &shown)?;
    let mut vars = BTreeMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((k, v)) => {
                vars.insert(k, v);
            }
            Err(dotenvy::Error::LineParse(bad, _)) => {
                // The text dotenvy could not parse starts at a line of ours; find it by
                // its first line (lines were checked above, so one matches).
                let first = bad.lines().next().unwrap_or_default().trim_end();
                let line = text
                    .lines()
                    .position(|l| l.trim_end() == first)
                    .map(|i| i + 1)
                    .unwrap_or(1);
                return Err(Error::DotEnv {
                    path: shown,
                    line,
                    key: dotenv_key(first),
                });
            }
            Err(e) => {
                return Err(Error::EnvFile {
                    path: shown,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(vars)
}

/// Largest `.env` read: far more than any configuration, far less than a mistake
/// such as `ORES_DOTENV=/dev/zero` could otherwise make us read.
const MAX_DOTENV_BYTES: u64 = 1 << 20;

/// Reads a regular file of at most [`MAX_DOTENV_BYTES`]; a FIFO or a device would
/// block or never end.
fn read_small_text(path: &Path, shown: &str) -> Result<String> {
    use std::io::Read as _;
    let io = |e| Error::Io {
        context: format!("reading {shown}"),
        source: e,
    };
    // Asked before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(env_file(
            shown,
            "not a regular file; a .env must be a plain file",
        ));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_DOTENV_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_DOTENV_BYTES {
        return Err(env_file(
            shown,
            &format!("larger than {MAX_DOTENV_BYTES} bytes; not a .env"),
        ));
    }
    String::from_utf8(bytes).map_err(|_| env_file(shown, "not UTF-8 text"))
}

fn env_file(shown: &str, reason: &str) -> Error {
    Error::EnvFile {
        path: shown.to_string(),
        reason: reason.to_string(),
    }
}

/// The key a `.env` line sets, if it has one.
fn dotenv_key(line: &str) -> Option<String> {
    line.trim_start()
        .trim_start_matches("export ")
        .split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// Line by line, before dotenvy sees the text: every line is blank, a comment or
/// `[export ]KEY=value`, and no value that dotenvy would expand (bare or
/// double-quoted) contains `$`. Expansion silently changes a password such as
/// `pa$$word`; refusing with the line and key lets the user single-quote it.
fn check_dotenv_lines(text: &str, shown: &str) -> Result<()> {
    let mut in_quote: Option<char> = None;
    for (i, raw) in text.lines().enumerate() {
        let fail = || Error::DotEnv {
            path: shown.to_string(),
            line: i + 1,
            key: dotenv_key(raw),
        };
        if let Some(q) = in_quote {
            // Continuation of a multi-line quoted value.
            if q == '"' && raw.contains('$') {
                return Err(env_file(
                    shown,
                    &format!(
                        "line {}: `$` in a double-quoted value is expanded; use single quotes",
                        i + 1
                    ),
                ));
            }
            if raw.trim_end().ends_with(q) {
                in_quote = None;
            }
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(key) = dotenv_key(line) else {
            return Err(fail());
        };
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(fail());
        }
        let value = line
            .trim_start_matches("export ")
            .split_once('=')
            .map(|(_, v)| v.trim_start())
            .unwrap_or_default();
        let quote = value.chars().next().filter(|c| *c == '\'' || *c == '"');
        if quote != Some('\'') && value.contains('$') {
            return Err(env_file(
                shown,
                &format!(
                    "line {}: {key}: `$` in an unquoted or double-quoted value is expanded \
                     from other variables; put the value in single quotes to keep it as written",
                    i + 1
                ),
            ));
        }
        if let Some(q) = quote {
            let rest = &value[1..];
            if !rest.trim_end().contains(q) {
                in_quote = Some(q);
            }
        }
    }
    Ok(())
}
