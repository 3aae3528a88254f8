//! Which server the tests use: the configured one, the local one, or a private
//! throwaway cluster started from the installed PostgreSQL binaries.
//!
//! A private cluster belongs to the test *run*: under nextest (one process per test)
//! every process of the run shares one, found through `NEXTEST_RUN_ID`; otherwise it
//! belongs to the process. A detached watcher stops it and removes its directory when
//! the run's root process (nextest itself, or the test process) has exited, however it
//! exited, so not even a killed run leaves a server behind.

use crate::config::{Config, Secret};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Variable choosing the server: `auto` (default), `external` or `embedded`.
pub const SERVER_MODE_VAR: &str = "ORES_TEST_SERVER";

/// How the harness finds its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    /// The configured server; if none is configured, the local one if it answers,
    /// else a private cluster when the server binaries are installed.
    Auto,
    /// Only the configured (or default local) server.
    External,
    /// Always a private cluster.
    Embedded,
}

impl ServerMode {
    /// Reads [`SERVER_MODE_VAR`].
    pub fn from_env() -> Result<ServerMode> {
        match std::env::var(SERVER_MODE_VAR).ok().as_deref() {
            None | Some("") | Some("auto") => Ok(ServerMode::Auto),
            Some("external") => Ok(ServerMode::External),
            Some("embedded") => Ok(ServerMode::Embedded),
            Some(other) => Err(Error::Harness(format!(
                "{SERVER_MODE_VAR}={other:?}: expected auto, external or embedded"
            ))),
        }
    }
}

static CLUSTER: Mutex<Option<Arc<EmbeddedCluster>>> = Mutex::new(None);
static PRIVATE_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The administrative configuration of the server the tests use, and the private
/// cluster behind it if there is one.
pub(super) fn server() -> Result<(Config, Option<Arc<EmbeddedCluster>>)> {
    let config = Config::load()?;
    let embedded = match ServerMode::from_env()? {
        ServerMode::External => false,
        ServerMode::Embedded => true,
        ServerMode::Auto => !configured(&config) && !answers(&config) && bin_dir().is_some(),
    };
    if !embedded {
        return Ok((config, None));
    }
    let cluster = {
        let mut slot = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_ref() {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(EmbeddedCluster::for_this_run()?);
                *slot = Some(c.clone());
                c
            }
        }
    };
    Ok((cluster.config(config), Some(cluster)))
}

/// Whether the user pointed us at a server (exported or in `.env`).
fn configured(config: &Config) -> bool {
    let keys = ["PGHOST", "PGPORT", "ORES_DB_HOST", "ORES_DB_PORT"];
    if keys.iter().any(|k| std::env::var_os(k).is_some()) {
        return true;
    }
    config
        .dotenv_path
        .as_deref()
        .and_then(|p| crate::config::read_dotenv(p).ok())
        .is_some_and(|vars| keys.iter().any(|k| vars.contains_key(*k)))
}

/// Whether a server answers at the default address. One that answers but refuses us
/// (a password is needed, say) still counts: the user should fix the login, not get a
/// private cluster that hides the problem.
fn answers(config: &Config) -> bool {
    let mut pg = config.admin_pg_config(&config.admin_database);
    pg.connect_timeout(std::time::Duration::from_secs(2));
    match pg.connect(postgres::NoTls) {
        Ok(_) => true,
        Err(e) => e.as_db_error().is_some(),
    }
}

/// Directory holding `initdb` and `pg_ctl`: `ORES_TEST_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/<major>/bin`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ORES_TEST_PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A private PostgreSQL cluster in a temporary directory, reachable only through a
/// unix socket in that directory, with trust authentication and durability off.
#[derive(Debug)]
pub struct EmbeddedCluster {
    dir: PathBuf,
}

const PORT: u16 = 5432;

