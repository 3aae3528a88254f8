//! Test support: a fresh, fully provisioned database per test in milliseconds
//! ([`TestDatabase`]), and whole scratch environments for tests of the lifecycle
//! itself ([`ScratchEnv`], [`unique_label`]).
//!
//! [`TestDatabase::new`] clones a template database that is built once per key (the
//! schema hash, the server's major version, the extension versions and the role and
//! grant layout), shared by every test thread and every test process on the server.
//! See docs/harness.md for the modes (configured server or a
//! private embedded cluster), the naming scheme and how leftovers are cleaned up.

#[doc(hidden)]
pub mod attribute;
mod cluster;
pub mod names;
pub mod owner;
pub mod pgtap;
pub mod pool;
pub mod template;
// The benchmark's and the scale tests' schema generator: tooling of this repository
// (examples/bench.rs, tests/it/parallel.rs, tests/it/entry_scale.rs), not a harness a
// service's tests need, so it sits behind `internals` with the other internals.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod workload;

pub use cluster::{EmbeddedCluster, SERVER_MODE_VAR, ServerMode};
pub use pool::{POOL_SIZE_VAR, pool_size, set_pool_size};

use crate::config::Config;
use crate::config::ident::{quote_ident, quote_literal};
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::{RunOptions, teardown_with};
use crate::server::admin::connect_within;
use crate::server::grants::database_grants_sql;
use crate::server::roles::role_name;
use crate::tree::manifest::Manifest;
use crate::tree::registry::SERVICES;
use names::{KEPT_COMMENT, TemplateKey, test_db_name};
use owner::Owner;
use postgres::Client;
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Separates a scratch label's free prefix from its owner part; no label a person
/// would choose has it, which is what makes a leftover recognisable as ours.
const SCRATCH_MARK: &str = "__";

/// A label no other test (in this or another process) is using:
/// `<prefix>__<host>_<pid>_<start>_<n>`. The owner part names the process (with its
/// start time, so a reused pid is not mistaken for it), which is how a later run
/// recognises the leftovers of a killed one.
pub fn unique_label(prefix: &str) -> String {
    let owner = Owner::current();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let label = label_of(prefix, &owner, u64::from(n));
        // A counter whose base-36 digits spell a reserved ending (`dq` is 494) would
        // make a label the engine refuses: such a number is skipped.
        if crate::tree::roles::label_conflict(&label, crate::tree::registry::Registry::compiled())
            .is_none()
        {
            return label;
        }
    }
}

/// The owner part's length varies with the pid and the machine's uptime (a start
/// time in clock ticks since boot), and the sweep needs all of it; the prefix, there
/// only to be read, gives way (down to its first letter) so that the label stays an
/// environment label on a long-running host with large pids.
fn label_of(prefix: &str, owner: &Owner, n: u64) -> String {
    let tail = format!("{SCRATCH_MARK}{}_{}", owner.tag(), owner::base36(n));
    let room = crate::config::ident::MAX_ENV_LEN
        .saturating_sub(tail.len())
        .clamp(1, 4);
    let prefix: String = prefix.chars().take(room).collect();
    format!("{prefix}{tail}")
}

/// The process that made a scratch label, if the label is one.
fn scratch_owner(label: &str) -> Option<Owner> {
    let (_, rest) = label.split_once(SCRATCH_MARK)?;
    let (tag, n) = rest.rsplit_once('_')?;
    n.bytes().all(|b| b.is_ascii_alphanumeric()).then_some(())?;
    owner::parse_tag(tag)
}

/// An environment of its own for one test, torn down (database and roles) on drop.
pub struct ScratchEnv {
    /// Configuration pointing at the scratch environment.
    pub config: Config,
    /// The options its runs take: [`RunOptions::kill`], because a session a test
    /// closed a moment ago may still be on its way out and nobody else uses a
    /// scratch environment; the rest are the defaults.
    pub options: RunOptions,
}

impl ScratchEnv {
    /// Loads the ambient configuration and points it at a fresh environment label.
    /// The first call of a process also tears down scratch environments whose
    /// process has died (a test killed before its `Drop` could run).
    pub fn new(prefix: &str) -> Result<ScratchEnv> {
        crate::runtime::off_runtime(|| ScratchEnv::new_here(prefix))
    }

