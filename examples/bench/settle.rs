//! What the bench waits for between timed runs: the work a recreate leaves running
//! after its swap (dropping the previous copy, making the next spare copy), in this
//! process or another, has to be over before the next run starts, or that run pays
//! for it.

use crate::Res;
use ores_sql::Config;
use ores_sql::server::admin::connect_admin;
use std::time::{Duration, Instant};

/// How long to wait for other sessions on the environment's databases.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until the work after the previous run's swap is done: this process's
/// background work; the `compass db tidy` process a `compass db recreate` left
/// (while it runs, then its hold on the environment's lock); then until no backend
/// but ours is connected to any database whose name starts with the environment's
/// (the live one, staging, the template, the spare and the retired copies), giving
/// up after a minute with a warning.
pub(crate) fn settle_between_runs(config: &Config) -> Res<()> {
    ores_sql::lifecycle::retire::wait_for_background();
    let deadline = Instant::now() + PATIENCE;
    let tidying = format!("db tidy --database {}", config.database);
    while std::process::Command::new("pgrep")
        .args(["-f", &tidying])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(ores_sql::lifecycle::EnvLock::acquire(
        connect_admin(config)?,
        config,
    )?);
    let mut admin = connect_admin(config)?;
    loop {
        let others: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE pid <> pg_backend_pid() AND starts_with(datname, $1)",
                &[&config.database],
            )?
            .get(0);
        if others == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            eprintln!(
                "warning: {others} sessions still on {}* after {} s; going on",
                config.database,
                PATIENCE.as_secs()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
