//! Read-only views of the cluster for people: which ORE Studio databases exist, the
//! roles of an environment, who is connected, and whether a database is current.
//!
//! Nothing here connects to a database other than the one asked about: a stray
//! session in someone else's database would make their `DROP DATABASE` or template
//! clone fail.
//!
//! Every report type serialises (serde) in the shapes `compass ... --json` prints
//! (docs/json.md).
//!
//! ```no_run
//! let config = ores_sql::Config::load()?;
//! let status = ores_sql::inspect::status(&config)?;
//! println!("{} is {}, {} session(s)", status.database, status.state.as_str(), status.sessions.len());
//! for role in ores_sql::inspect::roles(&config, &config.env)? {
//!     if !role.problems.is_empty() {
//!         println!("{}: {}", role.name, role.problems.join(", "));
//!     }
//! }
//! # Ok::<(), ores_sql::Error>(())
//! ```

use crate::config::Config;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::version::{BuildInfo, CRATE_VERSION, Drift, drift};
use crate::server::admin::{connect_admin, connect_admin_to, database_exists, sessions};
use crate::server::rights::AdminRights;
use crate::server::roles::{marked_env, roles_for};
use crate::tree::manifest::Manifest;
use serde::Serialize;

pub use crate::server::admin::Session;

/// One ORE Studio database on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseSummary {
    /// Database name.
    pub name: String,
    /// Owning role.
    pub owner: String,
    /// Size on disk, human readable.
    pub size: String,
    /// Sessions connected to it right now.
    pub connections: i64,
    /// Whether it is marked as a template (test harness clones).
    pub is_template: bool,
    /// Whether it accepts connections (false during a swap).
    pub allows_connections: bool,
    /// What ores-sql keeps it for, told by its name: `cached build`, `spare copy`,
    /// `set aside`, `staging`, `retired`, `test template`, `ready test clone`,
    /// `test database`; `None` for
    /// an environment's database (or anything else).
    pub kind: Option<&'static str>,
}

/// What a database of this name is to ores-sql (see [`DatabaseSummary::kind`]).
pub fn kind_of(name: &str) -> Option<&'static str> {
    use crate::lifecycle::target::{
        POOL_PREFIX, RETIRED_SUFFIX, SPARE_SUFFIX, STAGING_SUFFIX, STALE_INFIX, TEMPLATE_PREFIX,
        TEMPLATE_SUFFIX, TEST_DB_PREFIX,
    };
    if name.contains(STALE_INFIX) {
        Some("set aside")
    } else if name.ends_with(TEMPLATE_SUFFIX) {
        Some("cached build")
    } else if name.ends_with(SPARE_SUFFIX) {
        Some("spare copy")
    } else if name.ends_with(STAGING_SUFFIX) {
        Some("staging")
    } else if name.ends_with(RETIRED_SUFFIX) {
        Some("retired")
    } else if name.starts_with(TEMPLATE_PREFIX) {
        Some("test template")
    } else if name.starts_with(POOL_PREFIX) {
        Some("ready test clone")
    } else if name.starts_with(TEST_DB_PREFIX) {
        Some("test database")
    } else {
        None
    }
}

/// Every database whose name starts with `ores_`, by name. Reads the catalogue only.
pub fn list_databases(config: &Config) -> Result<Vec<DatabaseSummary>> {
    crate::runtime::off_runtime(|| {
        let mut client = connect_admin(config)?;
        let rows = client
            .query(
                "SELECT d.datname::text, pg_get_userbyid(d.datdba)::text,
                    -- By oid: a database someone drops while we look yields NULL
                    -- instead of failing the whole listing.
                    coalesce(CASE WHEN has_database_privilege(d.oid, 'CONNECT')
                                  THEN pg_size_pretty(pg_database_size(d.oid)) END, ''),
                    (SELECT count(*) FROM pg_stat_activity a
                      WHERE a.datname = d.datname AND a.backend_type = 'client backend'),
                    d.datistemplate, d.datallowconn
               FROM pg_database d
              WHERE d.datname LIKE 'ores\\_%'
              ORDER BY d.datname",
                &[],
            )
            .context("listing databases")?;
        Ok(rows
            .iter()
            .map(|r| DatabaseSummary {
                name: r.get(0),
                owner: r.get(1),
                size: r.get(2),
                connections: r.get(3),
                is_template: r.get(4),
                allows_connections: r.get(5),
                kind: kind_of(r.get(0)),
            })
            .collect())
    })
}

