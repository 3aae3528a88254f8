//! # ores-sql
//!
//! Builds a complete PostgreSQL database for ORE Studio services from SQL compiled
//! into the binary: environment-scoped roles, per-service least-privilege users, the
//! schema and its seed data. There are no migrations: a schema change is applied by
//! [`recreate`], which builds the new database beside the old one and swaps it in,
//! so a failed build leaves the previous database as it was.
//!
//! ## Where to start
//!
//! | you want to | use |
//! |---|---|
//! | read the configuration (`.env`, `ORES_*`, `PG*`) | [`Config::load`] |
//! | build or rebuild the environment's database | [`recreate`], [`setup`]; with [`RunOptions`] (`--kill`, `--rebuild`, `--workers`): [`recreate_with`], [`setup_with`] |
//! | remove the database and the environment's roles | [`teardown`], [`teardown_with`] |
//! | check at start-up that a database matches this binary | [`check_database`] |
//! | see what was changed by hand, and what a recreate would discard | [`diff`], [`plan`] |
//! | see what is on the server (status, roles, sessions) | [`inspect`] |
//! | check the schema against its conventions | [`validate::run`] |
//! | rebuild one entity, reset tenants, drop by name | [`lifecycle`] |
//! | look at the compiled-in scripts | [`Manifest::compiled`] |
//! | give each test a fresh database (feature `testing`) | `testing::TestDatabase`, [`macro@test`] |
//! | do all of that from async code (feature `tokio`) | `asynchronous` |
//!
//! Every entry point that creates, replaces, fills, drops or resets a database
//! refuses names outside the ORE Studio pattern and other environments' databases
//! ([`lifecycle::target`]), whoever calls it.
//!
//! ```no_run
//! let config = ores_sql::Config::load()?;
//! let report = ores_sql::recreate(&config)?;
//! println!("built {} from {} scripts", report.database, report.scripts_applied);
//! # Ok::<(), ores_sql::Error>(())
//! ```
//!
//! A service checking at start-up that its database was built from the schema it was
//! compiled with:
//!
//! ```no_run
//! use ores_sql::Drift;
//! let config = ores_sql::Config::load()?;
//! match ores_sql::check_database(&config)? {
//!     Drift::Current(_) => {}
//!     Drift::Stale(info) => eprintln!("database built from schema {}; rebuild it", info.schema_hash),
//!     Drift::NotOres => eprintln!("{} is not an ORE Studio database", config.database),
//! }
//! # Ok::<(), ores_sql::Error>(())
//! ```
//!
//! Cargo features: `cli` (default: the `compass` binary), `tokio` (the async API),
//! `testing` (the test harness; turn it on in `[dev-dependencies]`). `internals` is
//! for this crate's own tests only and is no API.

#![warn(missing_docs)]

#[cfg(feature = "tokio")]
pub mod asynchronous;
// The three lower layers (`build`: how one database is built; `server`: connection
// and DDL primitives; `tree`: the scanner, lint rules, registry and psql interpreter
// `build.rs` compiles too) are not an API a service should build on: what it needs
// of them is re-exported below. The crate's own tests, examples and benchmark reach
// into them through the `internals` feature, which only this crate's own
// dev-dependency turns on (hidden from the docs: nothing there is promised).
// Without it, what only those tests or the harness use is unused: allowed there, as
// it always was while these modules were public (public items are never "dead").
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod build;
#[cfg(not(feature = "internals"))]
#[allow(dead_code, unused_imports)]
pub(crate) mod build;
pub mod config;
pub mod docs;
mod error;
pub mod lifecycle;
mod runtime;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod server;
#[cfg(not(feature = "internals"))]
#[allow(dead_code, unused_imports)]
pub(crate) mod server;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod tree;
#[cfg(not(feature = "internals"))]
#[allow(dead_code, unused_imports)]
pub(crate) mod tree;
pub mod validate;

pub use config::{Config, Secret};
pub use error::{Error, Result, ScriptFailure};
pub use lifecycle::diff::{DiffReport, PlanReport, diff, diff_with, plan, plan_with};
pub use lifecycle::inspect;
pub use server::psql::command as psql_command;
// The tree's own types a caller meets through `Manifest` (its settings and registry),
// `validate` and `Error`.
pub use lifecycle::version::{BuildInfo, CRATE_VERSION, Drift, check_database};
pub use lifecycle::{
    BuildReport, RunOptions, TeardownReport, recreate, recreate_with, setup, setup_with, teardown,
    teardown_with,
};
/// `#[ores_sql::test]`: a test that takes a fresh `testing::TestDatabase` (feature
/// `testing`; see the README's "Test harness" section).
///
/// ```ignore
/// #[ores_sql::test]
/// fn tenants_are_seeded(db: ores_sql::testing::TestDatabase) {
///     let mut client = db.admin().unwrap();
///     let n: i64 = client.query_one("SELECT count(*) FROM ores_iam_tenants_tbl", &[]).unwrap().get(0);
///     assert!(n > 0);
/// }
/// ```
pub use ores_sql_macros::test;
pub use tree::lint::StaticViolation;
pub use tree::manifest::APPLIED_SCRIPTS_TABLE;
pub use tree::manifest::{Manifest, Phase, Script};
pub use tree::psql::PsqlError;
pub use tree::registry::{LoginUser, Registry, Service};
pub use tree::scan::ScanError;
pub use tree::settings::{ServiceDecl, SettingsError, TreeSettings};
pub use tree::source::SqlTree;
