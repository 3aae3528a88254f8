//! Resetting data without rebuilding the schema.
//!
//! The work is done by the tree's own SQL, which its `ores-sql.toml` names under
//! `[commands]` (`reset_system`, `reset_tenant`): this module runs that SQL in one
//! transaction as a login of the environment (`lifecycle::commands`) and reports
//! what it returned. Nothing here names a function of any schema.

use crate::config::Config;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::commands::{CommandReport, run_command};
use crate::server::admin::connect_admin_to;
use crate::tree::manifest::Manifest;

/// Runs the compiled tree's `[commands] reset_system` (our tree: purges non-system
/// tenants and their data, resets system IAM accounts and sessions, turns bootstrap
/// mode back on; reference data and the schema stay).
pub fn reset_system(config: &Config) -> Result<CommandReport> {
    reset_system_with(config, Manifest::compiled())
}

/// [`reset_system`] with another tree's `[commands]`.
pub fn reset_system_with(config: &Config, manifest: &Manifest) -> Result<CommandReport> {
    run_command(config, manifest, "reset_system", &[])
}

/// Runs the compiled tree's `[commands] reset_tenant` with `tenant_code` set (our
/// tree: resets one tenant's data and bootstrap flag; other tenants are untouched).
pub fn reset_tenant(config: &Config, tenant_code: &str) -> Result<CommandReport> {
    reset_tenant_with(config, Manifest::compiled(), tenant_code)
}

/// [`reset_tenant`] with another tree's `[commands]`.
pub fn reset_tenant_with(
    config: &Config,
    manifest: &Manifest,
    tenant_code: &str,
) -> Result<CommandReport> {
    if tenant_code.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "a tenant code is required (the code of one of the database's tenants)".into(),
        ));
    }
    run_command(
        config,
        manifest,
        "reset_tenant",
        &[("tenant_code", tenant_code)],
    )
}

/// Whether the configured database has `function` (a `name(argtypes)` signature).
pub fn has_function(config: &Config, function: &str) -> Result<bool> {
    crate::runtime::off_runtime(|| {
        let mut client = connect_admin_to(config, &config.database)?;
        Ok(client
            .query_one("SELECT to_regprocedure($1) IS NOT NULL", &[&function])
            .context("looking up a function")?
            .get(0))
    })
}
