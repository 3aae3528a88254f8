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
//!
//! Cloning the template costs a copy of every page (a quarter of a second at the real
//! schema's size) and leaves those pages for the swap's `DROP DATABASE` checkpoint to
//! write. With [`RunOptions::retire_in_background`](crate::RunOptions::retire_in_background),
//! the background work after a recreate therefore also makes the next copy,
//! `<db>__spare`, kept exactly like the template (closed, owned by the administrator,
//! labelled with the key); the next cached recreate renames that copy
//! into staging instead of cloning. A spare whose key does not match is dropped like a
//! stale template.

use crate::build::incremental::outline::Statement;
use crate::build::incremental::outline::digest_key;
use crate::build::incremental::outline::{gset_rows, outline, outline_following};
use crate::build::incremental::{GsetRows, Kept, Outline};
use crate::build::record::{BuildPath, CRATE_VERSION, mark_copy};
use crate::build::single::entry::Row;
use crate::build::staging::{build_access_revoked_sql, discard};
use crate::build::{Lap, build_with};
use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{PgContext, Result};
use crate::lifecycle::incremental;
use crate::lifecycle::options::RunOptions;
use crate::lifecycle::target::{SPARE_SUFFIX, STALE_INFIX, TEMPLATE_SUFFIX};
use crate::server::admin::{
    connect_admin, database_exists, drop_database, open_to_administrator, wait_for_no_sessions,
};
use crate::server::grants::database_grants_sql;
use crate::tree::manifest::Manifest;
use crate::tree::roles::{role_name, roles_in};
use postgres::Client;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::time::Duration;

/// The name of `database`'s cached template.
pub fn template_name(database: &str) -> String {
    format!("{database}{TEMPLATE_SUFFIX}")
}

/// The name of the ready copy of `database`'s template.
pub fn spare_name(database: &str) -> String {
    format!("{database}{SPARE_SUFFIX}")
}

/// The names a rebuild sets `database`'s template and spare aside under.
fn stale_names(database: &str) -> [(String, String); 2] {
    [
        (
            template_name(database),
            format!("{database}{STALE_INFIX}{TEMPLATE_SUFFIX}"),
        ),
        (
            spare_name(database),
            format!("{database}{STALE_INFIX}{SPARE_SUFFIX}"),
        ),
    ]
}

/// Drops `database`'s cached template and spare copy, and any set aside.
pub(crate) fn drop_cache(admin: &mut Client, database: &str) -> Result<()> {
    drop_stale(admin, database)?;
    for (live, _) in stale_names(database) {
        drop_database(admin, &live, true)?;
    }
    Ok(())
}

/// Drops the cached copies a rebuild set aside and nobody dropped (the run ended
/// first).
pub(crate) fn drop_stale(admin: &mut Client, database: &str) -> Result<()> {
    for (_, stale) in stale_names(database) {
        drop_database(admin, &stale, true)?;
    }
    Ok(())
}

/// Renames the template and spare out of the way of a rebuild, for the work after the
/// swap to drop: a `DROP DATABASE` requests a checkpoint, which at the real schema's
/// size costs the critical path half a second or more. They are closed and named with
/// a suffix no command accepts, and nothing clones them: a failed build drops them
/// (no copy of another schema survives it), and so does the next run if this one
/// ends first.
fn set_aside(admin: &mut Client, database: &str) -> Result<Vec<String>> {
    drop_stale(admin, database)?;
    let mut aside = Vec::new();
    for (live, stale) in stale_names(database) {
        if database_exists(admin, &live)? {
            admin
                .batch_execute(&format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quote_ident(&live),
                    quote_ident(&stale)
                ))
                .context(format!("setting {live} aside"))?;
            aside.push(stale);
        }
    }
    Ok(aside)
}

/// What a build hands on to the work after the swap: the template to make the next
/// spare from, when one was kept (or used) and still matches, and the stale cached
/// copies to drop.
#[derive(Debug, Clone)]
pub(crate) struct CacheState {
    pub(crate) path: BuildPath,
    pub(crate) template: Option<(String, String)>,
    pub(crate) stale: Vec<String>,
}

