//! `recreate-entity` on a tree ordered by psql entry scripts (ORE Studio's layout):
//! entity `<component>_<entity>` is the create script `create/<component>/<entity>_create.sql`
//! and the scripts named after it in that folder (`<entity>_notify_trigger_create.sql`),
//! in the order the entry scripts reach them. What they made is dropped by the tree's
//! own drop scripts (`[entity] drop`, default `drop/{component}/{entity}_drop.sql`, one
//! per script, run in reverse order) when the tree has them, else by dropping the
//! relations and functions the scripts define; then the scripts run again. All of it
//! in one transaction of the DDL login, with the guarantees of the numeric layout's
//! rebuild (`lifecycle::entity`): rows refused unless forced, foreign keys of other
//! tables restored, grants re-applied, nothing outside the entity lost.

use crate::build::login::ddl_role;
use crate::build::single::entry::run_step;
use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::entity::{
    EntityReport, Held, drop_statements, entity_session, hold_entity, refuse_lost_objects,
    restore_foreign_keys,
};
use crate::server::grants::apply_grants_in;
use crate::tree::entry::engine_variables;
use crate::tree::lint::created_relations;
use crate::tree::manifest::Manifest;
use crate::tree::psql::{self, Action, PsqlError, Step};
use crate::tree::roles::role_name;
use std::collections::BTreeMap;
use std::path::Path;

/// One entity of an entry tree: its scripts (paths relative to the tree root) and
/// the drop scripts found for them, in the order to run them.
struct Plan {
    component: String,
    scripts: Vec<String>,
    drops: Vec<(String, String)>,
}

/// The entity keys of an entry tree (`<component>_<entity>` of every
/// `create/<component>/<entity>_create.sql` the entry scripts reach), in their order.
pub fn entry_entities(manifest: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    for s in manifest.scripts() {
        let Some(root_path) = root_path(manifest, &s.path) else {
            continue;
        };
        if let Some((component, stem)) = create_script(root_path) {
            let key = format!("{component}_{stem}");
            if !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out
}

fn root_path<'p>(manifest: &Manifest, path: &'p str) -> Option<&'p str> {
    path.strip_prefix(manifest.label())?.strip_prefix('/')
}

/// `(component, stem)` of `create/<component>/<stem>_create.sql`.
fn create_script(root_path: &str) -> Option<(&str, &str)> {
    let rest = root_path.strip_prefix("create/")?;
    let (component, file) = rest.split_once('/')?;
    let stem = file.strip_suffix("_create.sql")?;
    (!file.contains('/') && !stem.is_empty()).then_some((component, stem))
}

/// The entity's scripts and drop scripts, or the refusal saying why there are none.
fn plan(manifest: &Manifest, entity: &str) -> Result<Plan> {
    let mut scripts = Vec::new();
    let mut component = String::new();
    // The create script first decides which component and stem the key means; its
    // companions are the scripts of that folder whose stem starts with it.
    let main = manifest
        .scripts()
        .iter()
        .filter_map(|s| create_script(root_path(manifest, &s.path)?))
        .find(|(c, stem)| format!("{c}_{stem}") == entity);
    let Some((c, stem)) = main else {
        return Err(Error::UnknownEntity {
            entity: entity.to_string(),
            suggestions: crate::lifecycle::entity::closest(entry_entities(manifest), entity),
        });
    };
    component.push_str(c);
    for s in manifest.scripts() {
        let Some(rp) = root_path(manifest, &s.path) else {
            continue;
        };
        if let Some((c2, s2)) = create_script(rp)
            && c2 == c
            && (s2 == stem || s2.starts_with(&format!("{stem}_")))
        {
            scripts.push(rp.to_string());
        }
    }
    let pattern = &manifest.settings().entity_drop;
    let mut drops = Vec::new();
    if let Some(root) = manifest.root() {
        for script in scripts.iter().rev() {
            let (c2, s2) = create_script(script).unwrap_or_default();
            let rel = pattern.replace("{component}", c2).replace("{entity}", s2);
            if let Some(text) =
                crate::tree::boundary::read_optional(root, &rel).map_err(|source| Error::Io {
                    context: format!("reading {}", root.join(&rel).display()),
                    source,
                })?
            {
                drops.push((rel, crate::tree::scan::normalise_newlines(&text)));
            }
        }
    }
    Ok(Plan {
        component,
        scripts,
        drops,
    })
}

