//! When a recreate builds incrementally: the tree changed since the environment's
//! last build, everything else it depended on did not, and the change is one the
//! rules of `build/incremental` can apply to a copy of that build.
//!
//! The last build is the cached template (closed, labelled with its key) and its
//! ready copy, the spare. The plan is made from the outline of the live database
//! (which is a copy of the template, read without touching the template), and
//! checked against the outline of the copy it is applied to: a live database whose
//! outline was changed by hand, or that is not a copy of the template any more,
//! builds in full. The plan runs on the copy, which becomes staging, and then on
//! the template itself, unlabelled meanwhile: a run that ends in between leaves a
//! template that matches no key, which the next run drops. Any failure, or a
//! change the rules refuse, falls back to the full build, which reports it the usual
//! way (path, line, SQLSTATE) and keeps the previous database.

use crate::build::Lap;
use crate::build::incremental::apply::{Delta, apply, read, read_keyed};
use crate::build::incremental::outline::{Recorded, Statement};
use crate::build::incremental::rules::plan;
use crate::build::record::{BuildPath, ENGINE_RECORD};
use crate::build::staging::discard;
use crate::config::Config;
use crate::config::ident::{quote_ident, quote_literal};
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::cache::{
    CacheState, Keys, clone_template, spare_name, take_spare, template_label, template_matches,
    template_name,
};
use crate::lifecycle::options::RunOptions;
use crate::server::admin::{
    connect_admin, connect_admin_to, database_exists, drop_database, open_to_administrator,
    wait_for_no_sessions,
};
use crate::tree::manifest::Manifest;
use crate::tree::roles::role_name;
use postgres::Client;
use std::collections::HashSet;
use std::time::Duration;

/// What an incremental build starts from: the last build's key (the template's
/// label), its outline (the live database's), and the digests of its inserts whose
/// row keys it kept.
pub(crate) struct LastBuild {
    pub(crate) key: String,
    pub(crate) recorded: Vec<Recorded>,
    pub(crate) keyed: HashSet<String>,
}

/// Builds `staging` incrementally when it can; `None` (with the reason logged) when
/// the full build must run instead.
pub(crate) fn build(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    staging: &str,
    keys: &Keys,
    (last, outline): (&LastBuild, &[Statement]),
    options: &RunOptions,
) -> Result<Option<CacheState>> {
    let mut lap = Lap::start();
    let (old_key, recorded) = (&last.key, &last.recorded);
    let actions = match plan(recorded, outline, &last.keyed) {
        Ok(actions) => actions,
        Err(why) => {
            log::info!("building in full: {why}");
            return Ok(None);
        }
    };
    lap.log("incremental plan");
    let template = template_name(&config.database);
    let spare = spare_name(&config.database);
    if template_matches(admin, &spare, old_key)? {
        take_spare(admin, config, &spare, staging)?;
    } else {
        drop_database(admin, &spare, true)?;
        clone_template(admin, config, &template, staging)?;
    }
    lap.log("copy of the last build");
    let based_on = match copy_matches(config, staging, keys, recorded)? {
        Some(based_on) => based_on,
        None => {
            log::info!("building in full: the copy of the last build is not the build planned on");
            discard(admin, &config.env, staging);
            return Ok(None);
        }
    };
    let delta = Delta {
        actions: &actions,
        outline,
        base: &keys.base,
        based_on: &based_on,
        last: recorded,
        bulk_seed: options.bulk_seed,
    };
    let both = Both {
        config,
        manifest,
        staging,
        template: &template,
        key: &keys.full,
    };
    let (mut applied, mut renewed) = both.apply(admin, &delta);
    // Rows the catalog or a check says cannot be found by key (the same on both
    // databases, rolled back on both) are emptied and filled again instead.
    let refused = |r: &Result<()>| matches!(r, Err(Error::Unsupported(_)));
    if refused(&applied) && refused(&renewed) {
        if let Err(e) = &applied {
            log::info!("emptying and filling instead: {e}");
        }
        if let Ok(reseed) = plan(recorded, outline, &HashSet::new()) {
            // The attempt closed the copy to new sessions once it had its own.
            open_to_administrator(admin, staging, &role_name(&config.env, "owner"))?;
            let delta = Delta {
                actions: &reseed,
                ..delta
            };
            (applied, renewed) = both.apply(admin, &delta);
        }
    }
    lap.log(&format!(
        "incremental build and template ({} actions)",
        actions.len()
    ));
    let kept = match renewed {
        Ok(()) => Some((template.clone(), keys.full.clone())),
        Err(e) => {
            log::warn!("could not bring {template} up to date ({e}); the next run builds in full");
            discard(admin, &config.env, &template);
            None
        }
    };
    if let Err(e) = applied {
        log::info!("building in full: the incremental build failed ({e})");
        discard(admin, &config.env, staging);
        return Ok(None);
    }
    Ok(Some(CacheState {
        path: BuildPath::Incremental,
        template: kept,
        stale: Vec::new(),
    }))
}