/// The digest of everything a build's result depends on besides the database's own
/// name: the manifest and the tree's settings (its variables among them), every
/// value the tree reads through a backtick (as a keyed digest, never the value), the
/// engine's own SQL by content (the code that writes grants, roles, the records and
/// the access list), this crate's version, the server version (`template0` and the
/// catalogs), the extensions and the versions the server would install, the
/// administrator and its kind, and the identity (OID) of every role of the
/// environment. Privileges inside the template refer to roles by OID, so a role
/// dropped and created again under the same name must not get a copy whose grants
/// point at its predecessor.
pub(crate) fn cache_key(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
) -> Result<String> {
    Ok(cache_keys(admin, config, manifest)?.full)
}

/// The cache key, and the digest of everything in it but the tree's scripts: what
/// must not have changed for an incremental build to start from the last one.
pub(crate) struct Keys {
    pub(crate) full: String,
    pub(crate) base: String,
}

/// [`cache_key`] with its base (see [`Keys`]).
pub(crate) fn cache_keys(admin: &mut Client, config: &Config, manifest: &Manifest) -> Result<Keys> {
    let mut text = format!("crate {CRATE_VERSION}\n");
    // Grants are derived from the registry, not written in the scripts: a changed
    // `ores-sql.toml` changes the database as surely as a changed script.
    text.push_str(&format!("registry {:?}\n", manifest.registry()));
    text.push_str(&format!("settings {:?}\n", manifest.settings()));
    text.push_str(&format!("engine {}\n", engine_digest()));
    for (name, digest) in read_values(config, manifest) {
        text.push_str(&format!("reads {name} {digest}\n"));
    }
    let server = admin
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num'),
                    current_user::text,
                    (SELECT oid::bigint || ' ' || rolsuper || rolcreatedb || rolcreaterole
                       FROM pg_roles WHERE rolname = current_user)",
            &[],
        )
        .context("reading the server version")?;
    text.push_str(&format!(
        "server {} {}\nadmin {} {}\n",
        server.get::<_, String>(0),
        server.get::<_, String>(1),
        server.get::<_, String>(2),
        server.get::<_, String>(3)
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
    let base = hex::encode(Sha256::digest(text.as_bytes()));
    text.push_str(&format!(
        "schema {}\nscripts {}\n",
        manifest.schema_hash(),
        manifest.scripts().len()
    ));
    Ok(Keys {
        full: hex::encode(Sha256::digest(text.as_bytes())),
        base,
    })
}

/// The sources of the SQL the engine itself writes into a database (grants, roles
/// and their memberships, the records, the access list, the build's sessions): a
/// change to any of them changes what a build makes under the same crate version.
const ENGINE_SOURCES: [&str; 7] = [
    include_str!("../server/grants.rs"),
    include_str!("../server/roles.rs"),
    include_str!("../build/record.rs"),
    include_str!("../build/phases.rs"),
    include_str!("../build/staging.rs"),
    include_str!("../build/login.rs"),
    include_str!("../build/hidden.rs"),
];

/// The digest of [`ENGINE_SOURCES`].
fn engine_digest() -> &'static str {
    static DIGEST: once_cell::sync::Lazy<String> = once_cell::sync::Lazy::new(|| {
        let mut h = Sha256::new();
        for source in ENGINE_SOURCES {
            h.update(source.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    });
    &DIGEST
}

/// Each name the tree reads through a backtick, with a keyed digest of the value it
/// would read now (`-` when unset). The key is the administrator's password: the cache
/// key stands in the template's comment, which every login may read, and a plain
/// digest of a weak password could be guessed offline. Without an administrator
/// password the server trusts its local logins, and the digest gives away nothing
/// that trust does not.
fn read_values(config: &Config, manifest: &Manifest) -> Vec<(String, String)> {
    let mut names: Vec<String> = manifest
        .scripts()
        .iter()
        .flat_map(|s| crate::tree::psql::backtick_names(&s.sql))
        .collect();
    names.sort();
    names.dedup();
    let key = digest_key(config);
    names
        .into_iter()
        .map(|name| {
            let digest = match crate::build::single::entry::lookup_in(config, &name) {
                None => "-".to_string(),
                Some(value) => {
                    let mut h = Sha256::new();
                    h.update(key);
                    h.update(name.as_bytes());
                    h.update([0]);
                    h.update(value.as_bytes());
                    hex::encode(h.finalize())
                }
            };
            (name, digest)
        })
        .collect()
}

/// Drops every cached template and spare holding objects or privileges of `roles`:
/// one left by a database that has since gone under another name (`compass db drop`,
/// a changed `ORES_DB_NAME`) would otherwise keep those roles from being dropped.
/// Found through `pg_shdepend`, which sees into databases we cannot enter.
pub(crate) fn drop_templates_of(admin: &mut Client, roles: &[String]) -> Result<Vec<String>> {
    let templates: Vec<String> = admin
        .query(
            "SELECT DISTINCT d.datname::text FROM pg_shdepend s
               JOIN pg_database d ON d.oid = s.dbid
               JOIN pg_roles r ON r.oid = s.refobjid AND s.refclassid = 'pg_authid'::regclass
              WHERE r.rolname = ANY($1) AND (right(d.datname, $2) = $3 OR right(d.datname, $4) = $5)",
            &[
                &roles,
                &(TEMPLATE_SUFFIX.len() as i32),
                &TEMPLATE_SUFFIX,
                &(SPARE_SUFFIX.len() as i32),
                &SPARE_SUFFIX,
            ],
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
pub(crate) fn template_matches(admin: &mut Client, template: &str, key: &str) -> Result<bool> {
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

/// The key a cached template is labelled with, when it is in the state we leave
/// it in (closed, owned by a superuser); `None` otherwise.
pub(crate) fn template_label(admin: &mut Client, template: &str) -> Result<Option<String>> {
    Ok(admin
        .query_opt(
            "SELECT shobj_description(d.oid, 'pg_database') FROM pg_database d
               JOIN pg_roles r ON r.oid = d.datdba
              WHERE d.datname = $1 AND NOT d.datallowconn AND NOT d.datistemplate AND r.rolsuper",
            &[&template],
        )
        .context("looking up the cached template")?
        .and_then(|r| r.get(0)))
}

/// Builds `staging` for `config`'s database: the spare copy or a clone of the cached
/// template when its key matches and no rebuild is asked for, otherwise from the SQL,
/// keeping a new template of the result. On failure `staging` is gone and the error
/// returned; a failure to keep the template is only logged (the next run builds
/// again).
pub(crate) fn build_staging(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    staging: &str,
    options: &RunOptions,
) -> Result<CacheState> {
    let template = template_name(&config.database);
    let spare = spare_name(&config.database);
    let keys = cache_keys(admin, config, manifest)?;
    let key = keys.full.clone();
    if !options.rebuild && template_matches(admin, &template, &key)? {
        let mut lap = Lap::start();
        if template_matches(admin, &spare, &key)? {
            take_spare(admin, config, &spare, staging)?;
            lap.log("spare copy taken");
        } else {
            // Half made by a run that ended, or of an older build.
            drop_database(admin, &spare, true)?;
            clone_template(admin, config, &template, staging)?;
        }
        per_copy(admin, config, manifest, staging)?;
        return Ok(CacheState {
            path: BuildPath::Cached,
            template: Some((template, key)),
            stale: Vec::new(),
        });
    }
    // Read for a rebuild too: an earlier build decides whether the outline is
    // needed before this one.
    let last = incremental::last_build(admin, config, &keys)?;
    // The tree as it would run, its `\gset` queries answered as in the last build.
    let gsets = last.as_ref().map_or(Vec::new(), |l| gset_rows(&l.recorded));
    // Only an incremental build needs the outline first; a full one (forced, or with
    // no earlier build to start from) has it made alongside.
    let before = match last.as_ref().filter(|_| !options.rebuild) {
        None => None,
        Some(last) => Some(outline_making_spare(
            admin,
            (config, manifest),
            last,
            &gsets,
        )?),
    };
    if let (Some(last), Some(Ok(statements))) = (&last, &before)
        && let Some(state) = incremental::build(
            admin,
            config,
            manifest,
            staging,
            &keys,
            (last, statements),
            options,
        )?
    {
        return Ok(state);
    }
    // Stale, forced out, or not in the state we leave it in.
    let stale = set_aside(admin, &config.database)?;
    if !stale.is_empty() {
        log::info!("set the cached template {template} aside: it is to be built again");
    }
    let built = build_keeping_outline(
        admin,
        (config, manifest, options),
        staging,
        &keys.base,
        (before.as_ref(), &gsets),
    );
    let path = match built {
        Ok(path) => path,
        Err(e) => {
            for s in &stale {
                if let Err(d) = drop_database(admin, s, true) {
                    log::warn!("could not drop {s} ({d}); the next run will");
                }
            }
            return Err(e);
        }
    };
    let mut lap = Lap::start();
    let kept = match keep_template(admin, staging, &template, &key) {
        Ok(()) => Some((template, key)),
        Err(e) => {
            log::warn!(
                "could not keep {template} for cached rebuilds ({e}); the next run builds in full"
            );
            discard(admin, &config.env, &template);
            None
        }
    };
    lap.log("template kept");
    Ok(CacheState {
        path,
        template: kept,
        stale,
    })
}

/// The outline an incremental build plans from, made while the spare copy it
/// starts from is made on a connection of its own when none is ready (the last run
/// was a full build, or left its work after the swap undone): the copy is the
/// server's work, the outline this process's, and neither waits for the other. An
/// unused spare stays the template's ready copy; one that could not be made is
/// cloned by the build as before.
fn outline_making_spare(
    admin: &mut Client,
    (config, manifest): (&Config, &Manifest),
    last: &incremental::LastBuild,
    gsets: &[Row],
) -> Result<Outlined> {
    let database = config.database.as_str();
    let ready = template_matches(admin, &spare_name(database), &last.key)?;
    std::thread::scope(|s| {
        let spare = (!ready).then(|| {
            s.spawn(|| {
                let mut own = connect_admin(config)?;
                make_spare(&mut own, database, &template_name(database), &last.key)
            })
        });
        let mut lap = Lap::start();
        let outline = outline(config, manifest, gsets);
        lap.log("outline of the tree");
        if let Some(made) = spare {
            match made.join() {
                Ok(Ok(())) => lap.log("spare copy made alongside: waited"),
                Ok(Err(e)) => log::info!("no spare copy made alongside ({e}); cloning instead"),
                Err(_) => log::warn!("making the spare copy panicked; cloning instead"),
            }
        }
        let outline = outline?;
        if let Err(why) = &outline {
            log::info!("building in full: the tree has no outline ({why})");
        }
        Ok(outline)
    })
}

/// A tree's stream of statements, or why it has none.
type Outlined = std::result::Result<Vec<Statement>, String>;

/// A full build into `staging` that keeps the tree's outline for the next
/// incremental one: the outline made `before` the build (its `\gset` queries
/// answered with `rows`), or, with none, one made on a thread alongside the build from
/// the rows the build's own queries return.
fn build_keeping_outline(
    admin: &mut Client,
    (config, manifest, options): (&Config, &Manifest, &RunOptions),
    staging: &str,
    base: &str,
    (before, rows): (Option<&Outlined>, &[Row]),
) -> Result<BuildPath> {
    std::thread::scope(|s| {
        let kept = match before {
            Some(outline) => Kept {
                base,
                outline: Outline::Before {
                    statements: outline.as_deref().ok(),
                    rows,
                },
                gsets: GsetRows::default(),
            },
            None => {
                let (rows, rows_to_outline) = std::sync::mpsc::channel();
                let (made, outline_made) = std::sync::mpsc::channel();
                s.spawn(move || {
                    // The build waits for nothing from this thread: with the build
                    // gone (it failed), nothing reads what is sent.
                    let _ = made.send(outline_following(config, manifest, rows_to_outline));
                });
                Kept {
                    base,
                    outline: Outline::Alongside(RefCell::new(Some(outline_made))),
                    gsets: GsetRows::handed_to(rows),
                }
            }
        };
        // Dropping `kept` at the end closes the rows' channel, so the outline's
        // thread ends before the scope waits for it.
        build_with(
            admin,
            config,
            staging,
            manifest,
            (options.workers_for(config), options.bulk_seed),
            Some(&kept),
        )
    })
}

/// Clones the template into `staging`, owned by the environment's owner.
pub(crate) fn clone_template(
    admin: &mut Client,
    config: &Config,
    template: &str,
    staging: &str,
) -> Result<()> {
    let mut lap = Lap::start();
    let owner = role_name(&config.env, "owner");
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE {} OWNER {} STRATEGY WAL_LOG ALLOW_CONNECTIONS false",
            quote_ident(staging),
            quote_ident(template),
            quote_ident(&owner)
        ))
        .context(format!("cloning {template}"))?;
    open_to_administrator(admin, staging, &owner)?;
    lap.log("clone of the template");
    Ok(())
}

/// Renames the spare copy to `staging` and puts it in the state a clone starts in:
/// owned by the environment's owner, unlabelled, open to the administrator alone.
pub(crate) fn take_spare(
    admin: &mut Client,
    config: &Config,
    spare: &str,
    staging: &str,
) -> Result<()> {
    let (s, t) = (quote_ident(spare), quote_ident(staging));
    let owner = role_name(&config.env, "owner");
    let taken = admin
        .batch_execute(&format!(
            "ALTER DATABASE {s} RENAME TO {t}; ALTER DATABASE {t} OWNER TO {};
             COMMENT ON DATABASE {t} IS NULL",
            quote_ident(&owner)
        ))
        .context(format!("taking {spare}"))
        .and_then(|()| open_to_administrator(admin, staging, &owner));
    if let Err(e) = taken {
        // Renamed or not, it is no longer a spare anyone may trust.
        discard(admin, &config.env, staging);
        return Err(e);
    }
    Ok(())
}

/// What is per copy: the database's own privileges (`CREATE DATABASE` copies none)
/// and the build record, written by the DDL login (the administrator runs nothing in
/// a database the tree's code is in).
fn per_copy(admin: &mut Client, config: &Config, manifest: &Manifest, staging: &str) -> Result<()> {
    let mut lap = Lap::start();
    let done = (|| {
        mark_copy(admin, config, manifest, staging)?;
        admin
            .batch_execute(&format!(
                "{}{}",
                database_grants_sql(&config.env, staging),
                build_access_revoked_sql(config, manifest, staging)?
            ))
            .context("granting database access")?;
        wait_for_no_sessions(admin, staging, Duration::from_secs(5))?;
        Ok(())
    })();
    if let Err(e) = done {
        discard(admin, &config.env, staging);
        return Err(e);
    }
    lap.log("grants and build record of the copy");
    Ok(())
}

/// Makes `database`'s spare copy from `template` if the template still carries `key`
/// and no matching spare exists. Runs after the swap, off the critical path (see
/// [`crate::lifecycle::retire`]), as does the next swap's drop whose checkpoint
/// writes the copy's pages if the server has not written them by then.
pub(crate) fn make_spare(
    admin: &mut Client,
    database: &str,
    template: &str,
    key: &str,
) -> Result<()> {
    let spare = spare_name(database);
    if !template_matches(admin, template, key)? || template_matches(admin, &spare, key)? {
        return Ok(());
    }
    drop_database(admin, &spare, true)?;
    copy_closed(admin, template, &spare, key)
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
    copy_closed(admin, staging, template, key)
}

/// `CREATE DATABASE to TEMPLATE from`, closed from the start (there is no moment at
/// which it accepts a connection), owned by the administrator, with no privileges
/// for anyone, labelled with `key`. A copy whose label is missing (the run ended
/// between the two statements) matches no key and is dropped by the next run.
fn copy_closed(admin: &mut Client, from: &str, to: &str, key: &str) -> Result<()> {
    let t = quote_ident(to);
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {t} TEMPLATE {} STRATEGY WAL_LOG ALLOW_CONNECTIONS false",
            quote_ident(from)
        ))
        .context(format!("copying {from} to {to}"))?;
    admin
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE {t} FROM PUBLIC; COMMENT ON DATABASE {t} IS {}",
            crate::config::ident::quote_literal(key)
        ))
        .context(format!("labelling {to}"))?;
    Ok(())
}