impl EmbeddedCluster {
    /// Starts (or joins) the private cluster of this test run.
    pub fn for_this_run() -> Result<EmbeddedCluster> {
        let bin = bin_dir().ok_or_else(|| {
            Error::Harness(
                "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql; install postgresql, set ORES_TEST_PG_BINDIR, or point the tests at a server with PGHOST/PGPORT".into(),
            )
        })?;
        // Under nextest the run outlives every test process; its runner is our parent.
        let (tag, watched) = match std::env::var("NEXTEST_RUN_ID") {
            Ok(run) if !run.is_empty() => {
                let d = Sha256::digest(run.as_bytes());
                let tag = hex::encode(&d[..6]);
                (format!("run{tag}"), std::os::unix::process::parent_id())
            }
            _ => {
                let me = super::owner::Owner::current();
                (format!("pid{}_{}", me.pid, me.start), me.pid)
            }
        };
        let user = whoami::username().unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("ores-sql-pg-{user}-{tag}"));
        EmbeddedCluster::start(&bin, dir, watched, None)
    }

    /// A cluster of its own for the calling process (removed when the process exits)
    /// that asks for a password: superuser `postgres` with `password`, SCRAM over its
    /// socket. For tests of what a wrong password does, which a trusting server
    /// cannot show.
    pub fn with_password(password: &Secret) -> Result<EmbeddedCluster> {
        let bin = bin_dir().ok_or_else(|| {
            Error::Harness("no PostgreSQL server binaries (initdb, pg_ctl) to start a password-protected cluster".into())
        })?;
        let me = super::owner::Owner::current();
        let user = whoami::username().unwrap_or_default();
        let n = PRIVATE_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ores-sql-pgpw-{user}-{}_{}_{n}", me.pid, me.start));
        EmbeddedCluster::start(&bin, dir, me.pid, Some(password))
    }

    fn start(
        bin: &Path,
        dir: PathBuf,
        watched: u32,
        password: Option<&Secret>,
    ) -> Result<EmbeddedCluster> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| io("creating the private cluster directory", e))?;
        let lock =
            File::create(dir.join("lock")).map_err(|e| io("creating the cluster lock", e))?;
        lock.lock()
            .map_err(|e| io("locking the cluster directory", e))?;
        let cluster = EmbeddedCluster { dir };
        if !cluster.dir.join("ready").exists() {
            cluster.init(bin, watched, password)?;
        }
        Ok(cluster)
    }

    /// The cluster's directory (data, socket, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `base` pointed at this cluster's socket and bootstrap superuser.
    pub fn config(&self, mut base: Config) -> Config {
        base.host = self.dir.display().to_string();
        base.port = PORT;
        base.admin_user = "postgres".into();
        base.admin_password = None;
        base.admin_database = "postgres".into();
        base
    }

    fn init(&self, bin: &Path, watched: u32, password: Option<&Secret>) -> Result<()> {
        let runner = Runner::new()?;
        if let Some((uid, gid)) = runner.ids {
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid))
                .map_err(|e| io("handing the cluster directory to the postgres user", e))?;
        }
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        // A process of this run that failed half-way through may have left a data
        // directory without marking it ready; initdb wants an empty one.
        if data.exists() {
            std::fs::remove_dir_all(&data)
                .map_err(|e| io("removing a half-made cluster directory", e))?;
        }
        // initdb reads the superuser's password from a file (never argv); it lives
        // only until initdb has read it.
        let pwfile = self.dir.join("pwfile");
        let auth_args: Vec<std::ffi::OsString> = match password {
            None => vec!["-A".into(), "trust".into()],
            Some(p) => {
                write_private(&pwfile, p.expose(), runner.ids)?;
                let mut file_arg = std::ffi::OsString::from("--pwfile=");
                file_arg.push(&pwfile);
                vec!["-A".into(), "scram-sha-256".into(), file_arg]
            }
        };
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "-D".as_ref(),
            data.as_os_str(),
            "-U".as_ref(),
            "postgres".as_ref(),
            "-E".as_ref(),
            "UTF8".as_ref(),
            "--locale=C".as_ref(),
            "--no-sync".as_ref(),
            "--no-instructions".as_ref(),
        ];
        args.extend(auth_args.iter().map(|a| a.as_os_str()));
        let made = runner.run(bin.join("initdb"), &args, "initdb");
        let _ = std::fs::remove_file(&pwfile);
        made?;
        // Throwaway data: durability buys nothing and costs every commit an fsync.
        let settings = format!(
            "\n# ores-sql private test cluster\nlisten_addresses = ''\nunix_socket_directories = '{}'\nport = {PORT}\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            self.dir.display()
        );
        let conf = data.join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&conf).map_err(|e| io("reading postgresql.conf", e))?;
        text.push_str(&settings);
        std::fs::write(&conf, text).map_err(|e| io("writing postgresql.conf", e))?;
        self.spawn_reaper(&runner, bin, watched)?;
        runner.run(
            bin.join("pg_ctl"),
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-s".as_ref(),
                "start".as_ref(),
            ],
            "pg_ctl start",
        )?;
        File::create(self.dir.join("ready")).map_err(|e| io("marking the cluster ready", e))?;
        Ok(())
    }

    /// A detached shell that waits for `watched` to exit, then stops the cluster and
    /// removes its directory. Started before the server so a crash in between still
    /// cleans up.
    fn spawn_reaper(&self, runner: &Runner, bin: &Path, watched: u32) -> Result<()> {
        let data = self.dir.join("data");
        let stop = format!(
            "{}{} -D {} -m immediate -w -s stop",
            runner.prefix(),
            sh_quote(&bin.join("pg_ctl").display().to_string()),
            sh_quote(&data.display().to_string())
        );
        let script = format!(
            "while kill -0 {watched} 2>/dev/null; do sleep 0.2; done; {stop} >/dev/null 2>&1; rm -rf {}",
            sh_quote(&self.dir.display().to_string())
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C aimed at the test run must not kill it.
            .process_group(0)
            .spawn()
            .map_err(|e| io("starting the cluster watcher", e))?;
        Ok(())
    }
}

