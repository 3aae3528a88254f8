//! The sessions a tree's scripts run in. Their session user is the tree's DDL login
//! (`ores_<env>_ddl_user`, a member of the owner group), never the administrator, so
//! no statement of the tree can regain the administrator's rights: `RESET ROLE`, `SET
//! ROLE`, `SET SESSION AUTHORIZATION` only ever lead back to the DDL login, which has
//! no attribute beyond LOGIN and no membership beyond the owner group. The
//! administrator does only what needs it (roles, the database, extensions) in
//! sessions of its own, before any script of the tree runs, and never runs anything
//! in a database after a script of the tree has: grants and records are written by
//! the DDL login acting as the owner group, so no trigger or function the tree
//! planted ever runs with the administrator's rights.
//!
//! How the sessions are opened: a build gives the login a one-time password (256
//! random bits, sent as a SCRAM verifier), opens every session it needs, and puts
//! back what the configuration says (`ORES_DB_DDL_USER_PASSWORD`'s verifier, or
//! `PASSWORD NULL`) before any script runs. So while the build's sessions open, nobody
//! else can log in as the DDL login, and the database being built admits no other
//! login at all (`build/staging.rs`). A run killed in between leaves a password
//! nobody knows, which the next provisioning resets. `recreate-entity`, on the live
//! database, logs in with the configured password when there is one. On a managed
//! server the DDL login must be allowed to connect the way the administrator does
//! (the same `pg_hba` rule, or a password rule for it). Where the server trusts every
//! local login (`trust`), no login is a boundary, this one included.

use crate::config::{Config, Secret};
use crate::error::{Error, Result};
use crate::server::admin::connect_within;
use crate::server::lock::{AdvisoryLock, LockClass};
use crate::server::roles::set_verifier;
use crate::tree::manifest::Manifest;
use crate::tree::roles::role_name;
use postgres::Client;
use rand::RngCore;

/// The login the tree's scripts run as: the `ddl` login user of the owner group,
/// else the first login user of the owner group. `None` when the tree has none.
pub(crate) fn ddl_login(manifest: &Manifest, env: &str) -> Option<(String, String)> {
    let users = &manifest.settings().login_users;
    users
        .iter()
        .find(|(stem, group)| stem == "ddl" && group == "owner")
        .or_else(|| users.iter().find(|(_, group)| group == "owner"))
        .map(|(stem, _)| {
            let suffix = format!("{stem}_user");
            (role_name(env, &suffix), suffix)
        })
}

/// The DDL login's name, or the error saying how to give the tree one.
pub(crate) fn ddl_role(manifest: &Manifest, env: &str) -> Result<String> {
    ddl_login(manifest, env)
        .map(|(role, _)| role)
        .ok_or_else(no_ddl_login)
}

fn no_ddl_login() -> Error {
    Error::Unsupported(
        "the tree names no login user in the owner group, and its scripts run as one: add one \
         to its ores-sql.toml (login_users = [\"ddl\", ...] and ddl = \"owner\" under \
         [login_groups])"
            .into(),
    )
}

/// Opens `count` sessions on `database` as the tree's DDL login. `admin` is the
/// administrator's session, which sets a one-time password when none is configured,
/// or when the sessions must be `exclusive`: then for as long as the sessions take to
/// open nobody else can log in as the DDL login (the configured password does not
/// work meanwhile), so nobody else can be in a database only the DDL login may enter.
/// The password the configuration gives (or none) is put back before this returns.
pub(crate) fn open_sessions(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    database: &str,
    count: usize,
    exclusive: bool,
) -> Result<Vec<Client>> {
    let (role, suffix) = ddl_login(manifest, &config.env).ok_or_else(no_ddl_login)?;
    open_login_sessions(admin, config, (&role, &suffix), database, count, exclusive)
}

/// [`open_sessions`] for any login of the environment: `login` is its role name and
/// its suffix (`cli_user`), whose password the configuration may give.
pub(crate) fn open_login_sessions(
    admin: &mut Client,
    config: &Config,
    login: (&str, &str),
    database: &str,
    count: usize,
    exclusive: bool,
) -> Result<Vec<Client>> {
    let (role, suffix) = (login.0.to_string(), login.1);
    let configured = config.password_for(suffix);
    if let Some(password) = configured.filter(|_| !exclusive) {
        return connect_all(config, &role, password, database, count);
    }
    // Two processes may open sessions of one login at once (a test template's logins
    // are shared by every process using its key): each waits for the other's window,
    // or the second password would lock the first out.
    let window = AdvisoryLock::new(admin, LockClass::LoginWindow, &role)?;
    if !window.lock(admin, config.lock_timeout)? {
        return Err(Error::LockTimeout {
            env: config.env.clone(),
            waited: config.lock_timeout,
        });
    }
    let opened = with_one_time_password(admin, config, &role, configured, database, count);
    let unlocked = window.unlock(admin);
    let sessions = opened?;
    unlocked?;
    Ok(sessions)
}

/// Gives `role` a one-time password, opens `count` sessions with it, and puts back
/// the `configured` password (or none), whatever happened.
fn with_one_time_password(
    admin: &mut Client,
    config: &Config,
    role: &str,
    configured: Option<&Secret>,
    database: &str,
    count: usize,
) -> Result<Vec<Client>> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let once = Secret::new(hex::encode(bytes));
    let verifier = postgres_protocol::password::scram_sha_256(once.expose().as_bytes());
    set_verifier(admin, role, &verifier)?;
    let sessions = connect_all(config, role, &once, database, count);
    // Put back whatever happened: open sessions stay open.
    let restored = match configured {
        Some(p) => set_verifier(
            admin,
            role,
            &postgres_protocol::password::scram_sha_256(p.expose().as_bytes()),
        ),
        None => admin
            .batch_execute(&format!(
                "ALTER ROLE {} PASSWORD NULL",
                crate::config::ident::quote_ident(role)
            ))
            .map_err(|source| Error::Postgres {
                context: format!("removing the one-time password of {role}"),
                source,
            }),
    };
    let sessions = sessions?;
    restored?;
    Ok(sessions)
}

fn connect_all(
    config: &Config,
    role: &str,
    password: &Secret,
    database: &str,
    count: usize,
) -> Result<Vec<Client>> {
    (0..count.max(1))
        .map(|_| {
            let mut pg = config.role_pg_config(role, Some(password));
            pg.dbname(database);
            connect_within(
                pg,
                config.connect_timeout,
                format!("{}/{} as {role}", config.server_label(), database),
            )
        })
        .collect()
}
