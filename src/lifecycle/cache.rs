//! Cached rebuilds: each environment keeps a copy of its last full build,
//! `<db>__template`, and a recreate whose inputs have not changed clones it instead of
//! running the SQL again.
//!
//! The template is keyed by everything that shapes the database (see `cache_key`);
//! a key that does not match means the template is dropped and the database built
//! from the SQL, after which a new template is made from that build. The template
//! can never be connected to: it is created with `ALLOW_CONNECTIONS false`, owned by
//! the administrator (so no environment role may alter it), without CONNECT for
//! anyone, and not marked `IS_TEMPLATE` (so only a superuser can clone it). Its name
//! carries a suffix [`crate::lifecycle::target::check_name`] refuses, so no command
//! can be pointed at it.

use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{PgContext, Result};
use crate::lifecycle::target::TEMPLATE_SUFFIX;
use crate::lifecycle::version::{BUILD_TABLE, BuildPath, CRATE_VERSION};
use crate::lifecycle::{Lap, build_database, discard};
use crate::server::admin::{connect_admin_to, drop_database, wait_for_no_sessions};
use crate::server::grants::database_grants_sql;
use crate::server::roles::{role_name, roles_in};
use crate::tree::manifest::Manifest;
use postgres::Client;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The name of `database`'s cached template.
pub fn template_name(database: &str) -> String {
    format!("{database}{TEMPLATE_SUFFIX}")
}

