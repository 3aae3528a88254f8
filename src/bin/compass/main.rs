//! `compass`: the command line for building and inspecting ORE Studio databases.
//!
//! It parses arguments (`cli`), calls the library (`db`, `env`) and prints (`render`,
//! `ui`); every decision, including which databases may be touched, lives in
//! `ores_sql`.

mod cli;
mod db;
mod env;
mod render;
mod ui;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Target, Top};
use ores_sql::{Config, Error, Manifest};
use std::process::ExitCode;
use ui::Refusal;

/// Why a command did not succeed.
pub enum Failure {
    Lib(Error),
    Cli(Refusal),
    /// Already reported on standard output (e.g. `version --json`); exit 1 quietly.
    Reported,
    /// A failure of a command whose exit 1 means an answer (`db diff`: drift): the
    /// error is printed like any other, with exit status 2.
    Errored(Box<Failure>),
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

pub type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let version: &'static str = Box::leak(
        format!(
            "{} (schema {}, {} scripts)",
            ores_sql::CRATE_VERSION,
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
    ui::init_logging(match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    });
    let outcome = match cli.command {
        Top::Db(command) => db::run(command),
        Top::Env(command) => env::run(command),
    };
    report(outcome)
}

fn report(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Errored(inner)) => {
            report(Err(*inner));
            ExitCode::from(2)
        }
        Err(Failure::Reported) => ExitCode::FAILURE,
        Err(Failure::Cli(Refusal(message))) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
        Err(Failure::Lib(e)) => {
            // The library's messages already say what to do; one line for a terminal.
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// The configuration, for `target`'s environment when it names one.
pub fn load(target: &Target) -> Result<Config, Error> {
    let config = Config::load()?;
    match &target.env {
        Some(env) => config.with_env(env),
        None => Ok(config),
    }
}
