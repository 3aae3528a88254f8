//! Administrative operations on the cluster: connecting, inspecting databases and
//! sessions, dropping databases safely.

use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use postgres::{Client, NoTls};
use std::sync::mpsc;
use std::time::Duration;

/// Opens the administrative connection on the maintenance database.
pub fn connect_admin(config: &Config) -> Result<Client> {
    connect_admin_to(config, &config.admin_database)
}

/// Opens an administrative connection to a given database.
pub fn connect_admin_to(config: &Config, database: &str) -> Result<Client> {
    connect_within(
        config.admin_pg_config(database),
        config.connect_timeout,
        format!(
            "{}/{} as {}",
            config.server_label(),
            database,
            config.admin_user
        ),
    )
}

/// Connects, giving up after `timeout` for the whole exchange. The driver's own
/// `connect_timeout` only covers opening the socket: a server (or anything else
/// listening on the port) that accepts but never answers the start-up message would
/// otherwise hang us forever. `target` names the server in errors, never a password.
pub fn connect_within(pg: postgres::Config, timeout: Duration, target: String) -> Result<Client> {
    let (tx, rx) = mpsc::channel();
    // On time-out the thread is abandoned; it ends when the driver gives up or the
    // process exits, and its late result goes nowhere.
    std::thread::spawn(move || {
        let _ = tx.send(pg.connect(NoTls));
    });
    match rx.recv_timeout(timeout + Duration::from_millis(250)) {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(Error::Connect {
            target,
            message: connect_message(&e),
        }),
        Err(_) => Err(no_answer(target, timeout)),
    }
}

/// The error of a connection attempt that got no answer in time (sync and async).
pub(crate) fn no_answer(target: String, timeout: Duration) -> Error {
    Error::Connect {
        target,
        message: format!(
            "no answer within {:.1}s (raise ORES_DB_CONNECT_TIMEOUT if the server is slow)",
            timeout.as_secs_f64()
        ),
    }
}

/// A driver connect error in one line, without anything secret in it.
pub(crate) fn connect_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("SQLSTATE {}: {}", db.code().code(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// One session connected to a database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Session {
    /// Backend process id.
    pub pid: i32,
    /// Role the session logged in as.
    pub user: String,
    /// `application_name` it reported.
    pub application: String,
    /// Client address, or `local` for a unix socket.
    pub client: String,
    /// When the session started (server time, text).
    pub since: String,
    /// `active`, `idle`, ...
    pub state: String,
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} user {} application {:?} since {}",
            self.pid, self.user, self.application, self.since
        )
    }
}

/// Does the database exist?
pub fn database_exists(client: &mut Client, database: &str) -> Result<bool> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname::text = $1",
            &[&database],
        )
        .context("looking up database")?
        .is_some())
}

/// Sessions connected to `database`, other than this one.
pub fn sessions(client: &mut Client, database: &str) -> Result<Vec<Session>> {
    let rows = client
        .query(
            "SELECT pid, coalesce(usename::text, ''), coalesce(application_name, ''),
                    coalesce(host(client_addr), 'local'),
                    coalesce(to_char(backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), ''),
                    coalesce(state, '')
               FROM pg_stat_activity
              WHERE datname::text = $1 AND pid <> pg_backend_pid()
                -- Autovacuum and parallel workers are the server's, not someone's
                -- session: DROP and RENAME deal with them, and they must not make a
                -- fresh database look busy. A login that is not a superuser is not
                -- shown the type of other roles' sessions; a user's session has a
                -- user, the server's own processes do not.
                AND (backend_type = 'client backend'
                     OR (backend_type IS NULL AND usesysid IS NOT NULL))
              ORDER BY backend_start",
            &[&database],
        )
        .context("listing sessions")?;
    Ok(rows
        .iter()
        .map(|r| Session {
            pid: r.get(0),
            user: r.get(1),
            application: r.get(2),
            client: r.get(3),
            since: r.get(4),
            state: r.get(5),
        })
        .collect())
}

/// Terminates every other session on `database`; returns how many were signalled.
pub fn terminate_sessions(client: &mut Client, database: &str) -> Result<u64> {
    let rows = client
        .query(
            // Client sessions: an autovacuum worker visiting the database is not
            // ours to end (only a superuser may), and a rename or drop ends it itself.
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname::text = $1 AND pid <> pg_backend_pid()
                AND backend_type = 'client backend'",
            &[&database],
        )
        .context("terminating sessions")?;
    Ok(rows.len() as u64)
}

