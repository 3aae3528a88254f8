//! Cluster roles of one environment: who they are, creating them, removing them.
//!
//! Roles are cluster-wide, so every name carries the environment label and this
//! module only ever touches the exact names it derives for one environment (never a
//! pattern that could reach a neighbour such as `ci` vs `ci_2`).

use crate::config::Config;
use crate::config::ident::{quote_ident, quote_literal, validate_env_label_in, validate_role_name};
use crate::error::{Error, PgContext, Result};
use crate::server::rights::AdminRights;
use crate::tree::registry::Registry;
use postgres::Client;
use postgres::types::ToSql;
use std::collections::HashMap;

pub use crate::tree::roles::{
    GROUPS, RoleSpec, env_mark, marked_env, role_name, roles_for, roles_in,
};

/// Creates or updates every role of the configured environment. Idempotent. Returns
/// the login roles that got no password (they can only log in where the server trusts
/// the connection).
pub fn ensure_roles(client: &mut Client, config: &Config) -> Result<Vec<String>> {
    ensure_roles_in(client, config, Registry::compiled())
}

/// [`ensure_roles`] for the roles of `registry`.
pub fn ensure_roles_in(
    client: &mut Client,
    config: &Config,
    registry: &Registry,
) -> Result<Vec<String>> {
    let rights = AdminRights::detect(client)?;
    ensure_roles_as(client, config, &rights, registry)
}

/// [`ensure_roles_in`] for an administrator whose rights are known.
pub(crate) fn ensure_roles_as(
    client: &mut Client,
    config: &Config,
    rights: &AdminRights,
    registry: &Registry,
) -> Result<Vec<String>> {
    // A SCRAM verifier is 4,096 rounds of PBKDF2 on a fresh salt, a few
    // milliseconds each: the environment's logins take a tenth of a second on one
    // core, which the checks below and the other cores can hide.
    let pending = Verifiers::start(config, registry, &[]);
    let without = ensure_roles_deferring(client, config, rights, registry, &[])?;
    pending.compare_with_stored(client)?;
    pending.set(client, registry, config)?;
    Ok(without)
}

/// The SCRAM verifiers of the environment's logins with a configured password but
/// those `now` (which [`ensure_roles_deferring`] sets itself), computed on threads
/// of their own once the stored ones arrive ([`Verifiers::compare_with_stored`]): a
/// recreate starts them first, hands them the stored verifiers once its roles are
/// in place, and sets them just before its swap, so the hashing costs the time the
/// build waits on the server rather than the user's.
pub(crate) struct Verifiers {
    computed: std::thread::JoinHandle<HashMap<String, Option<String>>>,
    /// The stored verifiers, for the thread to leave alone a login whose password
    /// did not change; it waits for them (or for this to be dropped).
    stored: std::sync::mpsc::Sender<HashMap<String, String>>,
    names: Vec<String>,
}

impl Verifiers {
    pub(crate) fn start(config: &Config, registry: &Registry, now: &[&str]) -> Verifiers {
        let wanted = passwords(config, &roles_in(&config.env, registry), |n| {
            !now.contains(&n)
        });
        let names = wanted.iter().map(|(n, _)| n.clone()).collect();
        let (stored, arriving) = std::sync::mpsc::channel();
        let computed = std::thread::spawn(move || {
            let stored = arriving.recv().unwrap_or_default();
            verifiers_of(wanted, &stored)
        });
        Verifiers {
            computed,
            stored,
            names,
        }
    }

    /// Hands the thread the logins' stored verifiers, as far as the administrator
    /// may read them (once the roles exist): a login whose stored verifier was made
    /// from its configured password is not set again.
    pub(crate) fn compare_with_stored(&self, client: &mut Client) -> Result<()> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let stored = stored_verifiers(client, &names)?;
        // A thread that ended needs nothing more.
        let _ = self.stored.send(stored);
        Ok(())
    }

    /// Waits for the verifiers and sets them, in the registry's order.
    pub(crate) fn set(
        self,
        client: &mut Client,
        registry: &Registry,
        config: &Config,
    ) -> Result<()> {
        drop(self.stored);
        let verifiers = self
            .computed
            .join()
            .map_err(|_| Error::Internal("computing role verifiers panicked".into()))?;
        set_in_order(client, &roles_in(&config.env, registry), &verifiers)
    }
}