/// The two databases an incremental build is applied to: the copy `staging`, and
/// the template, labelled `key` once renewed.
struct Both<'a> {
    config: &'a Config,
    manifest: &'a Manifest,
    staging: &'a str,
    template: &'a str,
    key: &'a str,
}

impl Both<'_> {
    /// Applies `delta` to the copy and, at the same time on connections of its own,
    /// to the template (the server has the cores for both); what each gave.
    fn apply(&self, admin: &mut Client, delta: &Delta<'_>) -> (Result<()>, Result<()>) {
        let Both {
            config,
            manifest,
            staging,
            template,
            key,
        } = *self;
        std::thread::scope(|s| {
            let renewal = s.spawn(|| {
                let mut lap = Lap::start();
                let mut own = connect_admin(config)?;
                let renewed = renew_template(&mut own, config, manifest, template, delta, key);
                lap.log("  of which the template's");
                renewed
            });
            let mut lap = Lap::start();
            let applied = apply(admin, config, manifest, staging, delta)
                .and_then(|()| wait_for_no_sessions(admin, staging, Duration::from_secs(5)))
                .map(|_| ());
            lap.log("  of which the copy's");
            let renewed = renewal
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("the template's renewal panicked".into())));
            (applied, renewed)
        })
    }
}

/// The last build, when there is one to start from with everything but the scripts
/// unchanged.
pub(crate) fn last_build(
    admin: &mut Client,
    config: &Config,
    keys: &Keys,
) -> Result<Option<LastBuild>> {
    let label = template_label(admin, &template_name(&config.database))?;
    let Some(label) = label else {
        log::info!("building in full: no cached template of an earlier build");
        return Ok(None);
    };
    if !database_exists(admin, &config.database)? {
        log::info!("building in full: no live database to read the last build's outline from");
        return Ok(None);
    }
    let mut live = connect_admin_to(config, &config.database)?;
    match read(&mut live)? {
        Ok((base, recorded)) if base == keys.base => Ok(Some(LastBuild {
            key: label,
            recorded,
            keyed: read_keyed(&mut live)?,
        })),
        Ok(_) => {
            log::info!(
                "building in full: the settings, roles, server or engine changed since the last build"
            );
            Ok(None)
        }
        Err(why) => {
            log::info!("building in full: {why}");
            Ok(None)
        }
    }
}

/// Whether `staging` holds the outline the plan was made from; if so, what its build
/// record says it was (schema hash and time), for the new record's `based_on`.
fn copy_matches(
    config: &Config,
    staging: &str,
    keys: &Keys,
    recorded: &[Recorded],
) -> Result<Option<String>> {
    let mut copy = connect_admin_to(config, staging)?;
    let same = matches!(read(&mut copy)?, Ok((base, r)) if base == keys.base && r == recorded);
    if !same {
        return Ok(None);
    }
    let row = copy
        .query_one(
            &format!(
                "SELECT schema_hash || ' ' || build_path || ' ' ||
                        to_char(built_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                   FROM {ENGINE_RECORD}"
            ),
            &[],
        )
        .context("reading the last build's record")?;
    Ok(Some(row.get(0)))
}

/// Applies `delta` to the cached template itself, so it stays the last build: it
/// matches no key while that happens, and is closed, stripped of the privileges the
/// build's end granted, and labelled with `key` after.
fn renew_template(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    template: &str,
    delta: &Delta<'_>,
    key: &str,
) -> Result<()> {
    let t = quote_ident(template);
    let owner = role_name(&config.env, "owner");
    // The build's end grants on the database as its owner, as for any copy.
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {t} IS NULL; ALTER DATABASE {t} OWNER TO {}",
            quote_ident(&owner)
        ))
        .context(format!("unlabelling {template}"))?;
    open_to_administrator(admin, template, &owner)?;
    apply(admin, config, manifest, template, delta)?;
    admin
        .batch_execute(&format!("ALTER DATABASE {t} WITH ALLOW_CONNECTIONS false"))
        .context(format!("closing {template}"))?;
    wait_for_no_sessions(admin, template, Duration::from_secs(5))?;
    let grantees: Vec<String> = admin
        .query(
            "SELECT DISTINCT a.grantee::regrole::text FROM pg_database d,
                    aclexplode(d.datacl) a
              WHERE d.datname = $1 AND a.grantee <> 0",
            &[&template],
        )
        .context(format!("reading the privileges on {template}"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut sql = format!(
        "ALTER DATABASE {t} OWNER TO CURRENT_USER;\nREVOKE ALL ON DATABASE {t} FROM PUBLIC;\n"
    );
    for g in grantees {
        // `regrole::text` quotes a name that needs it.
        sql.push_str(&format!("REVOKE ALL ON DATABASE {t} FROM {g};\n"));
    }
    sql.push_str(&format!(
        "COMMENT ON DATABASE {t} IS {}",
        quote_literal(key)
    ));
    admin
        .batch_execute(&sql)
        .context(format!("closing and labelling {template}"))
}
