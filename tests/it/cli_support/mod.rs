//! Shared by the `cli_*` tests: a scratch environment and a `compass` command aimed
//! at it, isolated from any developer `.env`.

#![allow(dead_code)]

use assert_cmd::Command;
use ores_sql::testing::ScratchEnv;
use std::io::Write;

/// A scratch environment plus the `.env` the child process reads.
pub struct Cli {
    pub env: ScratchEnv,
    pub dotenv: tempfile::NamedTempFile,
}

impl Cli {
    /// A fresh environment with an empty `.env`.
    pub fn new(prefix: &str) -> Cli {
        Cli::with_dotenv(prefix, "")
    }

    /// A fresh environment whose `.env` holds `contents`.
    pub fn with_dotenv(prefix: &str, contents: &str) -> Cli {
        let env = ScratchEnv::new(prefix).expect("scratch environment");
        let mut dotenv = tempfile::NamedTempFile::new().expect("temp .env");
        dotenv.write_all(contents.as_bytes()).unwrap();
        Cli { env, dotenv }
    }

    pub fn label(&self) -> &str {
        &self.env.config.env
    }

    pub fn database(&self) -> &str {
        &self.env.config.database
    }

    /// `compass` with this environment's label and database, no terminal on stdin.
    pub fn compass(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_compass"));
        cmd.env("ORES_DOTENV", self.dotenv.path())
            .env("ORES_ENV", self.label())
            .env("ORES_DB_NAME", self.database())
            // ORE Studio's spellings of the two keys set here: exported by a developer
            // who sourced that project's .env, they would disagree with ours.
            .env_remove("ORES_ENV_NAME")
            .env_remove("ORES_DATABASE_NAME")
            .env_remove("RUST_LOG")
            .env_remove("ORES_PSQL");
        cmd
    }

    /// Builds the environment's database through the library (quicker to read in a
    /// test than through the binary, which has its own tests for this).
    pub fn build(&self) {
        ores_sql::recreate_with(
            &self.env.config,
            ores_sql::Manifest::compiled(),
            &self.env.options,
        )
        .expect("build");
    }

    /// A superuser connection to the environment's database.
    pub fn db(&self) -> postgres::Client {
        ores_sql::server::admin::connect_admin_to(&self.env.config, self.database()).unwrap()
    }

    /// A superuser connection to the maintenance database.
    pub fn admin(&self) -> postgres::Client {
        ores_sql::server::admin::connect_admin(&self.env.config).unwrap()
    }

    /// A session of our own on the database, as a developer's psql would be, and its
    /// backend pid.
    pub fn open_session(&self) -> (postgres::Client, i32) {
        let mut client = self.db();
        client
            .batch_execute("SET application_name = 'cli-test-holder'")
            .unwrap();
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        (client, pid)
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_one(sql, &[]).unwrap().get(0)
    }
}

/// The standard output of a finished command, as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The standard error of a finished command, as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(crate) use crate::common;
#[allow(unused_imports)]
pub use common::fixture;