/// The configured passwords of the logins of `specs` that `pick` chooses by name.
fn passwords(
    config: &Config,
    specs: &[RoleSpec],
    pick: impl Fn(&str) -> bool,
) -> Vec<(String, crate::config::Secret)> {
    specs
        .iter()
        .filter(|spec| spec.login && pick(&spec.name))
        .filter_map(|spec| {
            Some((
                spec.name.clone(),
                config.password_for(&spec.suffix)?.clone(),
            ))
        })
        .collect()
}

/// Sets `verifiers` in the order of `specs` (the registry's: a failure happens at
/// the same role every time); `None` is a login whose stored verifier was already
/// made from its configured password, which is left as it is ([`verifiers_of`]).
fn set_in_order(
    client: &mut Client,
    specs: &[RoleSpec],
    verifiers: &HashMap<String, Option<String>>,
) -> Result<()> {
    let unchanged = verifiers.values().filter(|v| v.is_none()).count();
    if unchanged > 0 {
        log::debug!("{unchanged} login password(s) unchanged, not set again");
    }
    let pairs: Vec<(&str, &str)> = specs
        .iter()
        .filter_map(|spec| Some((spec.name.as_str(), verifiers.get(&spec.name)?.as_deref()?)))
        .collect();
    set_verifiers(client, &pairs)
}

/// The stored verifiers of `names`, or none when the administrator may not read
/// them (only a superuser reads `pg_authid`).
fn stored_verifiers(client: &mut Client, names: &[&str]) -> Result<HashMap<String, String>> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let readable: bool = client
        .query_one(
            "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')",
            &[],
        )
        .context("asking whether the stored verifiers are readable")?
        .get(0);
    if !readable {
        return Ok(HashMap::new());
    }
    Ok(client
        .query(
            "SELECT rolname::text, rolpassword FROM pg_catalog.pg_authid
              WHERE rolname = ANY($1) AND rolpassword IS NOT NULL",
            &[&names],
        )
        .context("reading the stored verifiers")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Whether `password` is the one the stored SCRAM-SHA-256 `verifier` was made from,
/// found the way SCRAM authentication finds it (RFC 5802): the client side of
/// `postgres-protocol` derives its keys from the password (prepared as the server
/// prepares it) with the verifier's salt and iteration count, and must accept the
/// server signature made with the stored server key. It costs one authentication's
/// key derivation, as a guess tried against the server does.
pub fn verifier_matches(verifier: &str, password: &str) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{KeyInit, Mac};
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
    let check = || -> Option<bool> {
        // SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>
        let (params, keys) = verifier.strip_prefix("SCRAM-SHA-256$")?.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let server_key = STANDARD.decode(keys.split_once(':')?.1).ok()?;
        let mut client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        let first_bare = std::str::from_utf8(client.message())
            .ok()?
            .strip_prefix("n,,")?
            .to_string();
        let nonce = first_bare.strip_prefix("n=,r=")?;
        let server_first = format!("r={nonce}0,s={salt},i={iterations}");
        client.update(server_first.as_bytes()).ok()?;
        let client_final = std::str::from_utf8(client.message()).ok()?;
        let without_proof = client_final.rsplit_once(",p=")?.0;
        let auth = format!("{first_bare},{server_first},{without_proof}");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&server_key).ok()?;
        mac.update(auth.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        Some(client.finish(format!("v={signature}").as_bytes()).is_ok())
    };
    check().unwrap_or(false)
}

/// The SCRAM verifier of each (role, password), computed on the machine's cores;
/// `None` for a login whose `stored` verifier was made from that password.
/// Only a verifier ever leaves this process: the clear-text password is never part
/// of any statement the server could log.
///
/// Setting a SCRAM verifier costs the server a full key derivation of its own (it
/// checks the new secret against the empty password): some 3–7 ms a login, most of
/// a recreate whose tree did not change. Finding that a stored verifier was made
/// from the configured password takes the same derivation here, with the verifier's
/// own salt and iteration count, and gives nobody a faster test of a guess:
/// [`verifier_matches`] is SCRAM authentication itself.
fn verifiers_of(
    wanted: Vec<(String, crate::config::Secret)>,
    stored: &HashMap<String, String>,
) -> HashMap<String, Option<String>> {
    crate::runtime::map_on_cores(
        wanted,
        |_| 1,
        |(name, p)| {
            let unchanged = stored
                .get(&name)
                .is_some_and(|v| verifier_matches(v, p.expose()));
            let verifier = (!unchanged)
                .then(|| postgres_protocol::password::scram_sha_256(p.expose().as_bytes()));
            (name, verifier)
        },
    )
    .into_iter()
    .collect()
}