/// One role of an environment, as provisioned and as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleStatus {
    /// Role name.
    pub name: String,
    /// `group` or `login`.
    pub kind: &'static str,
    /// Whether the role exists on the server.
    pub exists: bool,
    /// The group it should be a member of.
    pub expected_member_of: Option<String>,
    /// Groups it actually is a member of.
    pub member_of: Vec<String>,
    /// Whether it has a password (None when the catalogue is not readable).
    pub has_password: Option<bool>,
    /// Attributes it should not have (`SUPERUSER`, `CREATEDB`, ...), or a wrong LOGIN.
    pub problems: Vec<String>,
}

/// The roles of environment `env`: every role it should have, whether it exists and
/// whether it still looks the way provisioning left it.
pub fn roles(config: &Config, env: &str) -> Result<Vec<RoleStatus>> {
    crate::runtime::off_runtime(|| {
        crate::config::ident::validate_env_label(env)?;
        let specs = roles_for(env);
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        let mut client = connect_admin(config)?;
        // pg_authid shows whether a password is set; only a superuser may read it.
        let can_read_authid: bool = client
            .query_one(
                "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')",
                &[],
            )
            .context("checking catalogue access")?
            .get(0);
        let password_expr = if can_read_authid {
            "(SELECT a.rolpassword IS NOT NULL FROM pg_authid a WHERE a.oid = r.oid)"
        } else {
            "NULL::boolean"
        };
        let rows = client
            .query(
                &format!(
                    "SELECT r.rolname::text, r.rolcanlogin, r.rolsuper, r.rolcreatedb,
                        r.rolcreaterole, r.rolreplication, r.rolbypassrls, {password_expr},
                        ARRAY(SELECT g.rolname::text FROM pg_auth_members m
                                JOIN pg_roles g ON g.oid = m.roleid
                               WHERE m.member = r.oid ORDER BY 1),
                        coalesce(shobj_description(r.oid, 'pg_authid'), '')
                   FROM pg_roles r WHERE r.rolname = ANY($1)"
                ),
                &[&names],
            )
            .context("reading roles")?;
        Ok(specs
            .into_iter()
            .map(|spec| {
                let found = rows.iter().find(|r| r.get::<_, String>(0) == spec.name);
                let mut status = RoleStatus {
                    name: spec.name.clone(),
                    kind: if spec.login { "login" } else { "group" },
                    exists: found.is_some(),
                    expected_member_of: spec.member_of.clone(),
                    member_of: Vec::new(),
                    has_password: None,
                    problems: Vec::new(),
                };
                if let Some(r) = found {
                    let login: bool = r.get(1);
                    if login != spec.login {
                        status
                            .problems
                            .push(if login { "LOGIN" } else { "NOLOGIN" }.to_string());
                    }
                    for (i, attr) in [
                        (2, "SUPERUSER"),
                        (3, "CREATEDB"),
                        (4, "CREATEROLE"),
                        (5, "REPLICATION"),
                        (6, "BYPASSRLS"),
                    ] {
                        if r.get::<_, bool>(i) {
                            status.problems.push(attr.to_string());
                        }
                    }
                    status.has_password = if spec.login { r.get(7) } else { None };
                    status.member_of = r.get(8);
                    if let Some(group) = &spec.member_of
                        && !status.member_of.contains(group)
                    {
                        status.problems.push(format!("not in {group}"));
                    }
                    // Recreate revokes these; until then the role has rights the
                    // registry does not give it.
                    for group in &status.member_of {
                        if spec.member_of.as_ref() != Some(group) {
                            status
                                .problems
                                .push(format!("also in {group} (not from the registry)"));
                        }
                    }
                    let comment: String = r.get(9);
                    if let Some(other) = marked_env(&comment).filter(|o| *o != env) {
                        status
                            .problems
                            .push(format!("marked for environment {other}"));
                    }
                }
                status
            })
            .collect())
    })
}

/// Sessions connected to `database` (other than ours).
pub fn connections(config: &Config, database: &str) -> Result<Vec<Session>> {
    crate::runtime::off_runtime(|| {
        let mut client = connect_admin(config)?;
        if !database_exists(&mut client, database)? {
            return Err(Error::NoSuchDatabase(database.to_string()));
        }
        sessions(&mut client, database)
    })
}