/// Runs the server's tools as ourselves, or, when we are root (which `initdb` and
/// `postgres` refuse), as the unprivileged `postgres` user through `runuser`.
struct Runner {
    ids: Option<(u32, u32)>,
}

impl Runner {
    fn new() -> Result<Runner> {
        if !is_root() {
            return Ok(Runner { ids: None });
        }
        let ids = postgres_user_ids().ok_or_else(|| {
            Error::Harness(
                "running as root, and initdb refuses to: there is no `postgres` OS user to run a private test cluster as; create one, run the tests as another user, or point them at a server with PGHOST/PGPORT (and ORES_TEST_SERVER=external)".into(),
            )
        })?;
        Ok(Runner { ids: Some(ids) })
    }

    fn prefix(&self) -> &'static str {
        if self.ids.is_some() {
            "runuser -u postgres -- "
        } else {
            ""
        }
    }

    fn run(&self, program: PathBuf, args: &[&std::ffi::OsStr], what: &str) -> Result<()> {
        let mut cmd = if self.ids.is_some() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| io(&format!("running {what}"), e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Harness(format!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

/// Writes a file only its owner can read, handed to `ids` (the postgres user) if set.
fn write_private(path: &Path, text: &str, ids: Option<(u32, u32)>) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("writing the password file", e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| io("writing the password file", e))?;
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| io("handing the password file to the postgres user", e))?;
    }
    Ok(())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The `postgres` OS user's ids, from the system's user database (NSS, so LDAP or
/// systemd users count too).
fn postgres_user_ids() -> Option<(u32, u32)> {
    let user = nix::unistd::User::from_name("postgres").ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// A path quoted for `sh`; our paths never hold a NUL, the one thing it cannot quote.
fn sh_quote(s: &str) -> String {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| format!("'{s}'"))
}

fn io(context: &str, source: std::io::Error) -> Error {
    Error::Io {
        context: context.to_string(),
        source,
    }
}