/// Creates or puts back every role of the environment, setting the passwords of the
/// logins in `now` (the build logs in as those); every other login with a
/// configured password keeps the one it has until its [`Verifiers`] are set, and a
/// login with none configured has its password removed. Returns the logins with no
/// password configured.
pub(crate) fn ensure_roles_deferring(
    client: &mut Client,
    config: &Config,
    rights: &AdminRights,
    registry: &Registry,
    now: &[&str],
) -> Result<Vec<String>> {
    // The tree's own registry may reserve more endings than the compiled one.
    validate_env_label_in(&config.env, registry)?;
    let specs = roles_in(&config.env, registry);
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    for n in &names {
        validate_role_name(n)?;
    }
    let existing = existing_roles(client, &names).context("listing existing roles")?;
    refuse_foreign(client, &config.env, &names)?;
    if !rights.superuser {
        refuse_escalated(client, &names, rights)?;
    }
    let stray = stray_memberships(client, &specs)?;
    let without = write_roles(client, config, rights, &specs, &existing, &stray)?;
    let wanted = passwords(config, &specs, |n| now.contains(&n));
    let names: Vec<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
    let stored = stored_verifiers(client, &names)?;
    let verifiers = verifiers_of(wanted, &stored);
    set_in_order(client, &specs, &verifiers)?;
    Ok(without)
}

/// Creates or puts back every role of `specs`; a login with no configured password
/// loses any it has (the verifiers of the others are set apart).
fn write_roles(
    client: &mut Client,
    config: &Config,
    rights: &AdminRights,
    specs: &[RoleSpec],
    existing: &[String],
    stray: &[(String, String)],
) -> Result<Vec<String>> {
    let mut sql = String::new();
    let mut without_password = Vec::new();
    for spec in specs {
        let role = quote_ident(&spec.name);
        // Least privilege is stated explicitly rather than trusted to defaults, so a
        // role someone altered by hand is put back on every run.
        let login = if spec.login { "LOGIN" } else { "NOLOGIN" };
        // PostgreSQL refuses even a NOSUPERUSER, NOREPLICATION or NOBYPASSRLS from a
        // login that is not a superuser; refuse_escalated made sure none is set, and
        // a role it creates never has them.
        let attrs = if rights.superuser {
            format!("{login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT")
        } else {
            format!("{login} NOCREATEDB NOCREATEROLE INHERIT")
        };
        let verb = if existing.contains(&spec.name) {
            "ALTER"
        } else {
            "CREATE"
        };
        sql.push_str(&format!("{verb} ROLE {role} {attrs}"));
        if spec.login && config.password_for(&spec.suffix).is_none() {
            sql.push_str(" PASSWORD NULL");
            without_password.push(spec.name.clone());
        }
        sql.push_str(";\n");
        sql.push_str(&format!(
            "COMMENT ON ROLE {role} IS {};\n",
            quote_literal(&env_mark(&config.env))
        ));
        if let Some(group) = &spec.member_of {
            sql.push_str(&format!("GRANT {} TO {role};\n", quote_ident(group)));
        }
    }
    // A membership nobody derived from the registry (granted by hand, or left by a
    // label that once named the same role) would outlive every rebuild; the
    // registry is the whole truth about who is in which group.
    for (member, group) in stray {
        log::warn!("revoking {group} from {member}: the registry does not give it");
        sql.push_str(&format!(
            "REVOKE {} FROM {};\n",
            quote_ident(group),
            quote_ident(member)
        ));
    }
    client
        .batch_execute(&sql)
        .context(format!("creating roles of environment {}", config.env))?;
    if !without_password.is_empty() {
        // The first few show the pattern; `BuildReport::roles_without_password` (and
        // `compass db roles`) carry every one of them.
        const NAMED: usize = 3;
        let mut named = without_password[..without_password.len().min(NAMED)].join(", ");
        if without_password.len() > NAMED {
            named.push_str(&format!(" and {} more", without_password.len() - NAMED));
        }
        log::warn!(
            "no password configured for {} login role(s) ({named}); they can only log in where the server trusts the connection (set ORES_DB_<SUFFIX>_PASSWORD, or write them all with compass env configure)",
            without_password.len(),
        );
    }
    Ok(without_password)
}

/// Refuses, before anything is changed, a role of the environment's names whose
/// comment marks it for another environment: it is that environment's, and adopting
/// it would hand one environment's login to another.
fn refuse_foreign(client: &mut Client, env: &str, names: &[&str]) -> Result<()> {
    match foreign_roles(client, env, names)?.into_iter().next() {
        None => Ok(()),
        Some((role, other)) => Err(Error::ForeignRole {
            role,
            owner: other,
            env: env.to_string(),
        }),
    }
}

