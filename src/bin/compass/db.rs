//! `compass db ...`: one environment's database.

use crate::cli::{Db, Guard, Target, TestArgs, Yes};
use crate::render;
use crate::ui::{Refusal, can_confirm, confirm, with_spinner};
use crate::{Failure, Outcome, load};
use ores_sql::inspect::{self, ConnectionsReport, DatabaseListing, RolesReport, State};
use ores_sql::lifecycle::target::check_name;
use ores_sql::{Config, Error, RunOptions, SqlTree};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// The configuration for a command that builds or replaces `database` (default: the
/// environment's), refused before any question if the name may not be touched.
fn build_target(target: &Target, database: Option<&str>) -> Result<Config, Error> {
    let config = load(target)?;
    let config = match database {
        Some(name) => config.with_database(name)?,
        None => config,
    };
    check_name(&config.database)?;
    Ok(config)
}

pub fn run(command: Db) -> Outcome {
    match command {
        Db::Recreate {
            database,
            rebuild,
            workers,
            sql_dir,
            guard,
            target,
        } => recreate(database, rebuild, workers, sql_dir, guard, target),
        Db::Setup {
            database,
            sql_dir,
            target,
        } => setup(database, sql_dir, target),
        Db::Drop {
            database,
            guard,
            target,
        } => drop_database(database, guard, target),
        Db::Teardown {
            database,
            guard,
            target,
        } => teardown(database, guard, target),
        Db::Sql {
            role,
            psql,
            target,
            args,
        } => sql(role, psql, target, args),
        Db::ResetSystem {
            sql_dir,
            yes,
            target,
        } => reset_system(sql_dir, yes, target),
        Db::ResetTenant {
            tenant,
            sql_dir,
            yes,
            target,
        } => reset_tenant(tenant, sql_dir, yes, target),
        Db::Status {
            json,
            sql_dir,
            target,
        } => status(json, sql_dir, target),
        Db::Version {
            json,
            sql_dir,
            target,
        } => version(json, sql_dir, target),
        Db::List { json, target } => list(json, target),
        Db::Roles { json, target } => roles(json, target),
        Db::Connections {
            database,
            kill,
            json,
            yes,
            target,
        } => connections(database, kill, json, yes, target),
        Db::Docs {
            out,
            sql_dir,
            check,
            target,
        } => docs(out, sql_dir, check, target),
        Db::Validate {
            json,
            fail_on,
            sql_dir,
            target,
        } => validate(json, fail_on, sql_dir, target),
        Db::Diff {
            database,
            json,
            sql_dir,
            target,
        } => diff(database, json, sql_dir, target).map_err(|e| match e {
            // Exit 1 is the answer "drift"; any failure to give one is 2.
            Failure::Reported => Failure::Reported,
            e => Failure::Errored(Box::new(e)),
        }),
        Db::Plan {
            database,
            json,
            sql_dir,
            target,
        } => plan(database, json, sql_dir, target),
        Db::RecreateEntity {
            entity,
            force,
            list,
            sql_dir,
            yes,
            target,
        } => recreate_entity(entity, force, list, sql_dir, yes, target),
        Db::Test(args) => test(args),
        Db::Tidy { database, target } => {
            ores_sql::lifecycle::retire::tidy(&build_target(&target, database.as_deref())?)?;
            Ok(())
        }
    }
}

fn recreate(
    database: Option<String>,
    rebuild: bool,
    workers: Option<u16>,
    sql_dir: Option<PathBuf>,
    guard: Guard,
    target: Target,
) -> Outcome {
    let config = build_target(&target, database.as_deref())?;
    // Say it is ready as soon as it is, and return: the previous copy is dropped and
    // the next cached copy made by a process of its own (`tidy_in_background`).
    let mut options = RunOptions::new()
        .kill(guard.kill)
        .rebuild(rebuild)
        .tidy_later(true);
    if let Some(n) = workers {
        options = options.workers(n.into());
    }
    // A tree that does not read is refused before anything is asked.
    let tree = config.sql_tree(sql_dir.as_deref())?;
    // What will be thrown away, before the question. Without a way to ask, the
    // question fails at once and there is nothing to show first.
    // With -y it is only logged at info level, so without -v it is not made at all:
    // when no cached template matches, a plan builds the tree once more to compare.
    let shown = if guard.yes {
        log::log_enabled!(log::Level::Info)
    } else {
        can_confirm(false)
    };
    if shown {
        show_plan(&config, &tree, rebuild, guard.yes);
    }
    confirm(
        guard.yes,
        &format!(
            "drop and rebuild database {} (environment {})",
            config.database, config.env
        ),
    )?;
    let report = with_spinner(format!("rebuilding {}", config.database), || {
        ores_sql::recreate_with(&config, tree.manifest(), &options)
    })?;
    println!("{}", render::built(&report));
    tidy_in_background(&config, &target)
}

