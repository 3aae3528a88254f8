//! The command line: every subcommand and flag, and their `--help` text.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Build, rebuild, inspect and tear down ORE Studio PostgreSQL databases.
///
/// Configuration comes from `.env` (working directory, else the repository root, or
/// the file named by ORES_DOTENV) with exported ORES_* and PG* variables over it.
/// Schema changes are applied by `compass db recreate -y -k`: there are no migrations.
#[derive(Parser)]
#[command(name = "compass")]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Top,
}

#[derive(Subcommand)]
pub enum Top {
    /// One environment's database: build, drop, inspect, reset.
    #[command(subcommand)]
    Db(Db),
    /// A whole environment (database and roles) and its configuration.
    #[command(subcommand)]
    Env(EnvCmd),
}

/// Which environment a command acts on.
#[derive(Args, Clone)]
pub struct Target {
    /// Environment label (default: ORES_ENV, else `local`); its database is then
    /// `ores_dev_<ENV>`.
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    pub env: Option<String>,
}

#[derive(Args, Clone, Copy)]
pub struct Yes {
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

/// What every command that drops something takes: confirmation and what to do about
/// other sessions.
#[derive(Args, Clone, Copy)]
pub struct Guard {
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Terminate other sessions instead of refusing while they are connected.
    #[arg(short = 'k', long = "kill")]
    pub kill: bool,
}

#[derive(Subcommand)]
pub enum Db {
    /// Drop and rebuild the database from scratch (built beside the old one and
    /// swapped in, so a failed build leaves the old one intact).
    Recreate {
        /// Database to build instead of the environment's (must start with `ores_`).
        #[arg(short = 'D', long = "database", value_name = "NAME")]
        database: Option<String>,
        /// Build from the SQL even if the cached template of the last build matches.
        #[arg(long = "rebuild")]
        rebuild: bool,
        /// Apply a full build's independent scripts on N connections at once
        /// (default: ORES_DB_BUILD_WORKERS, else two per core; 1 is one transaction).
        #[arg(long = "workers", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=ores_sql::config::MAX_BUILD_WORKERS as i64))]
        workers: Option<u16>,
        /// Build the tree in this directory (laid out like `sql/`: numeric prefixes,
        /// or psql entry scripts named in its `ores-sql.toml`) instead of the one
        /// compiled in; its scripts and `\copy` data are read now.
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        target: Target,
    },
    /// Create the database and apply everything, without dropping anything first;
    /// refuses if the database already holds a schema.
    Setup {
        /// Database to create instead of the environment's (must start with `ores_`).
        #[arg(value_name = "NAME")]
        database: Option<String>,
        /// Build the tree in this directory (laid out like `sql/`: numeric prefixes,
        /// or psql entry scripts named in its `ores-sql.toml`) instead of the one
        /// compiled in; its scripts and `\copy` data are read now.
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Drop one ORE Studio database by name; refuses while others are connected
    /// unless --kill, and never drops postgres, template0, template1 or a database
    /// whose name does not start with `ores_`.
    Drop {
        /// The database to drop.
        #[arg(value_name = "NAME")]
        database: String,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        target: Target,
    },
    /// Drop the database (default: the environment's) and all of the environment's
    /// roles. Other environments are untouched.
    Teardown {
        /// Database to drop instead of the environment's (must start with `ores_`).
        #[arg(value_name = "NAME")]
        database: Option<String>,
        #[command(flatten)]
        guard: Guard,
        #[command(flatten)]
        target: Target,
    },
    /// Run psql against the environment's database. Credentials are passed in
    /// PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE, never on the command line;
    /// arguments after `--` go to psql unchanged.
    Sql {
        /// Log in as this role of the environment, by suffix (`cli_user`,
        /// `readonly_user`, `iam_service`, ...) or full name; default: the
        /// administrative login (PGUSER).
        #[arg(short = 'u', long = "user", value_name = "ROLE")]
        role: Option<String>,
        /// The psql program to run.
        #[arg(long, env = "ORES_PSQL", default_value = "psql", value_name = "PATH")]
        psql: String,
        #[command(flatten)]
        target: Target,
        /// Arguments for psql, e.g. `-- -c 'select 1'`.
        #[arg(last = true, value_name = "PSQL_ARGS")]
        args: Vec<OsString>,
    },
    /// Run the tree's `[commands] reset_system` (ores-sql.toml) in one transaction as
    /// its DDL login, printing what it returns. Our tree's purges non-system tenants
    /// and their data, resets system IAM accounts and sessions, and turns bootstrap
    /// mode back on; reference data and the schema stay.
    ResetSystem {
        /// Read the tree in this directory (laid out like `sql/`) instead of the one
        /// compiled in (default: ORES_SQL_DIR, else the compiled tree).
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        target: Target,
    },
    /// Run the tree's `[commands] reset_tenant` (ores-sql.toml) with the psql
    /// variable `tenant_code`, in one transaction as its DDL login, printing what it
    /// returns. Our tree's resets one tenant's data and bootstrap flag; other
    /// tenants are untouched.
    ResetTenant {
        /// Read the tree in this directory (laid out like `sql/`) instead of the one
        /// compiled in (default: ORES_SQL_DIR, else the compiled tree).
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        /// The tenant's code.
        #[arg(short = 't', long = "tenant", value_name = "CODE")]
        tenant: String,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        target: Target,
    },
    /// Say whether the database is current, stale or not an ORE Studio database,
    /// with its recorded build and who is connected.
    Status {
        /// Read the tree in this directory (laid out like `sql/`) instead of the one
        /// compiled in (default: ORES_SQL_DIR, else the compiled tree).
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        /// Print JSON instead of text (docs/json.md).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Print the schema version recorded in the database (exit 1 if it has none), and
    /// the tree's own version row when its ores-sql.toml names a `[version] query`.
    Version {
        /// Read the tree in this directory (laid out like `sql/`) instead of the one
        /// compiled in (default: ORES_SQL_DIR, else the compiled tree).
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        /// Print JSON instead of text (docs/json.md).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// List the ORE Studio databases (names starting `ores_`) on the server.
    List {
        /// Print JSON instead of text (docs/json.md).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Show the roles an environment should have, whether they exist, and anything
    /// wrong with them.
    Roles {
        /// Print JSON instead of text (docs/json.md).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Show the sessions connected to a database (default: the environment's), or
    /// terminate them with --kill.
    Connections {
        /// Database to look at instead of the environment's.
        #[arg(value_name = "NAME")]
        database: Option<String>,
        /// Terminate the sessions (ORE Studio databases only).
        #[arg(long, conflicts_with = "json")]
        kill: bool,
        /// Print JSON instead of text (docs/json.md).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        target: Target,
    },
    /// Write the schema documentation (a page per component with its tables, keys,
    /// policies and grants, ER diagrams in Mermaid and SVG, the service access map,
    /// schema.json) from a scratch build of the tree, dropped afterwards.
    Docs {
        /// Folder to write (or check).
        #[arg(long, value_name = "DIR", default_value = "docs/schema")]
        out: PathBuf,
        /// Document the tree in this directory instead of the one compiled in.
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        /// Write nothing; exit 1 naming the files that differ from what the tree
        /// builds now (for CI).
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Show what was changed by hand: the live database against the build it
    /// records, object by object (exit 0 when nothing drifted, 1 when something did,
    /// 2 on error).
    Diff {
        /// Database to look at instead of the environment's.
        #[arg(short = 'D', long = "database", value_name = "NAME")]
        database: Option<String>,
        /// Print JSON instead of text (docs/json.md).
        #[arg(long)]
        json: bool,
        /// The tree that built the database, when it is not the one compiled in.
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Show what `db recreate` would do now: its path, the scripts changed since the
    /// live build, the objects it changes and the rows it throws away.
    Plan {
        /// Database to look at instead of the environment's.
        #[arg(short = 'D', long = "database", value_name = "NAME")]
        database: Option<String>,
        /// Print JSON instead of text (docs/json.md).
        #[arg(long)]
        json: bool,
        /// Plan for the tree in this directory instead of the one compiled in.
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Check the schema against its conventions.
    Validate {
        /// Print JSON instead of text (docs/json.md).
        #[arg(long)]
        json: bool,
        /// Exit 1 when a violation is at least this bad (default: the tree's
        /// `[validate] fail_on`, else error).
        #[arg(long, value_name = "LEVEL", value_parser = ["error", "warning", "info"])]
        fail_on: Option<String>,
        /// Validate against the tree in this directory (its registry, its
        /// `validate-allow.txt`, and the list of `.sql` files no entry script reaches)
        /// instead of the one compiled in; the database must have been built from it.
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Re-run one entity's scripts in one transaction, with its policies and grants
    /// (numeric tree: its create and populate scripts; entry tree: its create script
    /// and the scripts named after it, after its drop script); refuses if its tables
    /// hold rows unless --force.
    RecreateEntity {
        /// The entity key, `<component>_<entity>`, e.g. `iam_tenants` (an entry tree's:
        /// `refdata_currencies` for `create/refdata/currencies_create.sql`).
        #[arg(value_name = "COMPONENT_ENTITY", required_unless_present = "list")]
        entity: Option<String>,
        /// Discard the rows the entity's tables hold (its populate script re-seeds).
        #[arg(long)]
        force: bool,
        /// List the entity keys and their scripts instead.
        #[arg(long, conflicts_with_all = ["entity", "force"])]
        list: bool,
        /// Take the scripts from this directory (laid out like `sql/`, with `create/`
        /// and `populate/`) instead of those compiled in: try an edit without
        /// rebuilding compass.
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        target: Target,
    },
    /// Run the tree's pgTAP tests (`[tests]` in its ores-sql.toml) on copies of the
    /// tree's test template (never an environment's database), several at once: a
    /// file that commits gets a copy of its own; `-v`/`--verbose` prints every TAP
    /// line.
    Test(TestArgs),
    /// The work a recreate leaves for after it returns (dropping the previous copy,
    /// making the next cached copy); compass runs it in a process of its own.
    #[command(hide = true)]
    Tidy {
        #[arg(short = 'D', long = "database", value_name = "NAME")]
        database: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
pub enum EnvCmd {
    /// Tear the environment down (database and roles) and build it again from
    /// nothing.
    Recreate {
        /// Environment label.
        #[arg(short = 'e', long = "env", value_name = "ENV")]
        env: String,
        /// Build the tree in this directory (laid out like `sql/`) instead of the one
        /// compiled in (default: ORES_SQL_DIR, else the compiled tree).
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
        #[command(flatten)]
        guard: Guard,
    },
    /// Drop the environment's database and roles.
    Teardown {
        /// Environment label.
        #[arg(short = 'e', long = "env", value_name = "ENV")]
        env: String,
        #[command(flatten)]
        guard: Guard,
    },
    /// Check that the configuration (.env plus exported variables) is complete and
    /// of a format version this compass understands; missing keys are listed.
    Check,
    /// Write a `.env` in the working directory for an environment, with a strong
    /// generated password for every login role (mode 0600; no secret is printed).
    Configure {
        /// Environment label.
        #[arg(short = 'e', long = "env", value_name = "ENV")]
        env: String,
        /// Replace an existing `.env` (every password in it changes).
        #[arg(long)]
        force: bool,
        /// Write a password for every login role of the tree in this directory (its
        /// `ores-sql.toml`) instead of the compiled-in one.
        #[arg(long, value_name = "DIR")]
        sql_dir: Option<PathBuf>,
    },
}

/// `compass db test`.
#[derive(Args)]
pub struct TestArgs {
    /// Test files to run (relative to the tree root or its tests folder); default:
    /// every file of the tests folder matching `[tests] pattern`.
    #[arg(value_name = "FILES")]
    pub files: Vec<String>,
    /// Test the tree in this directory (its `[tests]` folder is read now) instead of
    /// the one compiled in.
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<PathBuf>,
    /// Files run at once (default: the machine's cores).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Seconds a file may run before its session is ended and it counts as an error.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Keep the copy a failing file ran on and print how to connect to it.
    #[arg(long)]
    pub keep_failed: bool,
    /// Give every file a copy of its own (by default files that leave nothing
    /// behind run one after another on their worker's copy).
    #[arg(long)]
    pub fresh: bool,
    /// Print each file's time, slowest first.
    #[arg(long)]
    pub timer: bool,
    /// Also write the results as JUnit XML to FILE (what CI systems read).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print JSON instead of text (docs/json.md).
    #[arg(long)]
    pub json: bool,
}