/// Terminates every session on an ORE Studio database; returns how many there were.
/// The server's own databases and names outside the pattern are refused.
pub fn kill_connections(config: &Config, database: &str) -> Result<Vec<Session>> {
    crate::runtime::off_runtime(|| {
        crate::lifecycle::target::check_name(database)?;
        let mut client = connect_admin(config)?;
        if !database_exists(&mut client, database)? {
            return Err(Error::NoSuchDatabase(database.to_string()));
        }
        let before = sessions(&mut client, database)?;
        AdminRights::detect(&mut client)?.signalling(
            &mut client,
            &config.env,
            database,
            |client| crate::server::admin::terminate_sessions(client, database),
        )?;
        Ok(before)
    })
}

/// How the database compares with this binary, in words a script can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Built from exactly this binary's manifest.
    Current,
    /// Built by ores-sql from another manifest: rebuild it.
    Stale,
    /// Exists but has no build record.
    NotOres,
    /// Does not exist.
    Missing,
}

impl State {
    /// `current`, `stale`, `not_ores`, `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Current => "current",
            State::Stale => "stale",
            State::NotOres => "not_ores",
            State::Missing => "missing",
        }
    }
}

/// What `compass db status` and `version` report.
#[derive(Debug, Clone)]
pub struct Status {
    /// Environment label.
    pub env: String,
    /// Database looked at.
    pub database: String,
    /// `host:port` of the server.
    pub server: String,
    /// Current, stale, not an ORE Studio database, or missing.
    pub state: State,
    /// The build record, when there is one.
    pub recorded: Option<BuildInfo>,
    /// Schema hash compiled into this binary.
    pub compiled_schema_hash: String,
    /// Number of scripts compiled into this binary.
    pub compiled_script_count: usize,
    /// Version of this crate.
    pub crate_version: String,
    /// Other sessions connected to the database.
    pub sessions: Vec<Session>,
}

/// The database's recorded build against this binary's manifest, and who is connected.
pub fn status(config: &Config) -> Result<Status> {
    status_with(config, Manifest::compiled())
}

/// [`status`] against another manifest.
pub fn status_with(config: &Config, manifest: &Manifest) -> Result<Status> {
    crate::runtime::off_runtime(|| {
        config.validate()?;
        let mut admin = connect_admin(config)?;
        let exists = database_exists(&mut admin, &config.database)?;
        let mut status = Status {
            env: config.env.clone(),
            database: config.database.clone(),
            server: config.server_label(),
            state: State::Missing,
            recorded: None,
            compiled_schema_hash: manifest.schema_hash().to_string(),
            compiled_script_count: manifest.scripts().len(),
            crate_version: CRATE_VERSION.to_string(),
            sessions: Vec::new(),
        };
        if !exists {
            return Ok(status);
        }
        status.sessions = sessions(&mut admin, &config.database)?;
        let mut db = connect_admin_to(config, &config.database)?;
        let (state, recorded) = match drift(&mut db, manifest)? {
            Drift::Current(info) => (State::Current, Some(info)),
            Drift::Stale(info) => (State::Stale, Some(info)),
            Drift::NotOres => (State::NotOres, None),
        };
        status.state = state;
        status.recorded = recorded;
        Ok(status)
    })
}

/// How many sessions one role has open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSessions {
    /// Role name.
    pub user: String,
    /// Sessions it has open.
    pub count: usize,
}

/// Connection counts by role, most first.
pub fn sessions_by_user(sessions: &[Session]) -> Vec<UserSessions> {
    let mut counts: Vec<UserSessions> = Vec::new();
    for s in sessions {
        match counts.iter_mut().find(|c| c.user == s.user) {
            Some(c) => c.count += 1,
            None => counts.push(UserSessions {
                user: s.user.clone(),
                count: 1,
            }),
        }
    }
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.user.cmp(&b.user)));
    counts
}

