//! Resetting data without rebuilding the schema.
//!
//! The work is done by SQL functions in the schema (`sql/README.md`, "Reset
//! functions"), so services can call exactly the same thing; this module only finds
//! the function, calls it in one transaction and reports what it returned.

use crate::config::Config;
use crate::error::{Error, PgContext, Result};
use crate::server::admin::{connect_admin, connect_admin_to, database_exists};
use crate::server::rights::AdminRights;

/// Signature of the function that resets system data.
pub const RESET_SYSTEM_FN: &str = "ores_iam_reset_system_fn()";
/// Signature of the function that resets one tenant's data.
pub const RESET_TENANT_FN: &str = "ores_iam_reset_tenant_fn(text)";

/// Purges non-system tenants and their data, resets system IAM accounts and sessions
/// and turns bootstrap mode back on; reference data and the schema stay. Returns the
/// number the function reports (rows affected).
pub fn reset_system(config: &Config) -> Result<i64> {
    crate::runtime::off_runtime(|| {
        call(
            config,
            RESET_SYSTEM_FN,
            "SELECT ores_iam_reset_system_fn()",
            None,
        )
    })
}

/// Resets one tenant's data and bootstrap flag; other tenants are untouched.
pub fn reset_tenant(config: &Config, tenant_code: &str) -> Result<i64> {
    crate::runtime::off_runtime(|| {
        if tenant_code.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "a tenant code is required (the code of a row of ores_iam_tenants_tbl)".into(),
            ));
        }
        call(
            config,
            RESET_TENANT_FN,
            "SELECT ores_iam_reset_tenant_fn($1)",
            Some(tenant_code),
        )
    })
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

fn call(config: &Config, function: &str, sql: &str, arg: Option<&str>) -> Result<i64> {
    config.validate()?;
    {
        let mut admin = connect_admin(config)?;
        crate::lifecycle::target::check(&mut admin, config)?;
        if !database_exists(&mut admin, &config.database)? {
            return Err(Error::NoSuchDatabase(config.database.clone()));
        }
        // The reset functions are the owner's to call (and the database the owner
        // group's to connect to).
        AdminRights::detect(&mut admin)?.join_owner(&mut admin, &config.env)?;
    }
    // Runs as the administrator: a superuser is not subject to row-level security,
    // so the function sees every tenant's rows whatever it does about policies. Any
    // other administrator calls it through its owner-group membership, and the
    // function switches tenants itself, as it does for the services.
    let mut client = connect_admin_to(config, &config.database)?;
    let mut tx = client
        .transaction()
        .context("opening the reset transaction")?;
    let present: bool = tx
        .query_one("SELECT to_regprocedure($1) IS NOT NULL", &[&function])
        .context("looking up the reset function")?
        .get(0);
    if !present {
        return Err(Error::MissingFunction {
            database: config.database.clone(),
            function: function.to_string(),
        });
    }
    let what = match arg {
        Some(code) => format!("resetting tenant {code:?} with {function}"),
        None => format!("resetting system data with {function}"),
    };
    let row = match arg {
        Some(code) => tx.query_one(sql, &[&code]),
        None => tx.query_one(sql, &[]),
    }
    .context(what.clone())?;
    // The contract says bigint; accept any integer so a function declared `integer`
    // still works.
    let count = row
        .try_get::<_, Option<i64>>(0)
        .or_else(|_| row.try_get::<_, Option<i32>>(0).map(|v| v.map(i64::from)))
        .context(what.clone())?
        .unwrap_or(0);
    tx.commit().context(what)?;
    Ok(count)
}
