//! What the administrative login may do, and the few rights a login that is not a
//! superuser gives itself on an environment's roles.
//!
//! Managed PostgreSQL services hand out an administrator with `CREATEDB` and
//! `CREATEROLE` but without `SUPERUSER`. Such a login can create the environment's
//! roles, but PostgreSQL only lets it create a database *owned by* a role it is a
//! member of, and only lets it drop objects of, or terminate sessions of, roles whose
//! privileges it has. So it joins the environment's owner group (and keeps that while
//! the environment exists), and takes membership in other roles of the environment
//! only for the one statement that needs it. docs/design.md, "Managed PostgreSQL",
//! says what and why; a superuser takes none of these paths.

use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::server::roles::{role_name, roles_for};
use postgres::Client;

/// The administrative login and the attributes that decide how we work with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRights {
    /// The login (`current_user` of the administrative session).
    pub user: String,
    /// `rolsuper`: every check below is skipped and nothing is granted.
    pub superuser: bool,
    /// `rolcreatedb`.
    pub createdb: bool,
    /// `rolcreaterole`.
    pub createrole: bool,
    /// `rolinherit`: whether memberships confer their privileges without `SET ROLE`.
    pub inherit: bool,
}

impl AdminRights {
    /// Reads the attributes of the session's user, once per operation.
    pub fn detect(client: &mut Client) -> Result<AdminRights> {
        let row = client
            .query_one(
                "SELECT current_user::text, rolsuper, rolcreatedb, rolcreaterole, rolinherit
                   FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .context("reading the administrative login's attributes")?;
        Ok(AdminRights {
            user: row.get(0),
            superuser: row.get(1),
            createdb: row.get(2),
            createrole: row.get(3),
            inherit: row.get(4),
        })
    }

    /// Refuses, before anything is made, a login that can neither create databases
    /// and roles as a superuser can nor as `CREATEDB CREATEROLE` can.
    pub fn require_provisioning(&self) -> Result<()> {
        if self.superuser {
            return Ok(());
        }
        let missing: Vec<&str> = [("CREATEDB", self.createdb), ("CREATEROLE", self.createrole)]
            .into_iter()
            .filter(|(_, has)| !has)
            .map(|(name, _)| name)
            .collect();
        if missing.is_empty() {
            return self.require_inherit();
        }
        Err(Error::AdminPrivilege {
            admin: self.user.clone(),
            missing: missing.join(" and "),
            reason: "building or removing an environment creates and drops its databases and roles; grant it (ALTER ROLE ... CREATEDB CREATEROLE) or log in as a superuser; nothing was changed".into(),
        })
    }

    /// Refuses a login that is not a superuser and does not inherit: it works through
    /// its membership in the environment's owner group, which confers nothing to a
    /// NOINHERIT login.
    fn require_inherit(&self) -> Result<()> {
        if self.superuser || self.inherit {
            return Ok(());
        }
        Err(Error::AdminPrivilege {
            admin: self.user.clone(),
            missing: "INHERIT".into(),
            reason: "it works through its membership in the environment's owner group, which confers nothing to a NOINHERIT login; ALTER ROLE ... INHERIT, or log in as a superuser; nothing was changed".into(),
        })
    }

    /// Refuses extensions that a login which is not a superuser cannot install: any
    /// extension whose default version is not marked `trusted`. Checked before
    /// anything is made, so a refused build leaves no role or database behind.
    pub fn check_extensions(&self, client: &mut Client, extensions: &[String]) -> Result<()> {
        if self.superuser {
            return Ok(());
        }
        let untrusted: Vec<String> = client
            .query(
                "SELECT e.name::text FROM pg_available_extensions e
                   JOIN pg_available_extension_versions v
                     ON v.name = e.name AND v.version = e.default_version
                  WHERE e.name = ANY($1) AND NOT v.trusted",
                &[&extensions],
            )
            .context("checking which extensions are trusted")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // In configuration order, so the message names the one the user listed first.
        match extensions.iter().find(|e| untrusted.contains(e)) {
            None => Ok(()),
            Some(name) => Err(Error::AdminPrivilege {
                admin: self.user.clone(),
                missing: "SUPERUSER".into(),
                reason: format!(
                    "extension {name} is not trusted, so PostgreSQL lets only a superuser install it; remove it from ORES_DB_EXTENSIONS, have a superuser install it, or log in as one; nothing was created"
                ),
            }),
        }
    }

    /// Makes the login a member of the environment's owner group, which PostgreSQL
    /// requires to create a database owned by that group, and which carries the
    /// owner's rights to rename, close, drop and build the environment's databases.
    /// It also takes back any membership in the environment's *login* roles a run
    /// killed half-way through [`AdminRights::signalling`] left behind, so the
    /// login ends every operation holding the owner group and nothing else of the
    /// environment. Nothing happens for a superuser, or if the group does not exist.
    pub fn join_owner(&self, client: &mut Client, env: &str) -> Result<()> {
        if self.superuser {
            return Ok(());
        }
        self.require_inherit()?;
        let owner = role_name(env, "owner");
        let logins = login_roles(env);
        let rows = client
            .query(
                // The owner group counts when its privileges reach the login (USAGE:
                // an inheriting membership); a login role only for a membership the
                // login granted itself. PostgreSQL 16 also records a membership of
                // the creator in every role it creates, granted by the bootstrap
                // superuser and conferring nothing by default: neither kind of check
                // mistakes that one for ours.
                "SELECT r.rolname::text,
                        CASE WHEN r.rolname = $1 THEN pg_has_role(current_user, r.oid, 'USAGE')
                             ELSE EXISTS (SELECT 1 FROM pg_auth_members m
                                           WHERE m.roleid = r.oid
                                             AND m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                                             AND m.grantor = m.member)
                        END
                   FROM pg_roles r WHERE r.rolname = $1 OR r.rolname = ANY($2)",
                &[&owner, &logins],
            )
            .context("reading the administrative login's memberships")?;
        let mut sql = String::new();
        for row in rows {
            let (role, member): (String, bool) = (row.get(0), row.get(1));
            if role == owner && !member {
                sql.push_str(&format!("GRANT {} TO CURRENT_USER;\n", quote_ident(&role)));
            } else if role != owner && member {
                log::warn!(
                    "{} was left a member of {role} by an interrupted run; taking it back",
                    self.user
                );
                sql.push_str(&format!(
                    "REVOKE {} FROM CURRENT_USER;\n",
                    quote_ident(&role)
                ));
            }
        }
        if sql.is_empty() {
            return Ok(());
        }
        client
            .batch_execute(&sql)
            .context(format!("making {} a member of {owner}", self.user))
    }

    /// Runs `f`, which terminates sessions on `database`, with what it takes to
    /// terminate them. PostgreSQL lets a login that is not a superuser terminate only
    /// sessions of roles whose privileges it has (or with `pg_signal_backend`, which
    /// reaches every environment on the server, so we do not take it). So the login
    /// joins exactly the environment's login roles that have sessions there, and
    /// leaves them again when `f` returns, whatever it returned. Sessions of roles
    /// outside the environment stay beyond reach, and PostgreSQL's refusal says so.
    pub fn signalling<T>(
        &self,
        client: &mut Client,
        env: &str,
        database: &str,
        f: impl FnOnce(&mut Client) -> Result<T>,
    ) -> Result<T> {
        if self.superuser {
            return f(client);
        }
        let logins = login_roles(env);
        let needed: Vec<String> = client
            .query(
                "SELECT DISTINCT usename::text FROM pg_stat_activity
                  WHERE datname::text = $1 AND pid <> pg_backend_pid()
                    AND usename::text = ANY($2)
                    AND NOT pg_has_role(current_user, usename, 'USAGE')
                  ORDER BY 1",
                &[&database, &logins],
            )
            .context(format!("listing whose sessions on {database} to end"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if needed.is_empty() {
            return f(client);
        }
        let list = needed
            .iter()
            .map(|r| quote_ident(r))
            .collect::<Vec<_>>()
            .join(", ");
        client
            .batch_execute(&format!("GRANT {list} TO CURRENT_USER"))
            .context(format!(
                "making {} a member of {list} to end their sessions",
                self.user
            ))?;
        let out = f(client);
        if let Err(e) = client.batch_execute(&format!("REVOKE {list} FROM CURRENT_USER")) {
            // The next operation on the environment takes it back (join_owner).
            log::warn!(
                "could not take back {}'s membership in {list}: {e}",
                self.user
            );
        }
        out
    }

    /// Refuses, before anything is made, to promise the end of sessions on
    /// `database` that this login cannot end: those of roles outside the
    /// environment that it has no privileges of (without `pg_signal_backend`), and
    /// any superuser's.
    pub fn check_can_end_sessions(
        &self,
        client: &mut Client,
        env: &str,
        database: &str,
    ) -> Result<()> {
        if self.superuser {
            return Ok(());
        }
        let logins = login_roles(env);
        let beyond: Vec<String> = client
            .query(
                "SELECT DISTINCT a.usename::text FROM pg_stat_activity a
                   JOIN pg_roles r ON r.oid = a.usesysid
                  WHERE a.datname::text = $1 AND a.pid <> pg_backend_pid()
                    AND (a.backend_type = 'client backend' OR a.backend_type IS NULL)
                    AND (r.rolsuper OR (a.usename::text <> ALL ($2)
                         AND NOT pg_has_role(current_user, a.usename, 'USAGE')
                         AND NOT pg_has_role(current_user, 'pg_signal_backend', 'USAGE')))
                  ORDER BY 1",
                &[&database, &logins],
            )
            .context(format!(
                "checking whose sessions on {database} can be ended"
            ))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if beyond.is_empty() {
            return Ok(());
        }
        Err(Error::AdminPrivilege {
            admin: self.user.clone(),
            missing: "SUPERUSER".into(),
            reason: format!(
                "{database} has sessions of {}, which are not the environment's roles (or are a superuser's), so PostgreSQL will not let this login end them; close them and retry; nothing was changed",
                beyond.join(", ")
            ),
        })
    }

    /// Statements to run in the same transaction before `DROP OWNED BY` the
    /// environment's roles: PostgreSQL only lets a login drop what roles own, or
    /// revoke what they were granted, when it has their privileges. The memberships
    /// vanish with the roles, or with the transaction if the drop fails.
    pub fn before_dropping_roles(&self, existing: &[String]) -> String {
        if self.superuser || existing.is_empty() {
            return String::new();
        }
        let list = existing
            .iter()
            .map(|r| quote_ident(r))
            .collect::<Vec<_>>()
            .join(", ");
        format!("GRANT {list} TO CURRENT_USER;\n")
    }
}

/// The login roles of environment `env`.
fn login_roles(env: &str) -> Vec<String> {
    roles_for(env)
        .into_iter()
        .filter(|r| r.login)
        .map(|r| r.name)
        .collect()
}