/// `compass db version --json`: the build record (its fields `null` when there is
/// none) beside this binary's schema hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VersionReport {
    /// Environment label.
    pub env: String,
    /// Database looked at.
    pub database: String,
    /// Current, stale, not an ORE Studio database, or missing.
    pub state: State,
    /// Recorded schema hash.
    pub schema_hash: Option<String>,
    /// Recorded number of scripts.
    pub script_count: Option<i32>,
    /// Version of ores-sql that built it.
    pub crate_version: Option<String>,
    /// When it was built.
    pub built_at: Option<String>,
    /// Server version at build time.
    pub server_version: Option<String>,
    /// How the database was made: `full`, `parallel`, `cached` or `incremental`.
    pub build_path: Option<String>,
    /// The earlier build an incremental one started from (schema hash, path, time).
    pub based_on: Option<String>,
    /// The administrative login that ran the build.
    pub built_by: Option<String>,
    /// The DDL login the tree's scripts ran as.
    pub ddl_login: Option<String>,
    /// Schema hash compiled into this binary.
    pub compiled_schema_hash: String,
    /// The tree's own version row (`[version] query` of its `ores-sql.toml`), column
    /// by column; `None` when the tree names no query or it was not asked for.
    pub tree_version: Option<TreeVersion>,
}

/// One row of a tree's own version information, its columns in the query's order
/// (serialised as a JSON object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeVersion(pub Vec<(String, Option<String>)>);

impl Serialize for TreeVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (column, value) in &self.0 {
            map.serialize_entry(column, value)?;
        }
        map.end()
    }
}

/// The tree's own version row (`[version] query`), read as its DDL login in a
/// read-only transaction; `None` when the tree names no query.
pub fn tree_version(config: &Config, manifest: &Manifest) -> Result<Option<TreeVersion>> {
    Ok(crate::lifecycle::commands::tree_version(config, manifest)?.map(TreeVersion))
}

/// `compass db status --json`: [`VersionReport`]'s fields, then the server, this
/// binary and who is connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// The build record against this binary.
    #[serde(flatten)]
    pub version: VersionReport,
    /// `host:port` of the server.
    pub server: String,
    /// Number of scripts compiled into this binary.
    pub compiled_script_count: usize,
    /// Version of this crate.
    pub compiled_crate_version: String,
    /// Other sessions connected to the database.
    pub connections: usize,
    /// The same, counted by role.
    pub connections_by_user: Vec<UserSessions>,
    /// The sessions themselves.
    pub sessions: Vec<Session>,
}

impl Status {
    /// The build record against this binary, for `version`.
    pub fn version_report(&self) -> VersionReport {
        let info = self.recorded.as_ref();
        VersionReport {
            env: self.env.clone(),
            database: self.database.clone(),
            state: self.state,
            schema_hash: info.map(|i| i.schema_hash.clone()),
            script_count: info.map(|i| i.script_count),
            crate_version: info.map(|i| i.crate_version.clone()),
            built_at: info.map(|i| i.built_at.clone()),
            server_version: info.map(|i| i.server_version.clone()),
            build_path: info.and_then(|i| i.build_path.clone()),
            based_on: info.and_then(|i| i.based_on.clone()),
            built_by: info.and_then(|i| i.built_by.clone()),
            ddl_login: info.and_then(|i| i.ddl_login.clone()),
            compiled_schema_hash: self.compiled_schema_hash.clone(),
            tree_version: None,
        }
    }

    /// Everything `status` shows.
    pub fn report(&self) -> StatusReport {
        StatusReport {
            version: self.version_report(),
            server: self.server.clone(),
            compiled_script_count: self.compiled_script_count,
            compiled_crate_version: self.crate_version.clone(),
            connections: self.sessions.len(),
            connections_by_user: sessions_by_user(&self.sessions),
            sessions: self.sessions.clone(),
        }
    }
}

/// `compass db list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseListing {
    /// `host:port` of the server.
    pub server: String,
    /// The configured environment.
    pub env: String,
    /// The configured environment's database (it may be absent from the list).
    pub env_database: String,
    /// Every ORE Studio database, by name.
    pub databases: Vec<DatabaseSummary>,
}

/// `compass db roles --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolesReport {
    /// Environment label.
    pub env: String,
    /// Every role the environment should have.
    pub roles: Vec<RoleStatus>,
}

/// `compass db connections --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionsReport {
    /// Database looked at.
    pub database: String,
    /// The sessions connected to it.
    pub sessions: Vec<Session>,
}