/// Waits until no other session is connected to `database`, polling every
/// millisecond, for at most `limit`; returns whether it got there. PostgreSQL checks
/// again only every 100 ms before a rename or drop, so a session that is merely still
/// exiting (a client that just disconnected) would otherwise cost a tenth of a second.
pub fn wait_for_no_sessions(
    client: &mut Client,
    database: &str,
    limit: std::time::Duration,
) -> Result<bool> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let empty: bool = client
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
                                     WHERE datname = $1 AND pid <> pg_backend_pid()
                                       AND backend_type = 'client backend')",
                &[&database],
            )
            .context("watching sessions")?
            .get(0);
        if empty || std::time::Instant::now() >= deadline {
            return Ok(empty);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Creates an empty `database` owned by `owner`, from `template0` in UTF-8: what
/// every build starts from.
pub fn create_empty_database(client: &mut Client, database: &str, owner: &str) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' ALLOW_CONNECTIONS false",
            quote_ident(database),
            quote_ident(owner)
        ))
        .context(format!("creating database {database}"))?;
    open_to_administrator(client, database, owner)
}

/// Opens a database that was made closed (`ALLOW_CONNECTIONS false`) to the
/// administrator alone: nobody else may connect, not even the owner group's members
/// (PUBLIC's default rights are revoked, and so is the owner group's own CONNECT),
/// until the grants of a finished build say otherwise.
pub fn open_to_administrator(client: &mut Client, database: &str, owner: &str) -> Result<()> {
    let db = quote_ident(database);
    client
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC;
             REVOKE CONNECT ON DATABASE {db} FROM {owner};
             DO $ores$ BEGIN
               IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                 EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', {lit}, current_user);
               END IF;
             END $ores$;
             ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true",
            owner = quote_ident(owner),
            lit = crate::config::ident::quote_literal(database),
        ))
        .context(format!("closing {database} to everyone but the build"))
}

/// Drops a database. With other sessions present it refuses (listing them) unless
/// `force`, in which case `DROP DATABASE ... WITH (FORCE)` terminates them and drops in
/// one step, so no new session can slip in between. Returns false if it did not exist.
pub fn drop_database(client: &mut Client, database: &str, force: bool) -> Result<bool> {
    crate::config::ident::check_not_system(database)?;
    if !database_exists(client, database)? {
        return Ok(false);
    }
    if !force {
        let others = sessions(client, database)?;
        if !others.is_empty() {
            return Err(Error::ActiveConnections {
                database: database.to_string(),
                sessions: others.iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    let sql = format!(
        "DROP DATABASE IF EXISTS {}{}",
        quote_ident(database),
        if force { " WITH (FORCE)" } else { "" }
    );
    match client.batch_execute(&sql) {
        Ok(()) => Ok(true),
        // A session arrived after our check: report it the same way.
        Err(e) if e.code() == Some(&postgres::error::SqlState::OBJECT_IN_USE) => {
            Err(Error::ActiveConnections {
                database: database.to_string(),
                sessions: sessions(client, database)?
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            })
        }
        Err(e) => Err(e).context(format!("dropping database {database}")),
    }
}

/// Checks that every extension is available on the server before anything is built.
pub fn check_extensions(client: &mut Client, extensions: &[String]) -> Result<()> {
    let available: Vec<String> = client
        .query(
            "SELECT name::text FROM pg_available_extensions WHERE name = ANY($1)",
            &[&extensions],
        )
        .context("checking available extensions")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    match extensions.iter().find(|e| !available.contains(e)) {
        None => Ok(()),
        Some(missing) => Err(Error::MissingExtension {
            name: missing.clone(),
            package: package_for_extension(missing).to_string(),
        }),
    }
}

/// The Debian package that ships an extension.
pub fn package_for_extension(name: &str) -> &'static str {
    match name {
        "btree_gist" | "pg_trgm" | "pgcrypto" => "postgresql-contrib",
        "plpgsql_check" => "postgresql-15-plpgsql-check",
        "pgtap" => "postgresql-15-pgtap",
        _ => "the package that provides it",
    }
}

/// Server major version (e.g. 15).
pub fn server_major_version(client: &mut Client) -> Result<i32> {
    let v: String = client
        .query_one("SHOW server_version_num", &[])
        .context("reading server version")?
        .get(0);
    Ok(v.parse::<i32>().unwrap_or(0) / 10000)
}