    fn new_here(prefix: &str) -> Result<ScratchEnv> {
        let base = Config::load()?;
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| {
            if let Err(e) = sweep_dead_scratch_envs(&base) {
                eprintln!("warning: could not clean up dead scratch environments: {e}");
            }
        });
        let config = base.with_env(&unique_label(prefix))?;
        Ok(ScratchEnv {
            config,
            options: RunOptions::new().kill(true),
        })
    }
}

impl Drop for ScratchEnv {
    fn drop(&mut self) {
        let (config, options) = (&self.config, &self.options);
        if let Err(e) = crate::runtime::in_drop(|| teardown_with(config, options).map(drop)) {
            eprintln!("warning: could not tear down {}: {e}", config.env);
        }
    }
}

/// Tears down every scratch environment (found through its owner group role) whose
/// owning process no longer runs on this host. Returns the labels removed; one that
/// cannot be removed is logged and skipped.
pub fn sweep_dead_scratch_envs(base: &Config) -> Result<Vec<String>> {
    crate::runtime::off_runtime(|| {
        let mut admin = crate::server::admin::connect_admin(base)?;
        let labels: Vec<String> = admin
            .query(
                "SELECT substr(rolname, 6, length(rolname) - 11)::text FROM pg_roles
              WHERE rolname LIKE 'ores\\_%\\_\\_%\\_owner'",
                &[],
            )
            .context("listing scratch environments")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        drop(admin);
        let mut removed = Vec::new();
        for label in labels {
            let Some(owner) = scratch_owner(&label) else {
                continue;
            };
            if owner.host != Owner::current().host || owner.alive_here() {
                continue;
            }
            let config = base.clone().with_env(&label)?;
            // One environment that cannot go (something outside it holds on to its
            // roles) must not keep the others, nor fail the test that swept.
            match teardown_with(&config, &RunOptions::new().kill(true)) {
                Ok(_) => removed.push(label),
                Err(e) => log::warn!("could not sweep scratch environment {label}: {e}"),
            }
        }
        Ok(removed)
    })
}

/// The fixed id of the system tenant (`ores_utility_system_tenant_id_fn()`).
pub const SYSTEM_TENANT_ID: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";

/// Variable choosing how clones are copied: `wal_log` (default) or `file_copy`.
pub const CLONE_STRATEGY_VAR: &str = "ORES_TEST_CLONE_STRATEGY";

/// Prefix of the `application_name` of every harness anchor session; the rest is the
/// owner tag, which is how another process sees that this one is alive.
pub const ANCHOR_APP: &str = "ores-sql-test:";

/// What the process shares between all its test databases.
struct Harness {
    /// Administrative connection settings of the server in use.
    server: Config,
    owner: Owner,
    /// Holds the template use locks for the life of the process and does the
    /// template work; its `application_name` marks this process as alive.
    anchor: Mutex<Client>,
    /// The keys whose use lock the anchor holds (taken again on a new anchor).
    held: Mutex<Vec<String>>,
    /// The test databases this process holds, whose leases it renews.
    live: Mutex<HashSet<String>>,
    /// Idle administrative sessions, reused so a clone costs no connection set-up.
    idle: Mutex<Vec<Client>>,
    /// Templates ready for cloning, by manifest schema hash.
    templates: Mutex<HashMap<String, Arc<TemplateKey>>>,
    counter: AtomicU64,
    strategy: &'static str,
    /// Keys whose pool a thread of this process is refilling right now.
    refilling: Mutex<HashSet<String>>,
    /// Keeps a private cluster referenced for as long as the process runs.
    _cluster: Option<Arc<EmbeddedCluster>>,
}

static HARNESS: Mutex<Option<Arc<Harness>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding a lock leaves the data usable: every value
    // behind these locks is consistent between statements.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn harness() -> Result<Arc<Harness>> {
    let mut slot = lock(&HARNESS);
    if let Some(h) = slot.as_ref() {
        return Ok(h.clone());
    }
    let h = Arc::new(Harness::start()?);
    h.heartbeat();
    *slot = Some(h.clone());
    Ok(h)
}

