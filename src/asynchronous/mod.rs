//! The async API (cargo feature `tokio`): what a service or an integration test on
//! tokio calls, without blocking a runtime worker.
//!
//! The lifecycle runs on tokio's blocking pool (the build is a long sequence of
//! dependent statements; async would buy it nothing), so these functions need a tokio
//! runtime with its blocking pool, which every runtime built by `#[tokio::main]` or
//! `#[tokio::test]` has, of either flavour. Sessions for the service's own work are
//! `tokio_postgres` clients ([`connect`], `TestDatabase::connect`).
//!
//! ```no_run
//! # async fn run() -> ores_sql::Result<()> {
//! let config = ores_sql::Config::load()?;
//! let report = ores_sql::asynchronous::recreate(&config).await?;
//! println!("built {}", report.database);
//! # Ok(())
//! # }
//! ```
//!
//! The sync API also works inside a runtime, but blocks the calling worker while it
//! runs (see the crate's README).

use crate::config::Config;
use crate::error::{Error, Result};
use crate::lifecycle::version::Drift;
use crate::lifecycle::{BuildReport, RunOptions, TeardownReport};
use crate::server::admin::connect_message;
#[cfg(feature = "testing")]
use crate::testing::TestDatabase;
use crate::tree::manifest::Manifest;
use std::time::Duration;

/// Runs blocking work on tokio's blocking pool; a panic in it is passed on unchanged.
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio_rt::task::spawn_blocking(f).await {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Io {
            context: what.to_string(),
            source: std::io::Error::other(e),
        }),
    }
}

/// [`crate::recreate`] on the blocking pool.
pub async fn recreate(config: &Config) -> Result<BuildReport> {
    let config = config.clone();
    blocking("recreating the database", move || {
        crate::lifecycle::recreate(&config)
    })
    .await
}

/// [`crate::setup`] on the blocking pool.
pub async fn setup(config: &Config) -> Result<BuildReport> {
    let config = config.clone();
    blocking("setting up the database", move || {
        crate::lifecycle::setup(&config)
    })
    .await
}

/// [`crate::recreate_with`] (another manifest, other options) on the blocking pool.
pub async fn recreate_with(
    config: &Config,
    manifest: &Manifest,
    options: &RunOptions,
) -> Result<BuildReport> {
    let (config, manifest, options) = (config.clone(), manifest.clone(), options.clone());
    blocking("recreating the database", move || {
        crate::lifecycle::recreate_with(&config, &manifest, &options)
    })
    .await
}

/// [`crate::setup_with`] (another manifest, other options) on the blocking pool.
pub async fn setup_with(
    config: &Config,
    manifest: &Manifest,
    options: &RunOptions,
) -> Result<BuildReport> {
    let (config, manifest, options) = (config.clone(), manifest.clone(), options.clone());
    blocking("setting up the database", move || {
        crate::lifecycle::setup_with(&config, &manifest, &options)
    })
    .await
}

/// [`crate::teardown`] on the blocking pool.
pub async fn teardown(config: &Config) -> Result<TeardownReport> {
    let config = config.clone();
    blocking("tearing down the environment", move || {
        crate::lifecycle::teardown(&config)
    })
    .await
}

/// [`crate::teardown_with`] (other options) on the blocking pool.
pub async fn teardown_with(config: &Config, options: &RunOptions) -> Result<TeardownReport> {
    let (config, options) = (config.clone(), options.clone());
    blocking("tearing down the environment", move || {
        crate::lifecycle::teardown_with(&config, &options)
    })
    .await
}

/// [`check_database`](crate::lifecycle::version::check_database) (drift of the
/// configured database from the compiled-in schema) on the blocking pool.
pub async fn check_database(config: &Config) -> Result<Drift> {
    let config = config.clone();
    blocking("checking the database", move || {
        crate::lifecycle::version::check_database(&config)
    })
    .await
}

/// A fresh `TestDatabase` (feature `testing`), made on the blocking pool. Dropping it drops the
/// database; that drop blocks its thread for the `DROP DATABASE` (a few
/// milliseconds), which is safe inside a runtime.
#[cfg(feature = "testing")]
pub async fn test_database() -> Result<TestDatabase> {
    blocking("making a test database", TestDatabase::new).await
}

/// Opens a `tokio_postgres` session with a driver configuration from this crate (e.g.
/// [`Config::role_pg_config`] or `TestDatabase::pg_config`), its connection task
/// spawned on the current runtime. Gives up after `timeout` for the whole exchange.
pub async fn connect(pg: &postgres::Config, timeout: Duration) -> Result<tokio_postgres::Client> {
    let target = describe(pg);
    let settings = to_async(pg);
    let connecting = settings.connect(tokio_postgres::NoTls);
    match tokio_rt::time::timeout(timeout, connecting).await {
        Ok(Ok((client, connection))) => {
            tokio_rt::spawn(async move {
                if let Err(e) = connection.await {
                    log::warn!("session to {target} ended: {}", connect_message(&e));
                }
            });
            Ok(client)
        }
        Ok(Err(e)) => Err(Error::Connect {
            target,
            message: connect_message(&e),
        }),
        Err(_) => Err(crate::server::admin::no_answer(target, timeout)),
    }
}

#[cfg(feature = "testing")]
impl TestDatabase {
    /// An async session as a login user by suffix (`ddl_user`, `cli_user`, a
    /// service's `iam_service`, ...), like [`TestDatabase::user`].
    pub async fn connect(&self, suffix: &str) -> Result<tokio_postgres::Client> {
        connect(&self.pg_config(suffix), self.config().connect_timeout).await
    }
}

/// Who and where, for messages; never the password.
fn describe(pg: &postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "?".to_string(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{} as {}",
        pg.get_dbname().unwrap_or(""),
        pg.get_user().unwrap_or("")
    )
}

/// The same settings for the async driver (the sync one wraps it but gives no way
/// back).
fn to_async(pg: &postgres::Config) -> tokio_postgres::Config {
    let mut out = tokio_postgres::Config::new();
    for host in pg.get_hosts() {
        match host {
            postgres::config::Host::Tcp(h) => out.host(h),
            postgres::config::Host::Unix(p) => out.host_path(p),
        };
    }
    for port in pg.get_ports() {
        out.port(*port);
    }
    if let Some(v) = pg.get_dbname() {
        out.dbname(v);
    }
    if let Some(v) = pg.get_user() {
        out.user(v);
    }
    if let Some(v) = pg.get_password() {
        out.password(v);
    }
    if let Some(v) = pg.get_options() {
        out.options(v);
    }
    if let Some(v) = pg.get_application_name() {
        out.application_name(v);
    }
    if let Some(v) = pg.get_connect_timeout() {
        out.connect_timeout(*v);
    }
    out
}