/// Starts `compass db tidy` for `config`'s database in a process of its own (its own
/// process group, so the terminal's Ctrl-C after compass returned does not reach it),
/// with the same environment; if it cannot be started, tidies here.
fn tidy_in_background(config: &Config, target: &Target) -> Outcome {
    let mut command =
        std::process::Command::new(std::env::current_exe().unwrap_or_else(|_| "compass".into()));
    command.args(["db", "tidy", "--database", &config.database]);
    if let Some(env) = &target.env {
        command.args(["--env", env]);
    }
    let started = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    if let Err(e) = started {
        log::info!("tidying here: no process for it ({e})");
        with_spinner("dropping the previous copy, keeping a spare", || {
            ores_sql::lifecycle::retire::tidy(config)
        })?;
    }
    Ok(())
}

/// The plan of a recreate, before it asks (logged at info level with `-y`). A plan
/// that cannot be made does not stop the recreate: it says why and asks as before.
fn show_plan(config: &Config, tree: &SqlTree, rebuild: bool, yes: bool) {
    let planned = with_spinner(
        format!("comparing {} with the tree", config.database),
        || ores_sql::plan_with(config, tree.manifest()),
    );
    match planned {
        Ok(mut plan) => {
            if rebuild {
                plan.path = "full".into();
            }
            let summary = render::plan(&plan);
            if yes {
                log::info!("{}", summary.trim_end());
            } else {
                eprint!("{summary}");
            }
        }
        Err(e) => log::warn!("cannot say what the recreate would change: {e}"),
    }
}

fn setup(database: Option<String>, sql_dir: Option<PathBuf>, target: Target) -> Outcome {
    let config = build_target(&target, database.as_deref())?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    let report = with_spinner(format!("setting up {}", config.database), || {
        ores_sql::setup_with(&config, tree.manifest(), &RunOptions::new())
    })?;
    println!("{}", render::set_up(&report));
    Ok(())
}

fn drop_database(database: String, guard: Guard, target: Target) -> Outcome {
    let config = load(&target)?;
    check_name(&database)?;
    confirm(guard.yes, &format!("drop database {database}"))?;
    if ores_sql::lifecycle::drop::drop_named(&config, &database, guard.kill)? {
        println!("dropped {database}");
    } else {
        println!("{database} does not exist; nothing to drop");
    }
    Ok(())
}

fn teardown(database: Option<String>, guard: Guard, target: Target) -> Outcome {
    let config = load(&target)?;
    let name = database.clone().unwrap_or_else(|| config.database.clone());
    check_name(&name)?;
    confirm(
        guard.yes,
        &format!(
            "drop database {name} and every role of environment {}",
            config.env
        ),
    )?;
    crate::env::teardown(
        &config,
        database.as_deref(),
        &RunOptions::new().kill(guard.kill),
    )
}

fn sql(role: Option<String>, psql: String, target: Target, args: Vec<OsString>) -> Outcome {
    let config = load(&target)?;
    let mut cmd = ores_sql::psql_command(&config, &psql, role.as_deref(), &args)?;
    // exec only returns on failure.
    let e = cmd.exec();
    Err(Refusal(format!(
        "cannot run {psql}: {e}; install postgresql-client or point ORES_PSQL (--psql) at psql"
    ))
    .into())
}

fn reset_system(sql_dir: Option<PathBuf>, yes: Yes, target: Target) -> Outcome {
    let config = load(&target)?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    confirm(
        yes.yes,
        &format!(
            "reset system data of {} (the tree's [commands] reset_system)",
            config.database
        ),
    )?;
    let report = ores_sql::lifecycle::reset::reset_system_with(&config, tree.manifest())?;
    print!(
        "{}",
        render::command(
            &format!("reset system data of {}", config.database),
            &report
        )
    );
    Ok(())
}