impl Harness {
    fn start() -> Result<Harness> {
        let strategy = match std::env::var(CLONE_STRATEGY_VAR).ok().as_deref() {
            None | Some("") | Some("wal_log") => "WAL_LOG",
            Some("file_copy") => "FILE_COPY",
            Some(other) => {
                return Err(Error::Harness(format!(
                    "{CLONE_STRATEGY_VAR}={other:?}: expected wal_log or file_copy"
                )));
            }
        };
        let (server, cluster) = cluster::server()?;
        let owner = Owner::current();
        let mut anchor = connect_anchor(&server, &owner)?;
        let live: Vec<String> = anchor
            .query(
                "SELECT substr(application_name, length($1) + 1) FROM pg_stat_activity
                  WHERE starts_with(application_name, $1)",
                &[&ANCHOR_APP],
            )
            .context("listing live test processes")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        template::remove_orphans(&mut anchor, &live, template::lease())?;
        Ok(Harness {
            server,
            owner,
            anchor: Mutex::new(anchor),
            held: Mutex::new(Vec::new()),
            live: Mutex::new(HashSet::new()),
            idle: Mutex::new(Vec::new()),
            templates: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
            strategy,
            refilling: Mutex::new(HashSet::new()),
            _cluster: cluster,
        })
    }

    /// The anchor session, made again (with every use lock this process held) if the
    /// server ended it: a lost anchor must not leave this process looking dead.
    fn anchor(&self) -> Result<MutexGuard<'_, Client>> {
        let mut anchor = lock(&self.anchor);
        if anchor.is_closed() || anchor.simple_query("").is_err() {
            let mut fresh = connect_anchor(&self.server, &self.owner)?;
            for short in lock(&self.held).iter() {
                template::hold_use(&mut fresh, short)?;
            }
            *anchor = fresh;
            log::warn!("the test harness's anchor session was lost; made it again");
        }
        Ok(anchor)
    }

    /// Every [`LEASE_REFRESH`](template::LEASE_REFRESH): checks the anchor (making it
    /// again if lost) and renews the lease of every database this process holds, so a
    /// sweep from another pid namespace, which cannot see this process, leaves them.
    fn heartbeat(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(template::LEASE_REFRESH);
                let Some(harness) = weak.upgrade() else {
                    return;
                };
                harness.beat();
            }
        });
    }

    fn beat(&self) {
        if let Err(e) = self.anchor() {
            log::warn!("could not re-establish the test harness's anchor session: {e}");
        }
        let names: Vec<String> = lock(&self.live).iter().cloned().collect();
        if !names.is_empty()
            && let Err(e) = self.run(&template::renew_leases_sql(&names), "renewing leases")
        {
            log::warn!("could not renew the leases of this process's test databases: {e}");
        }
    }

    /// The ready template for `manifest`, built on first use.
    fn template(&self, manifest: &Manifest) -> Result<Arc<TemplateKey>> {
        let key = self.template_unswept(manifest)?;
        self.sweep(&[]);
        Ok(key)
    }

    /// [`template`](Self::template) without removing unused templates: for a caller
    /// that derives a template of its own from this one ([`pgtap`]), which would
    /// otherwise be removed before it could take its use lock; it calls
    /// [`sweep`](Self::sweep) with that template's key afterwards.
    fn template_unswept(&self, manifest: &Manifest) -> Result<Arc<TemplateKey>> {
        let mut templates = lock(&self.templates);
        if let Some(t) = templates.get(manifest.schema_hash()) {
            return Ok(t.clone());
        }
        let mut anchor = self.anchor()?;
        let key = template::template_key(&mut anchor, manifest, &self.server.extensions)?;
        template::ensure_template(&mut anchor, &self.server, manifest, &key)?;
        lock(&self.held).push(key.short.clone());
        let key = Arc::new(key);
        templates.insert(manifest.schema_hash().to_string(), key.clone());
        Ok(key)
    }

    /// Removes the templates of keys nobody uses, except this process's and `also`.
    fn sweep(&self, also: &[String]) {
        let mut keep: Vec<String> = lock(&self.templates)
            .values()
            .map(|k| k.short.clone())
            .collect();
        keep.extend(also.iter().cloned());
        // Old templates are a nuisance, not a failure: a later run retries.
        let removed = self
            .anchor()
            .and_then(|mut anchor| template::remove_unused(&mut anchor, &keep, template::grace()));
        if let Err(e) = removed {
            log::warn!("could not remove unused test templates: {e}");
        }
    }

    fn admin(&self) -> Result<Client> {
        while let Some(c) = lock(&self.idle).pop() {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        crate::server::admin::connect_admin(&self.server)
    }

    fn give_back(&self, client: Client) {
        if !client.is_closed() {
            lock(&self.idle).push(client);
        }
    }

    /// Clones the template of `key` into the test database `name`, with the
    /// database-level privileges (they live in the shared catalog and `CREATE DATABASE`
    /// does not copy them) and this process's lease.
    ///
    /// A new database has the default ACL, which lets PUBLIC connect, until the grants
    /// run; so it is created closed to connections and opened only once they are in
    /// place. Nobody, the harness included, can connect to it in between.
    fn make_clone(&self, admin: &mut Client, key: &TemplateKey, name: &str) -> Result<()> {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {} OWNER {} STRATEGY {} ALLOW_CONNECTIONS false",
                quote_ident(name),
                quote_ident(&key.template_name()),
                quote_ident(&role_name(&key.label(), "owner")),
                self.strategy
            ))
            .context(format!("cloning {} into {name}", key.template_name()))?;
        admin
            .batch_execute(&open_sql(key, name))
            .context(format!("granting access to {name}"))
    }

    /// Makes a ready clone for the pool: owned by the administrator, closed, without
    /// `PUBLIC`'s privileges (no role of the key can open or alter it), and marked
    /// ready last, so a clone without the mark is known to be half made.
    fn make_ready_clone(&self, admin: &mut Client, key: &TemplateKey, name: &str) -> Result<()> {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {} STRATEGY {} ALLOW_CONNECTIONS false",
                quote_ident(name),
                quote_ident(&key.template_name()),
                self.strategy
            ))
            .context(format!("cloning {} into {name}", key.template_name()))?;
        admin
            .batch_execute(&format!(
                "REVOKE ALL ON DATABASE {n} FROM PUBLIC;
                 COMMENT ON DATABASE {n} IS {};",
                quote_literal(pool::READY_COMMENT),
                n = quote_ident(name),
            ))
            .context(format!("marking {name} as a ready clone"))
    }

    /// Tops up the pool of ready clones of `key` on a background thread (at most one
    /// per key in this process).
    fn refill_later(self: &Arc<Self>, key: &Arc<TemplateKey>) {
        if pool_size() == 0 || !lock(&self.refilling).insert(key.short.clone()) {
            return;
        }
        let (harness, key) = (self.clone(), key.clone());
        std::thread::spawn(move || {
            let outcome = harness.admin().and_then(|mut admin| {
                let done = pool::refill(
                    &mut admin,
                    &key,
                    || {
                        let n = harness.counter.fetch_add(1, Ordering::Relaxed);
                        format!(
                            "{}{}_{}",
                            names::pool_prefix(&key.short),
                            harness.owner.tag(),
                            owner::base36(n)
                        )
                    },
                    |admin, name| harness.make_ready_clone(admin, &key, name),
                );
                harness.give_back(admin);
                done
            });
            if let Err(e) = outcome {
                log::warn!("could not refill the pool of ready test databases: {e}");
            }
            lock(&harness.refilling).remove(&key.short);
        });
    }

    /// Runs `sql` on a pooled administrative session.
    fn run(&self, sql: &str, what: impl Into<String>) -> Result<()> {
        let mut admin = self.admin()?;
        let done = admin.batch_execute(sql).context(what);
        self.give_back(admin);
        done
    }
}

