//! The crate's error type. Every variant says what failed and, where it helps, what to do.

use crate::tree::scan::ScanError;
use std::time::Duration;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A PostgreSQL error raised by one script of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScriptFailure {
    /// Relative path of the script, e.g. `sql/create/02_iam/010_iam_tenants.sql`.
    pub path: String,
    /// 1-based line in the script where PostgreSQL located the error, if it did.
    pub line: Option<usize>,
    /// Five-character SQLSTATE, e.g. `42P01`.
    pub sqlstate: String,
    /// PostgreSQL's primary message.
    pub message: String,
    /// PostgreSQL's detail, hint and context lines, when present.
    pub detail: Option<String>,
}

impl std::fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": SQLSTATE {}: {}", self.sqlstate, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong.
///
/// ```no_run
/// let config = ores_sql::Config::load()?;
/// match ores_sql::recreate(&config) {
///     Err(ores_sql::Error::Script(failure)) => {
///         // e.g. sql/create/02_iam/010_iam_tenants.sql:12: SQLSTATE 42P01: ...
///         eprintln!("{failure}");
///         assert_eq!(failure.sqlstate.len(), 5);
///     }
///     other => { other?; }
/// }
/// # Ok::<(), ores_sql::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value (`.env`, `ORES_*`, `PG*`) is missing, malformed or
    /// unsafe.
    #[error("configuration: {0}")]
    Config(String),

    /// A library call was given an argument it cannot use (an empty tenant code, a
    /// role that cannot log in, a path that is not a directory); the message says
    /// what it accepts.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The `.env` file could not be parsed.
    #[error("{path}: line {line}: cannot parse `.env` entry{}; expected KEY=VALUE", key.as_deref().map(|k| format!(" for {k}")).unwrap_or_default())]
    DotEnv {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The key on that line, when one could be read.
        key: Option<String>,
    },

    /// A `.env` file that cannot be read as one: not a regular file, too large, not
    /// UTF-8, a `$` dotenvy would expand, or what dotenvy itself refused.
    #[error("{path}: {reason}; fix the file (or point ORES_DOTENV at another)")]
    EnvFile {
        /// The file, as shown to the user.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An identifier (environment label, database or role name) failed validation.
    #[error(
        "invalid {kind} {value:?}: {reason}; fix the value (in .env, the environment or the command line)"
    )]
    InvalidIdentifier {
        /// What the identifier names (environment label, database name, ...).
        kind: &'static str,
        /// The rejected value (escaped with Debug so control characters show).
        value: String,
        /// Which rule it broke.
        reason: String,
    },

    /// The server could not be reached or refused the login.
    #[error(
        "cannot connect to PostgreSQL at {target}: {message}; check PGHOST/PGPORT/PGUSER/PGPASSWORD"
    )]
    Connect {
        /// host:port/database, never the password.
        target: String,
        /// Why.
        message: String,
    },

    /// A required extension is not installed on the server.
    #[error(
        "extension {name} is not available on the server; install {package} (e.g. `apt-get install {package}`) and retry"
    )]
    MissingExtension {
        /// Extension name.
        name: String,
        /// Package that ships it.
        package: String,
    },

    /// The administrative login lacks an attribute the operation needs (an
    /// administrator of a managed service is not a superuser).
    #[error(
        "the administrative login {admin} is not allowed to do this without {missing}: {reason}"
    )]
    AdminPrivilege {
        /// The login.
        admin: String,
        /// What it lacks (`SUPERUSER`, `CREATEDB and CREATEROLE`, ...).
        missing: String,
        /// What needs it, why, and what to do.
        reason: String,
    },

    /// A script of the manifest failed; nothing of the build was kept.
    #[error("script failed: {0}")]
    Script(ScriptFailure),

    /// The SQL tree does not form a valid manifest.
    #[error("invalid SQL manifest: {0}")]
    Manifest(ScanError),

    /// The tree's `ores-sql.toml` is malformed, named by file and line.
    #[error("invalid tree settings: {0}")]
    Settings(crate::tree::settings::SettingsError),

    /// A tree marked `strict = true` breaks static rules (one line per violation,
    /// `rule path:line: message`).
    #[error("strict tree: {} static rule violation(s):\n  {}; fix them, or set strict = false in ores-sql.toml to report them as warnings", .0.len(), .0.join("\n  "))]
    StrictTree(Vec<String>),

    /// A psql entry script cannot be interpreted (include, variable, meta-command),
    /// named by file and line.
    #[error("invalid SQL tree: {0}")]
    Psql(crate::tree::psql::PsqlError),

    /// The operation would disturb other sessions.
    #[error("database {database} has {} other connection(s) ({}); close them or pass --kill (RunOptions::kill)", sessions.len(), sessions.join(", "))]
    ActiveConnections {
        /// Database.
        database: String,
        /// One description per session (pid, user, application, since).
        sessions: Vec<String>,
    },

    /// The database already holds an ORE Studio schema (setup never overwrites).
    #[error("database {0} already holds a schema; use recreate to rebuild it")]
    AlreadyExists(String),

    /// The database does not exist.
    #[error(
        "database {0} does not exist; build it with `compass db recreate` (ores_sql::recreate) or check ORES_ENV / ORES_DB_NAME"
    )]
    NoSuchDatabase(String),

    /// The operation refuses to touch this database.
    #[error("refusing to touch database {database}: {reason}")]
    Protected {
        /// Database.
        database: String,
        /// Why it is protected.
        reason: String,
    },

    /// A role the environment would make or change is marked for another one.
    #[error(
        "role {role} belongs to environment `{owner}` (its comment says `ores-sql env={owner}`), not `{env}`; nothing was changed: choose another label for `{env}`, or tear `{owner}` down first"
    )]
    ForeignRole {
        /// The role.
        role: String,
        /// The environment its mark names.
        owner: String,
        /// The environment that would have taken it.
        env: String,
    },

    /// Another run holds the environment's lock for too long.
    #[error(
        "another recreate/setup/teardown of environment {env} is running; gave up after {waited:?} (raise ORES_DB_LOCK_TIMEOUT to wait longer)"
    )]
    LockTimeout {
        /// Environment label.
        env: String,
        /// How long we waited.
        waited: Duration,
    },

    /// Any other PostgreSQL error, with the step that raised it.
    #[error("{context}: {}; see the PostgreSQL server log for more", describe_pg(.source))]
    Postgres {
        /// What we were doing.
        context: String,
        /// The driver error.
        #[source]
        source: postgres::Error,
    },

    /// `recreate-entity` was given an entity key the manifest does not have.
    #[error("unknown entity {entity:?}{}; `compass db recreate-entity --list` shows them all", if suggestions.is_empty() { String::new() } else { format!(" (did you mean {}?)", suggestions.join(", ")) })]
    UnknownEntity {
        /// The key asked for.
        entity: String,
        /// The closest keys the manifest does have.
        suggestions: Vec<String>,
    },

    /// Recreating an entity would discard the rows its tables hold.
    #[error("entity {entity} holds {} row(s) ({}); recreating it discards them: pass --force to do it anyway", rows.iter().map(|(_, n)| n).sum::<i64>(), rows.iter().map(|(t, n)| format!("{t}: {n}")).collect::<Vec<_>>().join(", "))]
    EntityHasRows {
        /// The entity key.
        entity: String,
        /// Row count per table that holds rows.
        rows: Vec<(String, i64)>,
    },

    /// An environment's roles own, or own objects or rights in, databases its teardown
    /// would not drop: dropping the roles would fail half-way.
    #[error(
        "environment {env} is still used by {}: its roles own it or objects in it; drop {} first (`compass db drop NAME -y`, or `compass db teardown NAME -y` for one of them) or give what you keep to other roles; nothing was dropped",
        databases.join(", "),
        if databases.len() == 1 { "it" } else { "them" }
    )]
    EnvironmentInUse {
        /// The environment.
        env: String,
        /// The databases, sorted.
        databases: Vec<String>,
    },

    /// Objects outside an entity depend on it and would be lost with it.
    #[error("entity {entity} cannot be recreated on its own: {} would be lost with it ({}); recreate the whole database instead", if objects.len() == 1 { "another object".to_string() } else { format!("{} other objects", objects.len()) }, objects.join(", "))]
    DependentObjects {
        /// The entity key.
        entity: String,
        /// The objects (as PostgreSQL describes them).
        objects: Vec<String>,
    },

    /// The database lacks a function this operation calls.
    #[error(
        "database {database} has no function {function}; it was built from a schema without it: rebuild it with `compass db recreate`"
    )]
    MissingFunction {
        /// Database.
        database: String,
        /// The function's signature.
        function: String,
    },

    /// The request is valid but this tool cannot do it (for this tree, server or
    /// login); the message says what would work instead.
    #[error("not supported: {0}")]
    Unsupported(String),

    /// A failure inside ores-sql itself (a worker thread panicked, an invariant did
    /// not hold): not the input's fault.
    #[error(
        "internal failure: {0}; this is a bug in ores-sql, please report it with the log (RUST_LOG=ores_sql=debug)"
    )]
    Internal(String),

    /// The test harness could not set up or clean up (feature `testing`).
    #[error("test harness: {0}")]
    Harness(String),

    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Formats a driver error with SQLSTATE when the server sent one.
pub(crate) fn describe_pg(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("SQLSTATE {}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Extension trait to attach context to driver errors.
pub(crate) trait PgContext<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
}

impl<T> PgContext<T> for std::result::Result<T, postgres::Error> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Postgres {
            context: context.into(),
            source,
        })
    }
}

impl Error {
    /// The SQLSTATE of the PostgreSQL error behind this one, if any.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Script(f) => Some(&f.sqlstate),
            Error::Postgres { source, .. } => source.as_db_error().map(|d| d.code().code()),
            _ => None,
        }
    }
}
