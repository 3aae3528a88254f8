//! Who owns a test database, encoded in its name, and whether that owner still lives.
//!
//! A test database is named `ores_t_<key>_<host>_<pid>_<start>_<n>`: the template key
//! it was cloned from, a tag of the machine (boot id and pid namespace, so pids from
//! another host or container are never compared with ours), the owner's pid and its
//! start time (both base 36, so the name stays within the identifier limit) and a
//! per-process counter. The start time makes pid reuse harmless: a new process that
//! got the same pid has another start time.

use super::names::from_base36;
use sha2::{Digest, Sha256};

pub use super::names::base36;

/// Owner of test databases: this process, or one parsed from a database name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Machine tag (4 hex digits).
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot, as the kernel reports it.
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: host_tag(),
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// `<host>_<pid>_<start>` as it appears in names.
    pub fn tag(&self) -> String {
        format!(
            "{}_{}_{}",
            self.host,
            base36(self.pid as u64),
            base36(self.start)
        )
    }

    /// Whether the process is still running, judged from `/proc` (this host only).
    pub fn alive_here(&self) -> bool {
        self.host == host_tag() && start_time(self.pid) == Some(self.start)
    }
}

/// Parses an owner tag as made by [`Owner::tag`] (`<host>_<pid>_<start>`).
pub fn parse_tag(tag: &str) -> Option<Owner> {
    let parts: Vec<&str> = tag.split('_').collect();
    let [host, pid, start] = parts.as_slice() else {
        return None;
    };
    if host.len() != 4 || !host.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(Owner {
        host: host.to_string(),
        pid: u32::try_from(from_base36(pid)?).ok()?,
        start: from_base36(start)?,
    })
}

/// Start time of `pid` in clock ticks since boot: with the pid, it names one process
/// even after the pid is reused.
pub fn start_time(pid: u32) -> Option<u64> {
    let pid = i32::try_from(pid).ok()?;
    Some(
        procfs::process::Process::new(pid)
            .ok()?
            .stat()
            .ok()?
            .starttime,
    )
}

/// Identifies this machine and pid namespace: pids only mean something within both.
pub fn host_tag() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let digest = Sha256::digest(format!("{boot}|{ns}|{host}").as_bytes());
    hex::encode(&digest[..2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::names::{parse_test_db_name, test_db_name};

    #[test]
    fn names_round_trip_and_fit_the_identifier_limit() {
        let owner = Owner {
            host: "0a1f".into(),
            pid: 4_194_304,
            start: 78_000_000_000,
        };
        let name = test_db_name("0123456789ab", &owner, 123_456);
        assert!(name.len() <= crate::config::ident::MAX_DB_LEN, "{name}");
        crate::config::ident::validate_database_name(&name).unwrap();
        let parsed = parse_test_db_name(&name).unwrap();
        assert_eq!(parsed.owner, owner);
        assert_eq!(parsed.key, "0123456789ab");
        assert_eq!(parsed.n, 123_456);
    }

    #[test]
    fn foreign_names_are_not_parsed() {
        for name in [
            "ores_dev_local",
            "ores_t_x",
            "ores_tpl_0123",
            "ores_t_k_zz_1_2_3",
        ] {
            assert!(parse_test_db_name(name).is_none(), "{name}");
        }
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = Owner::current();
        assert!(me.alive_here());
        let reused = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert!(!reused.alive_here());
    }
}
