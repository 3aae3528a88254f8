//! What built a database: the build record written at the end of every build, and
//! the cheap start-up check that compares it with this binary's manifest.
//!
//! The record is the engine's own (`ores_sql.builds`, owned by the administrator and
//! made before any script of the tree runs), so it reads the same on every tree,
//! whatever tables the tree defines.

pub use crate::build::record::{
    BUILD_TABLE, BuildPath, CRATE_VERSION, ENGINE_RECORD, ENGINE_SCHEMA,
};
use crate::config::Config;
use crate::error::{PgContext, Result};
use crate::tree::manifest::Manifest;
use postgres::Client;

/// The build record of a database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BuildInfo {
    /// Schema hash of the manifest it was built from.
    pub schema_hash: String,
    /// Number of scripts applied.
    pub script_count: i32,
    /// Version of ores-sql that built it.
    pub crate_version: String,
    /// When it was built (server time, RFC 3339).
    pub built_at: String,
    /// Server version at build time.
    pub server_version: String,
    /// How the database was made (`full`, `parallel`, `cached`, `incremental`).
    pub build_path: Option<String>,
    /// For an incremental build (and cached copies of one), the earlier build it
    /// started from: its schema hash, path and time.
    pub based_on: Option<String>,
    /// The administrative login that ran the build (or made the cached copy).
    pub built_by: Option<String>,
    /// The DDL login the tree's scripts ran as.
    pub ddl_login: Option<String>,
}

/// How a database compares with this binary's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Built from exactly this manifest.
    Current(BuildInfo),
    /// Built by ores-sql, from another manifest.
    Stale(BuildInfo),
    /// No build record: not an ORE Studio database (or a half-made one, or one built
    /// before the engine kept its own record).
    NotOres,
}

/// Reads the build record over any connection to the database (one query): as the
/// administrator, or as any role of the environment's groups.
pub fn build_info(client: &mut Client) -> Result<Option<BuildInfo>> {
    // Schema-qualified, and only built-in functions of pg_catalog (searched first):
    // nothing the tree defined runs when the administrator reads it.
    let rows = client
        .query(
            &format!(
                "SELECT schema_hash, script_count, crate_version,
                        pg_catalog.to_char(built_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        server_version, build_path, built_by, ddl_login,
                        pg_catalog.to_jsonb(b) OPERATOR(pg_catalog.->>) 'based_on'
                   FROM {ENGINE_RECORD} b LIMIT 1"
            ),
            &[],
        )
        .or_else(|e| {
            // No engine record: a database built before it existed, or not by us.
            if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) {
                Ok(Vec::new())
            } else {
                Err(e)
            }
        })
        .context("reading the build record")?;
    Ok(rows.first().map(|r| BuildInfo {
        schema_hash: r.get(0),
        script_count: r.get(1),
        crate_version: r.get(2),
        built_at: r.get(3),
        server_version: r.get(4),
        build_path: r.get(5),
        built_by: r.get(6),
        ddl_login: r.get(7),
        based_on: r.get(8),
    }))
}

/// The start-up drift check: compares the recorded hash with `manifest`'s.
pub fn drift(client: &mut Client, manifest: &Manifest) -> Result<Drift> {
    Ok(match build_info(client)? {
        None => Drift::NotOres,
        Some(info) if info.schema_hash == manifest.schema_hash() => Drift::Current(info),
        Some(info) => Drift::Stale(info),
    })
}

/// Connects to the configured database as the administrator and runs [`drift`]
/// against the compiled-in manifest: what a service calls at start-up.
///
/// ```no_run
/// let config = ores_sql::Config::load()?;
/// if let ores_sql::Drift::Stale(info) = ores_sql::check_database(&config)? {
///     eprintln!("{} was built from schema {}; run `compass db recreate`", config.database, info.schema_hash);
/// }
/// # Ok::<(), ores_sql::Error>(())
/// ```
pub fn check_database(config: &Config) -> Result<Drift> {
    crate::runtime::off_runtime(|| {
        let mut client = crate::server::admin::connect_admin_to(config, &config.database)?;
        drift(&mut client, Manifest::compiled())
    })
}
