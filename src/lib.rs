//! # ores-sql
//!
//! Builds a complete PostgreSQL database for ORE Studio services from SQL compiled
//! into the binary: environment-scoped roles, per-service least-privilege users, the
//! schema and its seed data. There are no migrations: a schema change is applied by
//! [`recreate`], which builds the new database beside the old one and swaps it in.
//!
//! ```no_run
//! let config = ores_sql::Config::load()?;
//! let report = ores_sql::recreate(&config)?;
//! println!("built {} from {} scripts", report.database, report.scripts_applied);
//! # Ok::<(), ores_sql::Error>(())
//! ```

#![warn(missing_docs)]

#[cfg(feature = "tokio")]
pub mod asynchronous;
pub mod config;
pub mod error;
pub mod lifecycle;
mod runtime;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tree;
pub mod validate;

pub use config::{Config, Secret};
pub use error::{Error, Result, ScriptFailure};
pub use lifecycle::version::{BuildInfo, Drift};
pub use lifecycle::{
    BuildReport, TeardownReport, recreate, recreate_with, setup, setup_with, teardown,
};
/// `#[ores_sql::test]`: a test that takes a fresh `testing::TestDatabase` (feature
/// `testing`; see the README's "Test harness" section).
pub use ores_sql_macros::test;
pub use server::apply::APPLIED_SCRIPTS_TABLE;
pub use tree::manifest::{Manifest, Phase, Script};