fn reset_tenant(tenant: String, sql_dir: Option<PathBuf>, yes: Yes, target: Target) -> Outcome {
    let config = load(&target)?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    confirm(
        yes.yes,
        &format!("reset the data of tenant {tenant} in {}", config.database),
    )?;
    let report = ores_sql::lifecycle::reset::reset_tenant_with(&config, tree.manifest(), &tenant)?;
    print!(
        "{}",
        render::command(
            &format!("reset tenant {tenant} in {}", config.database),
            &report
        )
    );
    Ok(())
}

fn status(json: bool, sql_dir: Option<PathBuf>, target: Target) -> Outcome {
    let config = load(&target)?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    let status = inspect::status_with(&config, tree.manifest())?;
    if json {
        render::json(&status.report());
    } else {
        print!("{}", render::status(&status));
    }
    Ok(())
}

fn version(json: bool, sql_dir: Option<PathBuf>, target: Target) -> Outcome {
    let config = load(&target)?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    let status = inspect::status_with(&config, tree.manifest())?;
    let mut report = status.version_report();
    // The tree's own row is read only from a database it built.
    if status.recorded.is_some() {
        report.tree_version = inspect::tree_version(&config, tree.manifest())?;
    }
    if json {
        render::json(&report);
        return match status.recorded {
            Some(_) => Ok(()),
            None => Err(Failure::Reported),
        };
    }
    match (&status.recorded, status.state) {
        (Some(info), state) => {
            println!("{}", render::version(&status.database, info, state));
            if let Some(row) = &report.tree_version {
                print!("{}", render::tree_version(row));
            }
            Ok(())
        }
        (None, State::Missing) => Err(Error::NoSuchDatabase(status.database).into()),
        (None, _) => Err(Refusal(format!(
            "database {} has no build record, so it is not an ORE Studio database (or was not built by this version of compass); rebuild it with `compass db recreate`",
            status.database
        ))
        .into()),
    }
}

fn list(json: bool, target: Target) -> Outcome {
    let config = load(&target)?;
    let listing = DatabaseListing {
        server: config.server_label(),
        env: config.env.clone(),
        env_database: config.database.clone(),
        databases: inspect::list_databases(&config)?,
    };
    if json {
        render::json(&listing);
    } else {
        println!("{}", render::databases(&listing));
    }
    Ok(())
}

fn roles(json: bool, target: Target) -> Outcome {
    let config = load(&target)?;
    let report = RolesReport {
        env: config.env.clone(),
        roles: inspect::roles(&config, &config.env)?,
    };
    if json {
        render::json(&report);
    } else {
        println!("{}", render::roles(&report));
    }
    Ok(())
}

fn connections(
    database: Option<String>,
    kill: bool,
    json: bool,
    yes: Yes,
    target: Target,
) -> Outcome {
    let config = load(&target)?;
    let name = database.unwrap_or_else(|| config.database.clone());
    if kill {
        check_name(&name)?;
        confirm(yes.yes, &format!("terminate every session on {name}"))?;
        let killed = inspect::kill_connections(&config, &name)?;
        println!("terminated {} session(s) on {name}", killed.len());
        return Ok(());
    }
    let report = ConnectionsReport {
        sessions: inspect::connections(&config, &name)?,
        database: name,
    };
    if json {
        render::json(&report);
    } else {
        println!("{}", render::connections(&report));
    }
    Ok(())
}

fn docs(out: PathBuf, sql_dir: Option<PathBuf>, check: bool, target: Target) -> Outcome {
    let config = load(&target)?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    let docs = with_spinner("building a scratch copy of the tree to document", || {
        ores_sql::docs::generate(&config, tree.manifest())
    })?;
    if !check {
        docs.write(&out)?;
        println!("wrote {} files to {}", docs.files.len(), out.display());
        return Ok(());
    }
    let stale = docs.check(&out)?;
    if stale.is_empty() {
        println!("{}: all {} files current", out.display(), docs.files.len());
        return Ok(());
    }
    for f in &stale {
        println!("differs: {}", out.join(f).display());
    }
    println!(
        "{} of the files in {} differ from what the tree builds now; run `compass db docs --out {}`",
        stale.len(),
        out.display(),
        out.display()
    );
    Err(Failure::Reported)
}

