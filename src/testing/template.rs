//! Template databases: keyed, built once under a lock, marked ready atomically, and
//! removed when no process uses their key any more.
//!
//! Locks (`server::lock`, classes `TemplateUse` and `TemplateBuild`, named
//! by the template key):
//! - every process that clones a template holds the *use* lock in shared mode for its
//!   whole life (on its anchor session, so the server releases it when the process
//!   dies);
//! - the process that builds a missing template also holds the *build* lock, so two
//!   processes never build the same key at once;
//! - a process that finds a template of another key tries the use lock in exclusive
//!   mode without waiting: if it gets it, nobody uses that key and the template (and,
//!   once no clone is left, its roles) can go.
//!
//! A template is built under `ores_tpl_<key>_build`, then renamed and marked
//! `IS_TEMPLATE` in one transaction, with the full key as its comment: a database with
//! the final name, the template flag and the matching comment is complete by
//! construction, so clones never see a half-built one.

use super::names::{
    KEPT_COMMENT, SHORT, TEMPLATE_PREFIX, TEST_DB_PREFIX, TemplateKey, build_name, label,
    parse_test_db_name, pool_prefix,
};
use crate::build::build_database;
use crate::config::Config;
use crate::config::ident::{quote_ident, quote_literal};
use crate::error::{PgContext, Result};
use crate::lifecycle::version::CRATE_VERSION;
use crate::server::admin::{
    check_extensions, database_exists, drop_database, server_major_version,
};
use crate::server::lock::{AdvisoryLock, LockClass};
use crate::server::roles::{drop_roles, ensure_roles_in, roles_in};
use crate::tree::manifest::Manifest;
use postgres::Client;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Computes the key from the manifest, the server's major version, the versions of the
/// extensions a build installs, and the role and grant layout compiled into this crate
/// (grants are derived by code, not by the scripts, so the schema hash alone misses them).
pub fn template_key(
    admin: &mut Client,
    manifest: &Manifest,
    extensions: &[String],
) -> Result<TemplateKey> {
    let major = server_major_version(admin)?;
    let versions: Vec<(String, String)> = admin
        .query(
            "SELECT name::text, coalesce(default_version, '') FROM pg_available_extensions
              WHERE name = ANY($1) ORDER BY name",
            &[&extensions],
        )
        .context("reading extension versions")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut h = Sha256::new();
    // 2: templates are owned by the administrator. A template of version 1 was owned
    // by the key's owner group, whose DDL user could open it and plant rows every
    // later clone carried; a new key makes sure none of those is cloned again.
    // 3: every build carries the engine's own record (`ores_sql.builds`); a template
    // made before it would give clones without one.
    h.update(b"ores-sql test template 3\n");
    h.update(manifest.schema_hash().as_bytes());
    h.update(format!("\nserver {major}\n").as_bytes());
    for (name, version) in &versions {
        h.update(format!("ext {name} {version}\n").as_bytes());
    }
    h.update(
        format!(
            "{:?}\n{:?}\n{CRATE_VERSION}",
            roles_in("k", manifest.registry()),
            manifest.registry()
        )
        .as_bytes(),
    );
    let full = hex::encode(h.finalize());
    Ok(TemplateKey::from_full(full))
}

fn use_lock(client: &mut Client, short: &str) -> Result<AdvisoryLock> {
    AdvisoryLock::new(client, LockClass::TemplateUse, short)
}

/// Takes `short`'s use lock in shared mode on `anchor` (kept until the session ends):
/// what a process holds for every key it uses, taken again when its anchor session
/// is re-established.
pub fn hold_use(anchor: &mut Client, short: &str) -> Result<()> {
    use_lock(anchor, short)?.lock_shared(anchor)
}

/// When the complete template for `key` was last taken into use (seconds since the
/// epoch), or `None` if there is no complete template.
fn ready(client: &mut Client, key: &TemplateKey) -> Result<Option<u64>> {
    let row = client
        .query_opt(
            "SELECT datistemplate AND NOT datallowconn
                    AND NOT starts_with(pg_get_userbyid(datdba)::text, 'ores_'),
                    coalesce(shobj_description(oid, 'pg_database'), '')
               FROM pg_database WHERE datname = $1",
            &[&key.template_name()],
        )
        .context("looking for the template database")?;
    // Closed and owned by the administrator, or not ready: a template some role of an
    // environment owns (or someone opened) may hold what a test planted in it, and is
    // rebuilt rather than cloned.
    Ok(row.and_then(|r| {
        let comment: String = r.get(1);
        let (full, used) = parse_comment(&comment)?;
        (r.get::<_, bool>(0) && full == key.full).then_some(used)
    }))
}