/// A database of its own for one test: a clone of the template built from the
/// compiled-in schema, with roles, grants and seed data. Dropped (`WITH (FORCE)`) when
/// the handle is dropped, unless [`keep`](TestDatabase::keep) is called.
///
/// ```no_run
/// let db = ores_sql::testing::TestDatabase::new()?;
/// let mut iam = db.service("iam")?;
/// let mut tenant = db.tenant_session("iam", ores_sql::testing::SYSTEM_TENANT_ID)?;
/// # Ok::<(), ores_sql::Error>(())
/// ```
pub struct TestDatabase {
    name: String,
    config: Config,
    harness: Arc<Harness>,
    kept: bool,
    /// Set by `#[ores_sql::test]` when failed tests keep their database: the drop then
    /// hands the database back for the test's outcome to decide.
    hand_back: Option<std::sync::mpsc::Sender<TestDatabase>>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("env", &self.config.env)
            .finish()
    }
}

impl TestDatabase {
    /// A fresh database built from the compiled-in manifest.
    pub fn new() -> Result<TestDatabase> {
        TestDatabase::with_manifest(Manifest::compiled())
    }

    /// A fresh database built from another manifest (its own template, its own key).
    pub fn with_manifest(manifest: &Manifest) -> Result<TestDatabase> {
        crate::runtime::off_runtime(|| {
            let harness = harness()?;
            let key = harness.template(manifest)?;
            let n = harness.counter.fetch_add(1, Ordering::Relaxed);
            let name = test_db_name(&key.short, &harness.owner, n);
            let config = harness
                .server
                .clone()
                .with_env(&key.label())?
                .with_database(&name)?;
            let mut admin = harness.admin()?;
            let claimed = if pool_size() > 0 {
                let owner = role_name(&key.label(), "owner");
                pool::claim(
                    &mut admin,
                    &key.short,
                    &owner,
                    &name,
                    &open_sql(&key, &name),
                )
            } else {
                Ok(None)
            };
            let made = match claimed {
                Ok(Some(())) => Ok(()),
                Ok(None) => harness.make_clone(&mut admin, &key, &name),
                Err(e) => Err(e),
            };
            harness.give_back(admin);
            made?;
            lock(&harness.live).insert(name.clone());
            harness.refill_later(&key);
            Ok(TestDatabase {
                name,
                config,
                harness,
                kept: false,
                hand_back: None,
            })
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The environment label of its roles (`t_<key>`); role names are
    /// `ores_<label>_<suffix>`.
    pub fn env(&self) -> &str {
        &self.config.env
    }

    /// Configuration pointing at this database and its roles, usable with every API of
    /// this crate (administrative login = the harness's superuser).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Full name of a role of this database's environment, e.g. `role("ddl_user")`.
    pub fn role(&self, suffix: &str) -> String {
        role_name(&self.config.env, suffix)
    }

    /// Driver configuration to log in as `ores_<label>_<suffix>` (password from the
    /// configuration's `ORES_DB_<SUFFIX>_PASSWORD`, if any).
    pub fn pg_config(&self, suffix: &str) -> postgres::Config {
        self.config
            .role_pg_config(&self.role(suffix), self.config.password_for(suffix))
    }

    /// libpq key/value connection string for `ores_<label>_<suffix>`. It never holds a
    /// password: use [`pg_config`](Self::pg_config), or `PGPASSWORD`, where one is needed.
    pub fn connection_string(&self, suffix: &str) -> String {
        let pg = self.pg_config(suffix);
        conninfo(&pg)
    }

    /// Connection string of the owner (the DDL user).
    pub fn owner_connection_string(&self) -> String {
        self.connection_string("ddl_user")
    }

    /// A session as the administrative superuser.
    pub fn admin(&self) -> Result<Client> {
        crate::server::admin::connect_admin_to(&self.config, &self.name)
    }

    /// A session as the DDL user (member of the owner role).
    pub fn ddl_user(&self) -> Result<Client> {
        self.connect_as("ddl_user", self.pg_config("ddl_user"))
    }

    /// A session as a login user by suffix (`cli_user`, `readonly_user`, ...).
    pub fn user(&self, suffix: &str) -> Result<Client> {
        self.connect_as(suffix, self.pg_config(suffix))
    }

    /// A session as a domain service's user, e.g. `service("iam")`.
    pub fn service(&self, service: &str) -> Result<Client> {
        let suffix = service_suffix(service)?;
        self.connect_as(&suffix, self.pg_config(&suffix))
    }

    /// A session as a service's user with `ores.tenant_id` and `ores.service` set from
    /// the start, so row-level security scopes every statement to that tenant.
    pub fn tenant_session(&self, service: &str, tenant_id: &str) -> Result<Client> {
        let suffix = service_suffix(service)?;
        if !is_uuid(tenant_id) {
            return Err(Error::InvalidArgument(format!(
                "tenant id {tenant_id:?} is not a uuid"
            )));
        }
        let mut pg = self.pg_config(&suffix);
        pg.options(&format!(
            "-c ores.tenant_id={tenant_id} -c ores.service={service}"
        ));
        self.connect_as(&suffix, pg)
    }

    fn connect_as(&self, suffix: &str, pg: postgres::Config) -> Result<Client> {
        connect_within(
            pg,
            self.config.connect_timeout,
            format!(
                "{}/{} as {}",
                self.config.server_label(),
                self.name,
                self.role(suffix)
            ),
        )
    }

    /// Keeps the database after the handle is gone (for debugging) and prints its name.
    /// Cleanup of later runs leaves it alone; drop it by hand when done.
    pub fn keep(mut self) -> String {
        self.kept = true;
        let name = std::mem::take(&mut self.name);
        lock(&self.harness.live).remove(&name);
        let marked = crate::runtime::off_runtime(|| {
            self.harness.run(
                &format!(
                    "COMMENT ON DATABASE {} IS {}",
                    quote_ident(&name),
                    quote_literal(KEPT_COMMENT)
                ),
                format!("marking {name} as kept"),
            )
        });
        if let Err(e) = marked {
            eprintln!("warning: {e}; a later test run may remove {name}");
        }
        eprintln!(
            "kept test database {name} on {} (roles ores_{}_*); remove it with DROP DATABASE {name} WITH (FORCE)",
            self.config.server_label(),
            self.config.env
        );
        name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if let Some(tx) = self.hand_back.take() {
            let handed = TestDatabase {
                name: std::mem::take(&mut self.name),
                config: self.config.clone(),
                harness: self.harness.clone(),
                kept: false,
                hand_back: None,
            };
            // If nobody waits for it any more, it comes back in the error and drops
            // there as usual.
            let _ = tx.send(handed);
            return;
        }
        let (harness, name) = (&self.harness, &self.name);
        lock(&harness.live).remove(name);
        if let Err(e) = crate::runtime::in_drop(|| {
            harness.run(
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)),
                format!("dropping {name}"),
            )
        }) {
            eprintln!("warning: could not drop {name}: {e}; a later test run will remove it");
        }
    }
}

/// What makes a clone of `key` the usable test database `name`: the key's roles'
/// database privileges, the owner's lease (see [`template::remove_orphans`]), and
/// only then `ALLOW_CONNECTIONS true`.
fn open_sql(key: &TemplateKey, name: &str) -> String {
    format!(
        "{}\n{}\nALTER DATABASE {} ALLOW_CONNECTIONS true;",
        database_grants_sql(&key.label(), name),
        template::renew_leases_sql(&[name.to_string()]),
        quote_ident(name)
    )
}

/// The anchor session: its `application_name` carries the owner tag, which is how
/// other processes on the server see that this one is alive.
fn connect_anchor(server: &Config, owner: &Owner) -> Result<Client> {
    let mut pg = server.admin_pg_config(&server.admin_database);
    pg.application_name(&format!("{ANCHOR_APP}{}", owner.tag()));
    connect_within(
        pg,
        server.connect_timeout,
        format!(
            "{}/{} as {}",
            server.server_label(),
            server.admin_database,
            server.admin_user
        ),
    )
}

fn service_suffix(service: &str) -> Result<String> {
    SERVICES
        .iter()
        .find(|s| s.name == service)
        .map(|s| s.password_key())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no service {service:?} in the registry (known: {})",
                SERVICES
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Renders the non-secret parts of a driver configuration as a libpq conninfo string.
fn conninfo(pg: &postgres::Config) -> String {
    let quote = |v: &str| {
        if !v.is_empty() && !v.contains([' ', '\'', '\\']) {
            v.to_string()
        } else {
            format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
        }
    };
    let mut parts = Vec::new();
    if let Some(host) = pg.get_hosts().first() {
        let h = match host {
            postgres::config::Host::Tcp(h) => h.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
        };
        parts.push(format!("host={}", quote(&h)));
    }
    if let Some(port) = pg.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(db) = pg.get_dbname() {
        parts.push(format!("dbname={}", quote(db)));
    }
    if let Some(user) = pg.get_user() {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(options) = pg.get_options() {
        parts.push(format!("options={}", quote(options)));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_labels_fit_and_name_their_owner_even_for_large_pids_and_long_uptimes() {
        let owners = [
            Owner {
                host: "0a1f".into(),
                pid: 7,
                start: 3,
            },
            // pid_max at its ceiling, and two decades of uptime at 100 ticks a second.
            Owner {
                host: "ffff".into(),
                pid: 4_194_304,
                start: 63_000_000_000,
            },
        ];
        for owner in &owners {
            for n in [0, 35, 36, 1_295] {
                let label = label_of("cache", owner, n);
                crate::config::ident::validate_env_label(&label).unwrap();
                assert_eq!(scratch_owner(&label).as_ref(), Some(owner), "{label}");
            }
        }
        assert!(label_of("cache", &owners[0], 0).starts_with("cach__"));
    }
}
