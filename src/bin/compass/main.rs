//! `compass`: the command line for building and inspecting ORE Studio databases.
//!
//! This file parses arguments and prints; every decision lives in `ores_sql`.

mod ui;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use ores_sql::config::envfile::{self, Format};
use ores_sql::server::inspect::{self, State, Status};
use ores_sql::{Config, Error, Manifest};
use serde_json::json;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use ui::{Refusal, confirm, short, spinner, table};

/// Build, rebuild, inspect and tear down ORE Studio PostgreSQL databases.
///
/// Configuration comes from `.env` (working directory, else the repository root, or
/// the file named by ORES_DOTENV) with exported ORES_* and PG* variables over it.
/// Schema changes are applied by `compass db recreate -y -k`: there are no migrations.
#[derive(Parser)]
#[command(name = "compass")]
struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// One environment's database: build, drop, inspect, reset.
    #[command(subcommand)]
    Db(Db),
    /// A whole environment (database and roles) and its configuration.
    #[command(subcommand)]
    Env(EnvCmd),
}

/// Which environment a command acts on.
#[derive(Args, Clone)]
struct Target {
    /// Environment label (default: ORES_ENV, else `local`); its database is then
    /// `ores_dev_<ENV>`.
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    env: Option<String>,
}

#[derive(Args, Clone, Copy)]
struct Yes {
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short = 'y', long = "yes")]
    yes: bool,
}

#[derive(Args, Clone, Copy)]
struct Kill {
    /// Terminate other sessions instead of refusing while they are connected.
    #[arg(short = 'k', long = "kill")]
    kill: bool,
}

