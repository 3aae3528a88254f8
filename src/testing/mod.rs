//! Helpers for tests that need their own environment on a shared server.
//!
//! Labels are unique per process and call, and carry the process id so a later run
//! can tell whose leftovers it is looking at.

use crate::config::Config;
use crate::error::Result;
use crate::lifecycle::teardown;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A label no other test (in this or another process) is using:
/// `<prefix>_<pid>_<counter><time>`, within the environment label limit.
pub fn unique_label(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let prefix: String = prefix.chars().take(6).collect();
    format!("{prefix}_{}_{n}x{:x}", std::process::id(), nanos % 0xfff)
}

/// An environment of its own for one test, torn down (database and roles) on drop.
pub struct ScratchEnv {
    /// Configuration pointing at the scratch environment.
    pub config: Config,
}

impl ScratchEnv {
    /// Loads the ambient configuration and points it at a fresh environment label.
    pub fn new(prefix: &str) -> Result<ScratchEnv> {
        let mut config = Config::load()?.with_env(&unique_label(prefix))?;
        config.terminate_connections = true;
        Ok(ScratchEnv { config })
    }
}

impl Drop for ScratchEnv {
    fn drop(&mut self) {
        if let Err(e) = teardown(&self.config) {
            eprintln!("warning: could not tear down {}: {e}", self.config.env);
        }
    }
}