/// The roles among `names` marked for an environment other than `env`, with it.
pub fn foreign_roles(
    client: &mut Client,
    env: &str,
    names: &[&str],
) -> Result<Vec<(String, String)>> {
    Ok(client
        .query(
            "SELECT rolname::text, coalesce(shobj_description(oid, 'pg_authid'), '')
               FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1",
            &[&names],
        )
        .context("reading the environment marks of roles")?
        .iter()
        .filter_map(|r| {
            let comment: String = r.get(1);
            let other = marked_env(&comment)?;
            (other != env).then(|| (r.get(0), other.to_string()))
        })
        .collect())
}

/// Memberships of the environment's roles that the registry does not give them, as
/// (member, group): a group role is in no group; a login is in its own group only.
/// Memberships *in* the environment's roles of roles outside it (a non-superuser
/// administrator's in the owner group) are not the registry's to judge.
pub fn stray_memberships(client: &mut Client, specs: &[RoleSpec]) -> Result<Vec<(String, String)>> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    Ok(client
        .query(
            "SELECT r.rolname::text, g.rolname::text
               FROM pg_auth_members m
               JOIN pg_roles r ON r.oid = m.member
               JOIN pg_roles g ON g.oid = m.roleid
              WHERE r.rolname = ANY($1) ORDER BY 1, 2",
            &[&names],
        )
        .context("reading the memberships of the environment's roles")?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .filter(|(member, group)| {
            !specs
                .iter()
                .any(|s| &s.name == member && s.member_of.as_ref() == Some(group))
        })
        .collect())
}

/// Refuses, before anything is changed, to provision an environment one of whose
/// roles has an attribute only a superuser may take away.
fn refuse_escalated(client: &mut Client, names: &[&str], rights: &AdminRights) -> Result<()> {
    let rows = client
        .query(
            "SELECT rolname::text, rolsuper, rolreplication, rolbypassrls
               FROM pg_roles WHERE rolname = ANY($1) AND (rolsuper OR rolreplication OR rolbypassrls)
              ORDER BY 1",
            &[&names],
        )
        .context("checking the environment's role attributes")?;
    let Some(r) = rows.first() else {
        return Ok(());
    };
    let role: String = r.get(0);
    let attrs: Vec<&str> = ["SUPERUSER", "REPLICATION", "BYPASSRLS"]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| r.get::<_, bool>(i + 1))
        .map(|(_, a)| a)
        .collect();
    Err(Error::AdminPrivilege {
        admin: rights.user.clone(),
        missing: "SUPERUSER".into(),
        reason: format!(
            "role {role} has {}, which only a superuser may take away; have one run `ALTER ROLE {} NOSUPERUSER NOREPLICATION NOBYPASSRLS`; nothing was changed",
            attrs.join(", "),
            quote_ident(&role)
        ),
    })
}

/// Sets a login role's SCRAM verifier. The verifier travels as a bind parameter
/// whose `Debug` is redacted, because the driver logs statement text and parameters
/// at debug level: with `RUST_LOG=debug` an `ALTER ROLE ... PASSWORD '...'` would
/// print it, and a verifier is enough to attempt an offline guess.
pub(crate) fn set_verifier(client: &mut Client, role: &str, verifier: &str) -> Result<()> {
    set_verifiers(client, &[(role, verifier)])
}

/// [`set_verifier`] for several roles in three round trips, whatever their number:
/// the pairs travel as one redacted parameter and one block sets them in order.
pub(crate) fn set_verifiers(client: &mut Client, pairs: &[(&str, &str)]) -> Result<()> {
    let Some((first, _)) = pairs.first() else {
        return Ok(());
    };
    let what = match pairs.len() {
        1 => format!("setting the password of {first}"),
        n => format!("setting the passwords of {n} roles, {first} first"),
    };
    let json = serde_json::json!(pairs).to_string();
    client
        .execute(
            "SELECT set_config('ores.role_verifiers', $1, false)",
            &[&Redacted(&json)],
        )
        .context(what.clone())?;
    let set = client.batch_execute(
        "DO $ores$ DECLARE r json; BEGIN
             FOR r IN SELECT json_array_elements(current_setting('ores.role_verifiers')::json) LOOP
                 EXECUTE format('ALTER ROLE %I PASSWORD %L', r->>0, r->>1);
             END LOOP;
         END $ores$;",
    );
    // Cleared whatever happened, so the session does not keep it.
    let cleared = client.batch_execute("RESET ores.role_verifiers");
    set.context(what)?;
    cleared.context("clearing the password setting")
}