#[derive(Subcommand)]
enum Db {
    /// Drop and rebuild the database from scratch (built beside the old one and
    /// swapped in, so a failed build leaves the old one intact).
    Recreate {
        /// Database to build instead of the environment's (must start with `ores_`).
        #[arg(short = 'D', long = "database", value_name = "NAME")]
        database: Option<String>,
        /// Build from the SQL even if the cached template of the last build matches.
        #[arg(long = "rebuild")]
        rebuild: bool,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        kill: Kill,
        #[command(flatten)]
        target: Target,
    },
    /// Create the database and apply everything, without dropping anything first;
    /// refuses if the database already holds a schema.
    Setup {
        /// Database to create instead of the environment's (must start with `ores_`).
        #[arg(value_name = "NAME")]
        database: Option<String>,
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
        yes: Yes,
        #[command(flatten)]
        kill: Kill,
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
        yes: Yes,
        #[command(flatten)]
        kill: Kill,
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
    /// Purge non-system tenants and their data, reset system IAM accounts and
    /// sessions, and turn bootstrap mode back on; reference data and the schema stay
    /// (calls ores_iam_reset_system_fn()).
    ResetSystem {
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        target: Target,
    },
    /// Reset one tenant's data and bootstrap flag; other tenants are untouched
    /// (calls ores_iam_reset_tenant_fn(code)).
    ResetTenant {
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
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Print the schema version recorded in the database (exit 1 if it has none).
    Version {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// List the ORE Studio databases (names starting `ores_`) on the server.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Show the roles an environment should have, whether they exist, and anything
    /// wrong with them.
    Roles {
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
        #[arg(long)]
        kill: bool,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        target: Target,
    },
    /// Check the schema against its conventions.
    Validate {
        #[command(flatten)]
        target: Target,
    },
    /// Re-run one entity's create and populate scripts in one transaction, with its
    /// policies and grants; refuses if its tables hold rows unless --force.
    RecreateEntity {
        /// The entity key, `<component>_<entity_plural>`, e.g. `iam_tenants`.
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
        sql_dir: Option<std::path::PathBuf>,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum EnvCmd {
    /// Tear the environment down (database and roles) and build it again from
    /// nothing.
    Recreate {
        /// Environment label.
        #[arg(short = 'e', long = "env", value_name = "ENV")]
        env: String,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        kill: Kill,
    },
    /// Drop the environment's database and roles.
    Teardown {
        /// Environment label.
        #[arg(short = 'e', long = "env", value_name = "ENV")]
        env: String,
        #[command(flatten)]
        yes: Yes,
        #[command(flatten)]
        kill: Kill,
    },
    /// Check that the configuration (.env plus exported variables) is complete and
    /// of a format version this compass understands; missing keys are listed.
    Check,
}

/// Why a command did not succeed.
enum Failure {
    Lib(Error),
    Cli(Refusal),
    /// Already reported on standard output (e.g. `version --json`); exit 1 quietly.
    Reported,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Lib(e)
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Cli(r)
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let version: &'static str = Box::leak(
        format!(
            "{} (schema {}, {} scripts)",
            ores_sql::lifecycle::version::CRATE_VERSION,
            Manifest::compiled().schema_hash(),
            Manifest::compiled().scripts().len()
        )
        .into_boxed_str(),
    );
    let matches = Cli::command().version(version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    ui::init_logging(level);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Reported) => ExitCode::FAILURE,
        Err(Failure::Cli(Refusal(message))) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
        Err(Failure::Lib(e)) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The library's message on one line, with what to do where the message lacks it.
fn one_line(e: &Error) -> String {
    let text = e.to_string().replace('\n', " ");
    let hint = match e {
        Error::NoSuchDatabase(_) => {
            "; build it with `compass db recreate` or check ORES_ENV / ORES_DB_NAME"
        }
        Error::InvalidIdentifier { .. } => {
            "; fix the value (in .env, the environment or the command line)"
        }
        Error::Postgres { .. } => "; see the PostgreSQL server log for more",
        _ => "",
    };
    format!("{text}{hint}")
}

fn load(target: &Target) -> Result<Config, Error> {
    let config = Config::load()?;
    match &target.env {
        Some(env) => config.with_env(env),
        None => Ok(config),
    }
}

fn load_env(env: &str) -> Result<Config, Error> {
    Config::load()?.with_env(env)
}

/// The database a build command acts on, refusing names outside the ORE pattern
/// (a recreate drops what it replaces).
fn build_target(target: &Target, database: Option<&str>) -> Result<Config, Error> {
    let config = load(target)?;
    let config = match database {
        Some(name) => config.with_database(name)?,
        None => config,
    };
    inspect::refuse_foreign(&config.database)?;
    Ok(config)
}

fn run(command: Top) -> Outcome {
    match command {
        Top::Db(db) => run_db(db),
        Top::Env(env) => run_env(env),
    }
}

fn run_db(command: Db) -> Outcome {
    match command {
        Db::Recreate {
            database,
            rebuild,
            yes,
            kill,
            target,
        } => {
            let mut config = build_target(&target, database.as_deref())?;
            config.terminate_connections = kill.kill;
            config.rebuild = rebuild;
            confirm(
                yes.yes,
                &format!(
                    "drop and rebuild database {} (environment {})",
                    config.database, config.env
                ),
            )?;
            recreate(&config)
        }
        Db::Setup { database, target } => {
            let config = build_target(&target, database.as_deref())?;
            let bar = spinner(format!("setting up {}", config.database));
            let report = ores_sql::setup(&config);
            drop(bar);
            let report = report?;
            println!(
                "set up {} (environment {}): {} scripts, schema {}, in {:.2} s",
                report.database,
                report.env,
                report.scripts_applied,
                short(&report.schema_hash),
                report.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Db::Drop {
            database,
            yes,
            kill,
            target,
        } => {
            let config = load(&target)?;
            // Refuse a protected name before asking anything about it.
            inspect::refuse_foreign(&database)?;
            confirm(yes.yes, &format!("drop database {database}"))?;
            if ores_sql::lifecycle::drop::drop_named(&config, &database, kill.kill)? {
                println!("dropped {database}");
            } else {
                println!("{database} does not exist; nothing to drop");
            }
            Ok(())
        }
        Db::Teardown {
            database,
            yes,
            kill,
            target,
        } => {
            let mut config = load(&target)?;
            config.terminate_connections = kill.kill;
            let name = database.clone().unwrap_or_else(|| config.database.clone());
            inspect::refuse_foreign(&name)?;
            confirm(
                yes.yes,
                &format!(
                    "drop database {name} and every role of environment {}",
                    config.env
                ),
            )?;
            teardown(&config, database.as_deref())
        }
        Db::Sql {
            role,
            psql,
            target,
            args,
        } => {
            let config = load(&target)?;
            let mut cmd = ores_sql::server::psql::command(&config, &psql, role.as_deref(), &args)?;
            // exec only returns on failure.
            let e = cmd.exec();
            Err(Refusal(format!(
                "cannot run {psql}: {e}; install postgresql-client or point ORES_PSQL (--psql) at psql"
            ))
            .into())
        }
        Db::ResetSystem { yes, target } => {
            let config = load(&target)?;
            confirm(
                yes.yes,
                &format!(
                    "reset system data of {} (purges every non-system tenant)",
                    config.database
                ),
            )?;
            let n = ores_sql::lifecycle::reset::reset_system(&config)?;
            println!(
                "reset system data of {}: {n} row(s) affected",
                config.database
            );
            Ok(())
        }
        Db::ResetTenant {
            tenant,
            yes,
            target,
        } => {
            let config = load(&target)?;
            confirm(
                yes.yes,
                &format!("reset the data of tenant {tenant} in {}", config.database),
            )?;
            let n = ores_sql::lifecycle::reset::reset_tenant(&config, &tenant)?;
            println!(
                "reset tenant {tenant} in {}: {n} row(s) affected",
                config.database
            );
            Ok(())
        }
        Db::Status { json, target } => {
            let status = inspect::status(&load(&target)?)?;
            if json {
                println!("{}", status_json(&status, true));
            } else {
                print_status(&status);
            }
            Ok(())
        }
        Db::Version { json, target } => {
            let status = inspect::status(&load(&target)?)?;
            if json {
                println!("{}", status_json(&status, false));
                return match status.recorded {
                    Some(_) => Ok(()),
                    None => Err(Failure::Reported),
                };
            }
            match (&status.recorded, status.state) {
                (Some(info), state) => {
                    println!(
                        "{}: schema {} ({} scripts), built {} by ores-sql {} on PostgreSQL {}{}",
                        status.database,
                        info.schema_hash,
                        info.script_count,
                        info.built_at,
                        info.crate_version,
                        info.server_version,
                        if state == State::Stale {
                            " (stale: this compass has another schema)"
                        } else {
                            ""
                        }
                    );
                    Ok(())
                }
                (None, State::Missing) => Err(Error::NoSuchDatabase(status.database).into()),
                (None, _) => Err(Refusal(format!(
                    "database {} has no build record, so it is not an ORE Studio database (or was not built by compass); rebuild it with `compass db recreate`",
                    status.database
                ))
                .into()),
            }
        }
        Db::List { target } => {
            let config = load(&target)?;
            let dbs = inspect::list_databases(&config)?;
            if dbs.is_empty() {
                println!("no ORE Studio databases on {}", config.server_label());
                return Ok(());
            }
            let mut t = table(["database", "owner", "size", "connections", "notes"]);
            for d in &dbs {
                let mut notes = Vec::new();
                if d.name == config.database {
                    notes.push(format!("environment {}", config.env));
                }
                if d.is_template {
                    notes.push("template".to_string());
                }
                if !d.allows_connections {
                    notes.push("not accepting connections".to_string());
                }
                t.add_row([
                    d.name.clone(),
                    d.owner.clone(),
                    d.size.clone(),
                    d.connections.to_string(),
                    notes.join(", "),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        Db::Roles { target } => {
            let config = load(&target)?;
            let roles = inspect::roles(&config, &config.env)?;
            let mut t = table([
                "role",
                "kind",
                "exists",
                "member of",
                "password",
                "problems",
            ]);
            for r in &roles {
                t.add_row([
                    r.name.clone(),
                    r.kind.to_string(),
                    if r.exists { "yes" } else { "MISSING" }.to_string(),
                    r.member_of.join(", "),
                    match r.has_password {
                        Some(true) => "set",
                        Some(false) => "none",
                        None => "",
                    }
                    .to_string(),
                    r.problems.join(", "),
                ]);
            }
            println!("{t}");
            let present = roles.iter().filter(|r| r.exists).count();
            let problems = roles.iter().filter(|r| !r.problems.is_empty()).count();
            println!(
                "environment {}: {present} of {} roles exist{}",
                config.env,
                roles.len(),
                if problems > 0 {
                    format!(
                        ", {problems} with problems (run `compass db recreate` to put them right)"
                    )
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        Db::Connections {
            database,
            kill,
            yes,
            target,
        } => {
            let config = load(&target)?;
            let name = database.unwrap_or_else(|| config.database.clone());
            if kill {
                inspect::refuse_foreign(&name)?;
                confirm(yes.yes, &format!("terminate every session on {name}"))?;
                let killed = inspect::kill_connections(&config, &name)?;
                println!("terminated {} session(s) on {name}", killed.len());
                return Ok(());
            }
            let sessions = inspect::connections(&config, &name)?;
            if sessions.is_empty() {
                println!("no sessions on {name}");
                return Ok(());
            }
            let mut t = table(["pid", "user", "application", "client", "state", "since"]);
            for s in &sessions {
                t.add_row([
                    s.pid.to_string(),
                    s.user.clone(),
                    s.application.clone(),
                    s.client.clone(),
                    s.state.clone(),
                    s.since.clone(),
                ]);
            }
            println!("{t}");
            println!("{} session(s) on {name}", sessions.len());
            Ok(())
        }
        Db::Validate { target } => {
            let config = load(&target)?;
            let report = ores_sql::validate::run(&config)?;
            print!("{report}");
            if report.is_clean() {
                Ok(())
            } else {
                // The report above already lists every violation with its rule id.
                Err(Failure::Reported)
            }
        }
        Db::RecreateEntity {
            entity,
            force,
            list,
            sql_dir,
            yes,
            target,
        } => {
            let loaded;
            let manifest = match &sql_dir {
                Some(dir) => {
                    loaded = Manifest::from_dir(dir)?;
                    &loaded
                }
                None => Manifest::compiled(),
            };
            if list {
                list_entities(manifest);
                return Ok(());
            }
            let entity = entity.unwrap_or_default();
            let config = load(&target)?;
            if force {
                confirm(
                    yes.yes,
                    &format!(
                        "recreate {entity} in {}, discarding the rows its tables hold",
                        config.database
                    ),
                )?;
            }
            let bar = spinner(format!("recreating {entity} in {}", config.database));
            let report = ores_sql::lifecycle::entity::recreate_entity_with(
                &config, manifest, &entity, force,
            );
            drop(bar);
            let report = report?;
            println!(
                "recreated {} in {}: {} script(s) ({}), table(s) {}",
                report.entity,
                config.database,
                report.scripts.len(),
                report.scripts.join(", "),
                if report.tables.is_empty() {
                    "none existed before".to_string()
                } else {
                    report.tables.join(", ")
                }
            );
            if report.rows_discarded > 0 {
                println!("discarded {} row(s) (--force)", report.rows_discarded);
            }
            if !report.foreign_keys_restored.is_empty() {
                println!(
                    "restored foreign key(s): {}",
                    report.foreign_keys_restored.join(", ")
                );
            }
            if report.database_was_stale {
                println!(
                    "note: {} was built from other scripts than these; run `compass db recreate` to bring all of it up to date",
                    config.database
                );
            }
            Ok(())
        }
    }
}

fn run_env(command: EnvCmd) -> Outcome {
    match command {
        EnvCmd::Recreate { env, yes, kill } => {
            let mut config = load_env(&env)?;
            config.terminate_connections = kill.kill;
            inspect::refuse_foreign(&config.database)?;
            confirm(
                yes.yes,
                &format!(
                    "tear down environment {env} (database {} and its roles) and build it again",
                    config.database
                ),
            )?;
            let bar = spinner(format!("recreating environment {env}"));
            let result = ores_sql::lifecycle::drop::recreate_environment(&config);
            drop(bar);
            let (removed, built) = result?;
            println!(
                "environment {env}: removed {} role(s){}; built {} from {} scripts, schema {}, in {:.2} s",
                removed.roles_dropped.len(),
                if removed.database_dropped {
                    " and the old database"
                } else {
                    ""
                },
                built.database,
                built.scripts_applied,
                short(&built.schema_hash),
                built.elapsed.as_secs_f64()
            );
            Ok(())
        }
        EnvCmd::Teardown { env, yes, kill } => {
            let mut config = load_env(&env)?;
            config.terminate_connections = kill.kill;
            confirm(
                yes.yes,
                &format!(
                    "drop database {} and every role of environment {env}",
                    config.database
                ),
            )?;
            teardown(&config, None)
        }
        EnvCmd::Check => {
            let check = envfile::check()?;
            match &check.path {
                Some(p) => println!("file:    {}", p.display()),
                None => println!("file:    none found (exported variables only)"),
            }
            let format = match &check.format {
                Format::Supported(n) => format!("{n} (supported)"),
                Format::Missing => {
                    format!("missing (this compass reads {})", envfile::FORMAT_VERSION)
                }
                Format::Unsupported(n) => format!(
                    "{n} (UNSUPPORTED: this compass reads {})",
                    envfile::FORMAT_VERSION
                ),
                Format::Malformed(v) => format!("{v:?} (not a number)"),
            };
            println!("format:  {format}");
            for key in &check.missing {
                println!("missing: {key}");
            }
            for key in &check.unknown {
                println!("unknown: {key} (not used by this compass; a typo?)");
            }
            match envfile::describe_failure(&check) {
                None => {
                    println!("ok: configuration is complete");
                    Ok(())
                }
                Some(e) => Err(e.into()),
            }
        }
    }
}

fn recreate(config: &Config) -> Outcome {
    let bar = spinner(format!("rebuilding {}", config.database));
    // Say it is ready as soon as it is; the previous copy is dropped meanwhile, and
    // compass exits only once that is done.
    let mut config = config.clone();
    config.retire_in_background = true;
    let report = ores_sql::recreate(&config);
    drop(bar);
    let report = report?;
    println!(
        "{} {} (environment {}): {} scripts, schema {}, {} build, usable in {:.2} s",
        if report.replaced { "rebuilt" } else { "built" },
        report.database,
        report.env,
        report.scripts_applied,
        short(&report.schema_hash),
        report.path.as_str(),
        report.usable_after.as_secs_f64()
    );
    ores_sql::lifecycle::retire::wait_for_background_drops();
    Ok(())
}

fn teardown(config: &Config, database: Option<&str>) -> Outcome {
    let bar = spinner(format!("tearing down environment {}", config.env));
    let report = ores_sql::lifecycle::drop::teardown_named(config, database);
    drop(bar);
    let report = report?;
    println!(
        "environment {}: {}; dropped {} role(s)",
        config.env,
        if report.database_dropped {
            format!("dropped {}", database.unwrap_or(&config.database))
        } else {
            format!("{} did not exist", database.unwrap_or(&config.database))
        },
        report.roles_dropped.len()
    );
    Ok(())
}

fn list_entities(manifest: &Manifest) {
    let mut t = table(["entity", "scripts"]);
    for entity in manifest.entities() {
        let scripts: Vec<String> = manifest
            .entity_scripts(entity)
            .iter()
            .map(|s| s.path.to_string())
            .collect();
        t.add_row([entity.to_string(), scripts.join("\n")]);
    }
    println!("{t}");
}

fn state_words(state: State) -> &'static str {
    match state {
        State::Current => "current: built from this compass's schema",
        State::Stale => {
            "STALE: built from another schema than this compass's; run `compass db recreate`"
        }
        State::NotOres => "not an ORE Studio database (no build record)",
        State::Missing => "missing: the database does not exist; run `compass db recreate`",
    }
}

fn print_status(status: &Status) {
    println!("environment:   {}", status.env);
    println!("database:      {} on {}", status.database, status.server);
    println!("state:         {}", state_words(status.state));
    if let Some(info) = &status.recorded {
        println!("recorded hash: {}", info.schema_hash);
        println!(
            "built:         {} by ores-sql {} on PostgreSQL {} ({} scripts)",
            info.built_at, info.crate_version, info.server_version, info.script_count
        );
    }
    println!(
        "this compass:  {} ({} scripts, ores-sql {})",
        status.compiled_schema_hash, status.compiled_script_count, status.crate_version
    );
    if status.state != State::Missing {
        let by_user = inspect::sessions_by_user(&status.sessions);
        let detail = by_user
            .iter()
            .map(|(u, n)| format!("{u} x{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "connections:   {}{}",
            status.sessions.len(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        );
    }
}

fn status_json(status: &Status, with_sessions: bool) -> serde_json::Value {
    let info = status.recorded.as_ref();
    let mut value = json!({
        "env": status.env,
        "database": status.database,
        "state": status.state.as_str(),
        "schema_hash": info.map(|i| i.schema_hash.clone()),
        "script_count": info.map(|i| i.script_count),
        "crate_version": info.map(|i| i.crate_version.clone()),
        "built_at": info.map(|i| i.built_at.clone()),
        "server_version": info.map(|i| i.server_version.clone()),
        "compiled_schema_hash": status.compiled_schema_hash,
    });
    if with_sessions {
        value["connections"] = json!(status.sessions.len());
        value["connections_by_user"] = json!(
            inspect::sessions_by_user(&status.sessions)
                .into_iter()
                .map(|(u, n)| json!({"user": u, "count": n}))
                .collect::<Vec<_>>()
        );
    }
    value
}