fn validate(
    json: bool,
    fail_on: Option<String>,
    sql_dir: Option<PathBuf>,
    target: Target,
) -> Outcome {
    let config = load(&target)?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    let report = ores_sql::validate::run_tree(&config, &tree)?;
    if json {
        render::json(&report);
    } else {
        print!("{report}");
    }
    // clap accepted only the three names.
    let threshold = fail_on
        .as_deref()
        .and_then(ores_sql::validate::Level::parse)
        .unwrap_or(report.fail_on);
    if !report.fails(threshold) {
        Ok(())
    } else {
        // The report above already lists every violation with its rule id.
        Err(Failure::Reported)
    }
}

fn recreate_entity(
    entity: Option<String>,
    force: bool,
    list: bool,
    sql_dir: Option<PathBuf>,
    yes: Yes,
    target: Target,
) -> Outcome {
    let config = load(&target)?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    let manifest = tree.manifest();
    if list {
        println!("{}", render::entities(manifest));
        return Ok(());
    }
    let entity = entity.unwrap_or_default();
    if force {
        confirm(
            yes.yes,
            &format!(
                "recreate {entity} in {}, discarding the rows its tables hold",
                config.database
            ),
        )?;
    }
    let report = with_spinner(
        format!("recreating {entity} in {}", config.database),
        || ores_sql::lifecycle::entity::recreate_entity_with(&config, manifest, &entity, force),
    )?;
    print!("{}", render::entity(&report, &config.database));
    Ok(())
}

fn test(args: TestArgs) -> Outcome {
    use ores_sql::testing::pgtap::{PgTapOptions, PgTapSuite};
    let mut options = PgTapOptions {
        files: args.files,
        timeout: std::time::Duration::from_secs(args.timeout),
        keep_failed: args.keep_failed,
        fresh: args.fresh,
        ..PgTapOptions::default()
    };
    if let Some(n) = args.jobs {
        options.jobs = n.into();
    }
    // The global -v/--verbose turns the logger to info; then every TAP line shows.
    let verbose = log::log_enabled!(log::Level::Info);
    let suite = PgTapSuite::open(args.sql_dir.as_deref())?;
    let json = args.json;
    let report = suite.run_with(&options, &|file| {
        if !json {
            print!("{}", render::test_file(file, verbose));
        }
    })?;
    drop(suite);
    if let Some(path) = &args.junit {
        std::fs::write(path, render::junit(&report)).map_err(|source| Error::Io {
            context: format!("writing {}", path.display()),
            source,
        })?;
    }
    if json {
        render::json(&report);
    } else {
        print!("{}", render::test_summary(&report, args.timer));
    }
    if report.passed() {
        Ok(())
    } else {
        Err(Failure::Reported)
    }
}

/// The configuration for `database` (default: the environment's).
fn target_config(target: &Target, database: Option<&str>) -> Result<Config, Error> {
    let config = load(target)?;
    match database {
        Some(name) => config.with_database(name),
        None => Ok(config),
    }
}

fn diff(database: Option<String>, json: bool, sql_dir: Option<PathBuf>, target: Target) -> Outcome {
    let config = target_config(&target, database.as_deref())?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    let report = with_spinner(
        format!("comparing {} with its build", config.database),
        || ores_sql::diff_with(&config, tree.manifest()),
    )?;
    if json {
        render::json(&report);
    } else {
        print!("{}", render::diff(&report));
    }
    if report.drift {
        // Exit 1 means drift; the report above lists it.
        return Err(Failure::Reported);
    }
    Ok(())
}

fn plan(database: Option<String>, json: bool, sql_dir: Option<PathBuf>, target: Target) -> Outcome {
    let config = target_config(&target, database.as_deref())?;
    let tree = config.sql_tree(sql_dir.as_deref())?;
    let report = with_spinner(
        format!("comparing {} with the tree", config.database),
        || ores_sql::plan_with(&config, tree.manifest()),
    )?;
    if json {
        render::json(&report);
    } else {
        print!("{}", render::plan(&report));
    }
    Ok(())
}