/// A template's comment: `<full key> used <unix seconds>`. The key proves the template
/// complete; the time lets cleanup spare a template that was used moments ago by a
/// process that has just exited (the next test process will want it again).
fn comment(full: &str) -> String {
    format!("{full} used {}", now())
}

fn parse_comment(comment: &str) -> Option<(&str, u64)> {
    let (full, used) = comment.split_once(" used ")?;
    Some((full, used.parse().ok()?))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How often (seconds) a user refreshes the template's last-use time: rarely enough
/// that concurrent test processes almost never write it at once.
const USE_REFRESH: u64 = 60;

/// Default time a template survives after its last use ([`GRACE_VAR`] overrides).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(600);
/// Variable setting, in seconds, how long an unused template of another key is kept.
pub const GRACE_VAR: &str = "ORES_TEST_TEMPLATE_GRACE";

/// The configured grace period for unused templates.
pub fn grace() -> Duration {
    std::env::var(GRACE_VAR)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_GRACE)
}

/// Takes the shared use lock on `key` (kept until the session ends) and makes sure its
/// template exists, building it if needed. `server` is the administrative
/// configuration; the template's roles carry the key's label.
pub fn ensure_template(
    anchor: &mut Client,
    server: &Config,
    manifest: &Manifest,
    key: &TemplateKey,
) -> Result<()> {
    ensure_built(anchor, key, |anchor, build| {
        check_extensions(anchor, &server.extensions)?;
        let config = server
            .clone()
            .with_env(&key.label())?
            .with_database(build)?;
        ensure_roles_in(anchor, &config, manifest.registry())?;
        log::info!("building test template {}", key.template_name());
        // Seeded as a recreate with the default options seeds, so a test sees what a
        // service's database holds.
        let bulk_seed = crate::lifecycle::RunOptions::default().bulk_seed;
        build_database(anchor, &config, build, manifest, bulk_seed)
    })
}

/// [`ensure_template`] for any template named by `key`: holds `key`'s use lock for
/// the session's life; when no complete template exists, `build` makes the database
/// it is given (`key.build_name()`), under the key's build lock, and it is then made
/// the template. A failed build leaves nothing behind.
pub(super) fn ensure_built(
    anchor: &mut Client,
    key: &TemplateKey,
    build: impl FnOnce(&mut Client, &str) -> Result<()>,
) -> Result<()> {
    hold_use(anchor, &key.short)?;
    if let Some(used) = ready(anchor, key)? {
        if now().saturating_sub(used) > USE_REFRESH {
            // Best effort: two processes writing the comment at once make one fail
            // ("tuple concurrently updated"), which only means the time is fresh.
            let _ = anchor.batch_execute(&format!(
                "COMMENT ON DATABASE {} IS {}",
                quote_ident(&key.template_name()),
                quote_literal(&comment(&key.full))
            ));
        }
        return Ok(());
    }
    let lock = AdvisoryLock::new(anchor, LockClass::TemplateBuild, &key.short)?;
    lock.lock_unbounded(anchor)?;
    let built = build_locked(anchor, key, build);
    if built.is_err() {
        // The build lock is still held: nobody else is working on this name. The
        // session may be inside the failed marking transaction.
        let _ = anchor.batch_execute("ROLLBACK");
        let _ = discard_template(anchor, &key.build_name());
    }
    let unlocked = lock.unlock(anchor);
    built.and(unlocked)
}