/// [`crate::lifecycle::entity::recreate_entity_with`] for an entry tree.
pub(crate) fn recreate(
    config: &Config,
    manifest: &Manifest,
    entity: &str,
    force: bool,
) -> Result<EntityReport> {
    let plan = plan(manifest, entity)?;
    if manifest
        .settings()
        .provisioner_components
        .contains(&plan.component)
    {
        return Err(Error::Protected {
            database: config.database.clone(),
            reason: format!(
                "entity {entity} is the provisioner's own; rebuild the whole database with `compass db recreate`"
            ),
        });
    }
    let variables = engine_variables(manifest.settings(), &config.env, &config.database);
    let texts: Vec<String> = plan
        .scripts
        .iter()
        .map(|p| expanded_sql(manifest, p, &variables))
        .collect::<Result<_>>()?;
    let tables = created_relations(texts.iter().map(String::as_str));

    let (_lock, mut sessions, stale) = entity_session(config, manifest)?;
    let (mut tx, held) = hold_entity(&mut sessions[0], config, entity, &tables, force)?;
    let Held {
        existing,
        tables_only,
        rows,
        foreign_keys,
        before,
    } = held;

    drop_entity(&mut tx, manifest, &plan, &existing, &texts, &variables)?;
    for script in &plan.scripts {
        run_file(&mut tx, manifest, script, None, &variables)?;
    }
    let owner = role_name(&config.env, "owner");
    let ddl = ddl_role(manifest, &config.env)?;
    // As in a build: what the DDL login made goes to the owner group.
    tx.batch_execute(&format!(
        "RESET ROLE; REASSIGN OWNED BY {} TO {};",
        quote_ident(&ddl),
        quote_ident(&owner)
    ))
    .context(format!("handing what {ddl} created to {owner}"))?;
    let restored = restore_foreign_keys(&mut tx, &foreign_keys, &tables_only, true)?;
    tx.batch_execute(&format!("SET LOCAL ROLE {}", quote_ident(&owner)))
        .context(format!("switching to {owner}"))?;
    apply_grants_in(&mut tx, &config.env, manifest.registry())?;
    tx.batch_execute("RESET ROLE")
        .context("returning to the DDL login")?;
    refuse_lost_objects(&mut tx, entity, &before)?;
    tx.commit().context("committing the recreated entity")?;
    let label = manifest.label();
    Ok(EntityReport {
        entity: entity.to_string(),
        scripts: plan
            .drops
            .iter()
            .map(|(p, _)| format!("{label}/{p}"))
            .chain(plan.scripts.iter().map(|p| format!("{label}/{p}")))
            .collect(),
        tables: existing,
        rows_discarded: rows.iter().map(|(_, n)| n).sum(),
        foreign_keys_restored: restored,
        database_was_stale: stale,
    })
}

/// Drops what the entity's scripts made: with the tree's drop scripts when it has
/// them, else the relations and functions the scripts define.
fn drop_entity(
    tx: &mut postgres::Transaction<'_>,
    manifest: &Manifest,
    plan: &Plan,
    existing: &[String],
    texts: &[String],
    variables: &BTreeMap<String, String>,
) -> Result<()> {
    if !plan.drops.is_empty() {
        for (path, text) in &plan.drops {
            run_file(tx, manifest, path, Some(text), variables)?;
        }
        return Ok(());
    }
    for rel in drop_statements(tx, existing)? {
        tx.batch_execute(&rel)
            .context(format!("dropping the entity's relations ({rel})"))?;
    }
    let mut functions: Vec<String> = texts
        .iter()
        .flat_map(|t| crate::tree::analysis::defined_names(t, false))
        .filter(|n| !existing.contains(n))
        .collect();
    functions.sort();
    functions.dedup();
    for name in functions {
        // Functions (and procedures) by name; a relation or type of that name was
        // dropped above or is left to the inventory check.
        let kinds: Vec<String> = tx
            .query(
                "SELECT p.oid::regprocedure::text FROM pg_proc p
                  WHERE p.pronamespace = 'public'::regnamespace AND p.proname = $1",
                &[&name],
            )
            .context("finding the entity's functions")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for signature in kinds {
            tx.batch_execute(&format!("DROP ROUTINE IF EXISTS {signature} CASCADE"))
                .context(format!("dropping {signature}"))?;
        }
    }
    Ok(())
}

/// The SQL of one of the tree's files with the environment's variables, as the
/// build would run it (for finding what it creates).
fn expanded_sql(
    manifest: &Manifest,
    path: &str,
    variables: &BTreeMap<String, String>,
) -> Result<String> {
    let read = |rel: &Path| reader(manifest, path, None, rel);
    let expansion = psql::expand_with(&read, &[path], variables.clone(), &|_| None, None)
        .map_err(|e| labelled(manifest, e))?;
    Ok(expansion
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Sql(sql) => Some(sql.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Reads `rel` for the expander: `own` is the text of `path` when it is not in the
/// manifest (a drop script); anything else comes from the manifest.
fn reader(
    manifest: &Manifest,
    path: &str,
    own: Option<&str>,
    rel: &Path,
) -> std::result::Result<String, String> {
    let key = rel.to_string_lossy().replace('\\', "/");
    if let Some(text) = own.filter(|_| key == path) {
        return Ok(text.to_string());
    }
    manifest
        .tree_file(&key)
        .map(str::to_string)
        .ok_or_else(|| "not part of the tree's manifest".to_string())
}

fn labelled(manifest: &Manifest, mut e: PsqlError) -> Error {
    e.path = format!("{}/{}", manifest.label(), e.path);
    Error::Psql(e)
}

/// Expands one file (`own`: its text when the manifest does not hold it) and runs
/// each step in `tx` as the build would, naming file and line on failure.
fn run_file(
    tx: &mut postgres::Transaction<'_>,
    manifest: &Manifest,
    path: &str,
    own: Option<&str>,
    variables: &BTreeMap<String, String>,
) -> Result<()> {
    let read = |rel: &Path| reader(manifest, path, own, rel);
    let label = manifest.label().to_string();
    let mut failure: Option<Error> = None;
    let mut sink = |step: &Step| {
        run_step(tx, step, &format!("{label}/{}", step.path), &[]).map_err(|e| {
            failure = Some(e);
            PsqlError {
                path: step.path.clone(),
                line: step.line,
                message: "step failed".into(),
            }
        })
    };
    let expanded = psql::expand_with(
        &read,
        &[path],
        variables.clone(),
        &|_| None,
        Some(&mut sink),
    );
    match (expanded, failure) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(labelled(manifest, e)),
        (Ok(_), None) => Ok(()),
    }
}
