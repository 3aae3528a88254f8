//! `compass env ...`: a whole environment and its configuration.

use crate::Outcome;
use crate::cli::{EnvCmd, Guard};
use crate::render;
use crate::ui::{confirm, with_spinner};
use ores_sql::config::envfile;
use ores_sql::lifecycle::target::check_name;
use ores_sql::{Config, Error, RunOptions};

pub fn run(command: EnvCmd) -> Outcome {
    match command {
        EnvCmd::Recreate {
            env,
            sql_dir,
            guard,
        } => recreate(&env, sql_dir.as_deref(), guard),
        EnvCmd::Teardown { env, guard } => teardown_env(&env, guard),
        EnvCmd::Check => check(),
        EnvCmd::Configure {
            env,
            force,
            sql_dir,
        } => configure(&env, force, sql_dir.as_deref()),
    }
}

fn recreate(env: &str, sql_dir: Option<&std::path::Path>, guard: Guard) -> Outcome {
    let config = load_env(env)?;
    let options = RunOptions::new().kill(guard.kill);
    check_name(&config.database)?;
    // A tree that does not read is refused before anything is asked.
    let tree = config.sql_tree(sql_dir)?;
    confirm(
        guard.yes,
        &format!(
            "tear down environment {env} (database {} and its roles) and build it again",
            config.database
        ),
    )?;
    let (removed, built) = with_spinner(format!("recreating environment {env}"), || {
        ores_sql::lifecycle::drop::recreate_environment_with(&config, tree.manifest(), &options)
    })?;
    println!("{}", render::environment_rebuilt(env, &removed, &built));
    Ok(())
}

fn teardown_env(env: &str, guard: Guard) -> Outcome {
    let config = load_env(env)?;
    confirm(
        guard.yes,
        &format!(
            "drop database {} and every role of environment {env}",
            config.database
        ),
    )?;
    teardown(&config, None, &RunOptions::new().kill(guard.kill))
}

fn check() -> Outcome {
    let check = envfile::check()?;
    print!("{}", render::env_check(&check));
    match envfile::describe_failure(&check) {
        None => {
            println!("ok: configuration is complete");
            Ok(())
        }
        Some(e) => Err(e.into()),
    }
}

fn configure(env: &str, force: bool, sql_dir: Option<&std::path::Path>) -> Outcome {
    let dir = std::env::current_dir().map_err(|source| Error::Io {
        context: "finding the working directory".into(),
        source,
    })?;
    // ORES_SQL_DIR counts too: the `.env` being written may not exist yet, but the
    // environment's may name the tree.
    let tree = match sql_dir {
        Some(dir) => ores_sql::SqlTree::open(Some(dir))?,
        None => ores_sql::SqlTree::open(
            std::env::var_os("ORES_SQL_DIR")
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
                .as_deref(),
        )?,
    };
    let written = ores_sql::config::configure::write_env_file_in(
        &dir,
        env,
        force,
        tree.manifest().registry(),
    )?;
    println!("{}", render::configured(&written));
    Ok(())
}

fn load_env(env: &str) -> Result<Config, Error> {
    Config::load()?.with_env(env)
}

/// Drops `database` (default: the environment's) and the environment's roles.
pub fn teardown(config: &Config, database: Option<&str>, options: &RunOptions) -> Outcome {
    let report = with_spinner(format!("tearing down environment {}", config.env), || {
        ores_sql::lifecycle::drop::teardown_named(config, database, options)
    })?;
    println!(
        "{}",
        render::torn_down(config, database.unwrap_or(&config.database), &report)
    );
    Ok(())
}