fn build_locked(
    anchor: &mut Client,
    key: &TemplateKey,
    build: impl FnOnce(&mut Client, &str) -> Result<()>,
) -> Result<()> {
    // Another process may have finished it while we waited for the lock.
    if ready(anchor, key)?.is_some() {
        return Ok(());
    }
    let name = key.template_name();
    let staging = key.build_name();
    // Whatever exists under these names now was left by a killed builder: we hold the
    // build lock, so nobody else is working on it.
    discard_template(anchor, &staging)?;
    discard_template(anchor, &name)?;
    build(anchor, &staging)?;
    anchor
        .batch_execute(&format!(
            "BEGIN;
             ALTER DATABASE {b} RENAME TO {t};
             ALTER DATABASE {t} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false;
             ALTER DATABASE {t} OWNER TO CURRENT_USER;
             REVOKE ALL ON DATABASE {t} FROM PUBLIC;
             COMMENT ON DATABASE {t} IS {c};
             COMMIT;",
            b = quote_ident(&staging),
            t = quote_ident(&name),
            c = quote_literal(&comment(&key.full))
        ))
        .context(format!("marking {name} as a complete template"))
}

/// Drops a (possibly half-made) template database; a template must lose its flag first.
fn discard_template(client: &mut Client, name: &str) -> Result<bool> {
    if !database_exists(client, name)? {
        return Ok(false);
    }
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH IS_TEMPLATE false",
            quote_ident(name)
        ))
        .context(format!("unmarking template {name}"))?;
    drop_database(client, name, true)
}

/// Removes templates (and their ready clones and roles) of keys that no live process
/// uses and that were last taken into use more than `grace` ago, except `keep`.
/// Returns the names of the templates removed.
pub fn remove_unused(anchor: &mut Client, keep: &[String], grace: Duration) -> Result<Vec<String>> {
    let recent: Vec<String> = anchor
        .query(
            "SELECT datname::text, coalesce(shobj_description(oid, 'pg_database'), '')
               FROM pg_database WHERE starts_with(datname, $1)",
            &[&TEMPLATE_PREFIX],
        )
        .context("reading template use times")?
        .iter()
        .filter_map(|r| {
            let (name, comment): (String, String) = (r.get(0), r.get(1));
            let (_, used) = parse_comment(&comment)?;
            (now().saturating_sub(used) < grace.as_secs())
                .then(|| name.trim_start_matches(TEMPLATE_PREFIX).to_string())
        })
        .collect();
    let mut shorts: Vec<String> = anchor
        .query(
            "SELECT substr(datname, length($1) + 1, $2)::text FROM pg_database WHERE starts_with(datname, $1)
             UNION
             SELECT substr(datname, 9, $2)::text FROM pg_database WHERE starts_with(datname, 'ores_tp_')
             UNION
             SELECT substr(rolname, 8, $2)::text FROM pg_roles WHERE rolname ~ '^ores_t_[0-9a-f]{12}_owner$'",
            &[&TEMPLATE_PREFIX, &(SHORT as i32)],
        )
        .context("listing test templates")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    shorts.retain(|s| {
        s.len() == SHORT
            && s.bytes().all(|b| b.is_ascii_hexdigit())
            && !keep.contains(s)
            && !recent.contains(s)
    });
    // A key without roles of its own (a pgTAP test template) holds objects of the
    // roles of the key it was copied from: it goes first, so those roles can go too.
    let with_roles: Vec<String> = anchor
        .query(
            "SELECT substr(rolname, 8, $1)::text FROM pg_roles WHERE rolname ~ '^ores_t_[0-9a-f]{12}_owner$'",
            &[&(SHORT as i32)],
        )
        .context("listing test templates' roles")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    shorts.sort_by_key(|s| with_roles.contains(s));
    let mut removed = Vec::new();
    for short in shorts {
        let in_use = use_lock(anchor, &short)?;
        if !in_use.try_lock(anchor)? {
            continue;
        }
        let outcome = remove_key(anchor, &short);
        let _ = in_use.unlock(anchor);
        if outcome? {
            removed.push(format!("{TEMPLATE_PREFIX}{short}"));
        }
    }
    Ok(removed)
}