/// The digest of everything a build's result depends on besides the database's own
/// name: the manifest, this crate (it writes the grants and the record), the server
/// version (`template0` and the catalogs), the extensions and the versions the server
/// would install, and the identity (OID) of every role of the environment and of the
/// administrator. Privileges inside the template refer to roles by OID, so a role
/// dropped and created again under the same name must not get a copy whose grants
/// point at its predecessor.
pub(crate) fn cache_key(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
) -> Result<String> {
    let mut text = format!(
        "schema {}\nscripts {}\ncrate {CRATE_VERSION}\n",
        manifest.schema_hash(),
        manifest.scripts().len()
    );
    // Grants are derived from the registry, not written in the scripts: a changed
    // `ores-sql.toml` changes the database as surely as a changed script.
    text.push_str(&format!("registry {:?}\n", manifest.registry()));
    let server = admin
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num'),
                    current_user::text, (SELECT oid::bigint FROM pg_roles WHERE rolname = current_user)",
            &[],
        )
        .context("reading the server version")?;
    text.push_str(&format!(
        "server {} {}\nadmin {} {}\n",
        server.get::<_, String>(0),
        server.get::<_, String>(1),
        server.get::<_, String>(2),
        server.get::<_, i64>(3)
    ));
    let mut extensions = manifest.required_extensions(&config.extensions);
    extensions.extend(manifest.settings().optional_extensions.iter().cloned());
    for ext in &extensions {
        let version: Option<String> = admin
            .query_opt(
                "SELECT default_version::text FROM pg_available_extensions WHERE name = $1",
                &[ext],
            )
            .context("reading extension versions")?
            .and_then(|r| r.get(0));
        text.push_str(&format!(
            "extension {ext} {}\n",
            version.as_deref().unwrap_or("-")
        ));
    }
    let names: Vec<String> = roles_in(&config.env, manifest.registry())
        .into_iter()
        .map(|r| r.name)
        .collect();
    for row in admin
        .query(
            "SELECT rolname::text, oid::bigint FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1",
            &[&names],
        )
        .context("reading role identities")?
    {
        text.push_str(&format!(
            "role {} {}\n",
            row.get::<_, String>(0),
            row.get::<_, i64>(1)
        ));
    }
    Ok(hex(&Sha256::digest(text.as_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Drops every cached template holding objects or privileges of `roles`: a
/// template left by a database that has since gone under another name (`compass db
/// drop`, a changed `ORES_DB_NAME`) would otherwise keep those roles from being
/// dropped. Found through `pg_shdepend`, which sees into databases we cannot enter.
pub(crate) fn drop_templates_of(admin: &mut Client, roles: &[String]) -> Result<Vec<String>> {
    let templates: Vec<String> = admin
        .query(
            "SELECT DISTINCT d.datname::text FROM pg_shdepend s
               JOIN pg_database d ON d.oid = s.dbid
               JOIN pg_roles r ON r.oid = s.refobjid AND s.refclassid = 'pg_authid'::regclass
              WHERE r.rolname = ANY($1) AND right(d.datname, $2) = $3",
            &[&roles, &(TEMPLATE_SUFFIX.len() as i32), &TEMPLATE_SUFFIX],
        )
        .context("looking for cached templates of the environment")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for t in &templates {
        drop_database(admin, t, true)?;
    }
    Ok(templates)
}

/// Whether `template` exists with exactly `key` and in the state we leave it in:
/// closed to connections and owned by a superuser. Anything else is not a template
/// we may trust.
fn template_matches(admin: &mut Client, template: &str, key: &str) -> Result<bool> {
    Ok(admin
        .query_opt(
            "SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
              WHERE d.datname = $1 AND NOT d.datallowconn AND NOT d.datistemplate
                AND r.rolsuper AND shobj_description(d.oid, 'pg_database') = $2",
            &[&template, &key],
        )
        .context("looking up the cached template")?
        .is_some())
}

/// Builds `staging` for `config`'s database: a clone of the cached template when its
/// key matches and no rebuild is asked for, otherwise from the SQL, keeping a new
/// template of the result. On failure `staging` is gone and the error returned; a
/// failure to keep the template is only logged (the next run builds again).
pub(crate) fn build_staging(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    staging: &str,
) -> Result<BuildPath> {
    let template = template_name(&config.database);
    let key = cache_key(admin, config, manifest)?;
    if !config.rebuild && template_matches(admin, &template, &key)? {
        clone_template(admin, config, &template, staging)?;
        return Ok(BuildPath::Cached);
    }
    // Stale, forced out, or not in the state we leave it in. Dropped before the
    // build so that no copy of another schema survives a failed one.
    if drop_database(admin, &template, true)? {
        log::info!("dropped the cached template {template}: it no longer matches");
    }
    // An entry-script tree runs as psql runs it, one step after another (a `\gset`
    // feeds later steps), so it always builds on one connection.
    let path = if config.build_workers > 1 && !manifest.entry_mode() {
        crate::server::parallel::build_database(
            admin,
            config,
            staging,
            manifest,
            config.build_workers,
        )?;
        BuildPath::Parallel
    } else {
        build_database(admin, config, staging, manifest)?;
        BuildPath::Full
    };
    let mut lap = Lap::start();
    if let Err(e) = keep_template(admin, staging, &template, &key) {
        log::warn!(
            "could not keep {template} for cached rebuilds ({e}); the next run builds in full"
        );
        discard(admin, &config.env, &template);
    }
    lap.log("template kept");
    Ok(path)
}

/// Clones the template into `staging` and redoes what is per copy: the database's
/// own privileges (not copied by `CREATE DATABASE`) and the build record.
fn clone_template(
    admin: &mut Client,
    config: &Config,
    template: &str,
    staging: &str,
) -> Result<()> {
    let mut lap = Lap::start();
    let owner = role_name(&config.env, "owner");
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE {} OWNER {} STRATEGY WAL_LOG",
            quote_ident(staging),
            quote_ident(template),
            quote_ident(&owner)
        ))
        .context(format!("cloning {template}"))?;
    lap.log("clone of the template");
    let per_copy = (|| {
        admin
            .batch_execute(&database_grants_sql(&config.env, staging))
            .context("granting database access")?;
        let mut client = connect_admin_to(config, staging)?;
        let has_path: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_attribute
                                 WHERE attrelid = to_regclass($1) AND attname = 'build_path'
                                   AND NOT attisdropped)",
                &[&BUILD_TABLE],
            )
            .context("looking for the build record table")?
            .get(0);
        if has_path {
            client
                .execute(
                    "UPDATE ores_database_builds_tbl SET build_path = $1, built_at = now()",
                    &[&BuildPath::Cached.as_str()],
                )
                .context("writing the build record")?;
        }
        drop(client);
        wait_for_no_sessions(admin, staging, Duration::from_secs(5))?;
        Ok(())
    })();
    if let Err(e) = per_copy {
        discard(admin, &config.env, staging);
        return Err(e);
    }
    lap.log("grants and build record of the copy");
    Ok(())
}

/// Copies the finished `staging` to `template`, closed, and labels it with `key`.
/// Staging is closed first so no session can make the copy fail.
fn keep_template(admin: &mut Client, staging: &str, template: &str, key: &str) -> Result<()> {
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
            quote_ident(staging)
        ))
        .context(format!("closing {staging}"))?;
    crate::server::admin::terminate_sessions(admin, staging)?;
    wait_for_no_sessions(admin, staging, Duration::from_secs(10))?;
    let t = quote_ident(template);
    // Created closed: there is no moment at which it accepts a connection.
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {t} TEMPLATE {} STRATEGY WAL_LOG ALLOW_CONNECTIONS false",
            quote_ident(staging)
        ))
        .context(format!("copying {staging} to {template}"))?;
    admin
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE {t} FROM PUBLIC; COMMENT ON DATABASE {t} IS {}",
            crate::config::ident::quote_literal(key)
        ))
        .context(format!("labelling {template}"))?;
    Ok(())
}
