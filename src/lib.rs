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

pub mod admin;
mod apply;
pub mod config;
pub mod drop;
pub mod entity;
pub mod envfile;
pub mod error;
pub mod grants;
pub mod ident;
pub mod inspect;
pub mod lifecycle;
pub mod lint;
pub mod manifest;
pub mod psql;
pub mod registry;
pub mod reset;
pub mod roles;
pub mod scan;
pub mod testing;
pub mod validate;
pub mod version;

pub use apply::APPLIED_SCRIPTS_TABLE;
pub use config::{Config, Secret};
pub use error::{Error, Result, ScriptFailure};
pub use lifecycle::{
    BuildReport, TeardownReport, recreate, recreate_with, setup, setup_with, teardown,
};
pub use manifest::{Manifest, Phase, Script};
pub use version::{BuildInfo, Drift};
