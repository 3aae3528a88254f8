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
//! How the session is opened: with the DDL login's configured password
//! (`ORES_DB_DDL_USER_PASSWORD`) when there is one; otherwise the build gives the
//! login a one-time password (256 random bits, sent as a SCRAM verifier), opens every
//! session it needs, and takes the password away again (`PASSWORD NULL`, as
//! provisioning left it) before any script runs. A run killed in between leaves a
//! password nobody knows, which the next provisioning resets. On a managed server
//! the DDL login must be allowed to connect the way the administrator does (the same
//! `pg_hba` rule, or a password rule for it).

use crate::config::{Config, Secret};
use crate::error::{Error, Result};
use crate::server::admin::connect_within;
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
/// administrator's session, which sets and removes a one-time password when none is
/// configured.
pub(crate) fn open_sessions(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    database: &str,
    count: usize,
) -> Result<Vec<Client>> {
    let (role, suffix) = ddl_login(manifest, &config.env).ok_or_else(no_ddl_login)?;
    if let Some(password) = config.password_for(&suffix) {
        return connect_all(config, &role, password, database, count);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let once = Secret::new(hex::encode(bytes));
    let verifier = postgres_protocol::password::scram_sha_256(once.expose().as_bytes());
    set_verifier(admin, &role, &verifier)?;
    let sessions = connect_all(config, &role, &once, database, count);
    // Taken away whatever happened: open sessions stay open, nothing else gets in.
    let removed = admin
        .batch_execute(&format!(
            "ALTER ROLE {} PASSWORD NULL",
            crate::config::ident::quote_ident(&role)
        ))
        .map_err(|source| Error::Postgres {
            context: format!("removing the one-time password of {role}"),
            source,
        });
    let sessions = sessions?;
    removed?;
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