/// A text parameter that prints as `<redacted>`.
pub(crate) struct Redacted<'a>(pub(crate) &'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl ToSql for Redacted<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    postgres::types::to_sql_checked!();
}

/// Which of `names` are roles on the server.
///
/// The driver's error is returned as it is, for each caller to say what it was doing.
pub(crate) fn existing_roles<T: ToSql + Sync>(
    client: &mut Client,
    names: &[T],
) -> std::result::Result<Vec<String>, postgres::Error> {
    Ok(client
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1)",
            &[&names],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Drops every role of environment `env` that exists (login users before groups).
/// Their databases must already be gone; privileges they hold in the current database
/// are removed first.
pub fn drop_roles(client: &mut Client, env: &str) -> Result<Vec<String>> {
    drop_roles_in(client, env, Registry::compiled())
}

/// [`drop_roles`] for the roles of `registry`.
pub fn drop_roles_in(client: &mut Client, env: &str, registry: &Registry) -> Result<Vec<String>> {
    let rights = AdminRights::detect(client)?;
    drop_roles_as(client, env, &rights, registry)
}

/// [`drop_roles_in`] for an administrator whose rights are known.
pub(crate) fn drop_roles_as(
    client: &mut Client,
    env: &str,
    rights: &AdminRights,
    registry: &Registry,
) -> Result<Vec<String>> {
    let specs = roles_in(env, registry);
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    // Dropping a role another environment's mark claims would remove that
    // environment's login (or group) from under it.
    refuse_foreign(client, env, &names)?;
    let mut existing = existing_roles(client, &names).context("listing existing roles")?;
    // A tree built with its own ores-sql.toml may have given the environment login
    // users this registry does not name: they are found as members of the
    // environment's groups that also carry its exact `ores_<env>_` prefix.
    let groups: Vec<String> = GROUPS.iter().map(|g| role_name(env, g)).collect();
    let others: Vec<String> = client
        .query(
            "SELECT DISTINCT r.rolname::text
               FROM pg_auth_members m
               JOIN pg_roles r ON r.oid = m.member
               JOIN pg_roles g ON g.oid = m.roleid
              WHERE g.rolname = ANY($1) AND starts_with(r.rolname::text, $2)
                AND r.rolname::text <> ALL($3::text[])
              ORDER BY 1",
            &[&groups, &role_name(env, ""), &names],
        )
        .context("listing members of the environment's groups")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if existing.is_empty() && others.is_empty() {
        return Ok(existing);
    }
    // Members go before the groups they belong to.
    let mut order: Vec<String> = others.clone();
    order.extend(specs.iter().rev().map(|s| s.name.clone()));
    existing.extend(others);
    let list = existing
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ");
    // One implicit transaction: a failed drop keeps the roles and takes no rights.
    let mut sql = rights.before_dropping_roles(&existing);
    sql.push_str(&format!("DROP OWNED BY {list};\n"));
    for name in &order {
        if existing.contains(name) {
            sql.push_str(&format!("DROP ROLE {};\n", quote_ident(name)));
        }
    }
    client
        .batch_execute(&sql)
        .context(format!("dropping roles of environment {env}"))?;
    Ok(existing)
}

#[cfg(test)]
mod tests {
    use super::verifier_matches;
    use postgres_protocol::password::scram_sha_256;

    #[test]
    fn a_stored_verifier_matches_only_the_password_it_was_made_from() {
        for password in ["pw", "pw-'\"#=x", "Ünïcødé ✓", ""] {
            let verifier = scram_sha_256(password.as_bytes());
            assert!(verifier_matches(&verifier, password), "{password}");
            assert!(
                !verifier_matches(&verifier, &format!("{password}!")),
                "{password}"
            );
        }
        // Prepared as the server prepares a password (SASLprep): a soft hyphen maps to
        // nothing, so both spellings are one password.
        let verifier = scram_sha_256("I\u{AD}X".as_bytes());
        assert!(verifier_matches(&verifier, "IX"));
        for broken in [
            "",
            "md5abc",
            "SCRAM-SHA-256$4096:c2FsdA==",
            "SCRAM-SHA-256$x:y$z:w",
        ] {
            assert!(!verifier_matches(broken, "pw"), "{broken}");
        }
    }
}