fn remove_key(anchor: &mut Client, short: &str) -> Result<bool> {
    let name = format!("{TEMPLATE_PREFIX}{short}");
    let ready: Vec<String> = anchor
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
            &[&pool_prefix(short)],
        )
        .context("listing ready clones of an old template")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for db in ready {
        drop_database(anchor, &db, true)?;
    }
    discard_template(anchor, &build_name(short))?;
    let dropped = discard_template(anchor, &name)?;
    // Clones (kept ones, or a live process's) still own objects through these roles.
    let clones: i64 = anchor
        .query_one(
            "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)",
            &[&format!("{TEST_DB_PREFIX}{short}_")],
        )
        .context("counting clones of an old template")?
        .get(0);
    if clones == 0 {
        let roles = drop_roles(anchor, &label(short))?;
        if !roles.is_empty() {
            log::info!("removed {} roles of old test template {name}", roles.len());
        }
    }
    if dropped {
        log::info!("removed unused test template {name}");
    }
    Ok(dropped)
}

/// What a live test database's comment says: its owner's lease, the server's time
/// (seconds since the epoch) when the owner last said it was alive. The owner
/// refreshes it every [`LEASE_REFRESH`]; the server's clock is used on both sides,
/// so hosts whose clocks disagree still agree on a lease's age.
pub const LEASE_COMMENT: &str = "ores-sql: lease ";

/// How often a test process renews the lease of each of its databases.
pub const LEASE_REFRESH: Duration = Duration::from_secs(30);

/// Default age after which the lease of a database of another host (or pid
/// namespace) whose owner has no anchor session counts as expired; [`LEASE_VAR`]
/// overrides. Ten refreshes: an owner that lost its anchor session re-establishes it
/// at its next refresh, long before.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);
/// Variable setting, in seconds, when a foreign test database's lease expires.
pub const LEASE_VAR: &str = "ORES_TEST_LEASE";

/// The configured lease expiry.
pub fn lease() -> Duration {
    std::env::var(LEASE_VAR)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LEASE)
}

/// SQL that stamps the lease of each of `names` that still exists with the server's
/// time (one statement, whatever the count).
pub fn renew_leases_sql(names: &[String]) -> String {
    let list = names
        .iter()
        .map(|n| quote_literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "DO $ores$ DECLARE d text; BEGIN
           FOREACH d IN ARRAY ARRAY[{list}]::text[] LOOP
             IF EXISTS (SELECT FROM pg_database WHERE datname = d) THEN
               EXECUTE format('COMMENT ON DATABASE %I IS %L', d,
                              {} || extract(epoch FROM now())::bigint);
             END IF;
           END LOOP;
         END $ores$;",
        quote_literal(LEASE_COMMENT)
    )
}

/// Drops test databases whose owner process is gone. `live_tags` are the owner tags of
/// processes with an anchor session on the server (any host). A database whose owner
/// has none is judged by where the owner ran:
/// - on this host (same boot, pid namespace and host name), `/proc` is the truth: it
///   goes when that pid with that start time no longer runs;
/// - elsewhere (another machine, or a container's pid namespace), nothing here can
///   see the process, and an anchor session can be lost while it lives
///   (`pg_terminate_backend`, `idle_session_timeout`), so it goes only once its lease
///   is older than `lease` (a database without a lease is an old harness's: expired).
///
/// Kept databases (see [`KEPT_COMMENT`]) stay.
pub fn remove_orphans(
    admin: &mut Client,
    live_tags: &[String],
    lease: Duration,
) -> Result<Vec<String>> {
    let rows = admin
        .query(
            "SELECT datname::text, coalesce(shobj_description(oid, 'pg_database'), ''),
                    extract(epoch FROM now())::bigint
               FROM pg_database WHERE starts_with(datname, $1)",
            &[&TEST_DB_PREFIX],
        )
        .context("listing test databases")?;
    let here = super::owner::host_tag();
    let mut removed = Vec::new();
    for row in rows {
        let (name, comment, now): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
        let Some(parsed) = parse_test_db_name(&name) else {
            continue;
        };
        if comment == KEPT_COMMENT || live_tags.contains(&parsed.owner.tag()) {
            continue;
        }
        let gone = if parsed.owner.host == here {
            !parsed.owner.alive_here()
        } else {
            let renewed = comment
                .strip_prefix(LEASE_COMMENT)
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0);
            now.saturating_sub(renewed) > lease.as_secs() as i64
        };
        if gone && drop_database(admin, &name, true)? {
            log::info!("removed {name}, left behind by a test process that is gone");
            removed.push(name);
        }
    }
    Ok(removed)
}
