//! Generated schema documentation: what a build of the tree holds, read from the
//! catalog of a scratch copy (never the live database, whose hand changes are not
//! the tree's), as Markdown pages, Mermaid and SVG diagrams, the service access map
//! and `schema.json`.
//!
//! The output is deterministic (everything sorted, no timestamps, role names with
//! the environment written `E`), so `--check` can compare it byte for byte in CI.
//!
//! ```no_run
//! let config = ores_sql::Config::load()?;
//! let docs = ores_sql::docs::generate(&config, ores_sql::Manifest::compiled())?;
//! let stale = docs.check(std::path::Path::new("docs/schema"))?;
//! assert!(stale.is_empty(), "regenerate: {stale:?}");
//! # Ok::<(), ores_sql::Error>(())
//! ```

mod catalog;
mod pages;
mod svg;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::admin::{connect_admin, connect_admin_to, drop_database, open_to_administrator};
use crate::tree::manifest::Manifest;
use postgres::Client;
use std::collections::BTreeMap;
use std::path::Path;

pub use catalog::{
    Access, Column, Component, Constraint, ForeignKey, Grant, Named, OTHER_COMPONENT, Policy,
    Schema, Table, read_schema,
};

/// The generated files: path relative to the output folder, and content.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Docs {
    /// Every file, by path.
    pub files: BTreeMap<String, String>,
    /// What they were generated from.
    pub schema: Schema,
}

/// Renders every file of `schema`.
pub fn render(schema: &Schema) -> Docs {
    let mut files = BTreeMap::new();
    files.insert("README.md".to_string(), pages::readme(schema));
    files.insert("access.md".to_string(), pages::access(schema));
    files.insert("svg/overview.svg".to_string(), svg::overview(schema));
    files.insert("svg/access.svg".to_string(), svg::access_map(schema));
    for c in &schema.components {
        files.insert(format!("{}.md", c.name), pages::component(c, schema));
        files.insert(format!("svg/{}.svg", c.name), svg::er_diagram(c, schema));
    }
    let mut json = serde_json::to_string_pretty(schema).expect("the schema serialises");
    json.push('\n');
    files.insert("schema.json".to_string(), json);
    Docs {
        files,
        schema: schema.clone(),
    }
}

/// Reads and renders the database `client` is connected to (built from `manifest`
/// for environment `env`): a test harness clone, or [`generate`]'s scratch copy.
pub fn from_database(client: &mut Client, env: &str, manifest: &Manifest) -> Result<Docs> {
    Ok(render(&read_schema(client, env, manifest)?))
}

/// Builds `manifest` into a scratch database of `config`'s environment (creating its
/// roles if missing), reads it and drops it again, whatever happens.
pub fn generate(config: &Config, manifest: &Manifest) -> Result<Docs> {
    crate::runtime::off_runtime(|| {
        config.validate()?;
        let mut admin = connect_admin(config)?;
        crate::server::roles::ensure_roles_in(&mut admin, config, manifest.registry())?;
        let scratch = format!("ores_{}_docs_{}", config.env, std::process::id());
        let mut guard = Scratch {
            admin,
            name: scratch.clone(),
        };
        crate::build::build_database(&mut guard.admin, config, &scratch, manifest, false)?;
        // A finished build is closed to connections (the swap opens the live one);
        // this copy is only ever read by the administrator, then dropped.
        let owner = crate::tree::roles::role_name(&config.env, "owner");
        open_to_administrator(&mut guard.admin, &scratch, &owner)?;
        let mut client = connect_admin_to(config, &scratch)?;
        let docs = from_database(&mut client, &config.env, manifest);
        drop(client);
        docs
    })
}

/// Drops the scratch database when [`generate`] ends, by success, error or panic.
struct Scratch {
    admin: Client,
    name: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = drop_database(&mut self.admin, &self.name, true) {
            log::warn!(
                "docs: could not drop the scratch database {}: {e}",
                self.name
            );
        }
    }
}

/// Whether a file in an output folder is one `db docs` writes (so a stale page of
/// a removed component is reported, and anything else there is left alone).
fn generated_kind(path: &str) -> bool {
    path.ends_with(".md") || path.ends_with(".svg") || path == "schema.json"
}

impl Docs {
    /// Writes every file under `dir`, removing generated files it no longer makes.
    pub fn write(&self, dir: &Path) -> Result<()> {
        for stale in self.extra_files(dir)? {
            std::fs::remove_file(dir.join(&stale)).map_err(|e| io(&dir.join(&stale), e))?;
        }
        for (path, text) in &self.files {
            let full = dir.join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::write(&full, text).map_err(|e| io(&full, e))?;
        }
        Ok(())
    }

    /// The files under `dir` that differ from these: changed, missing, or generated
    /// ones these do not contain. Empty: the folder is current.
    pub fn check(&self, dir: &Path) -> Result<Vec<String>> {
        let mut differ = Vec::new();
        for (path, text) in &self.files {
            match std::fs::read_to_string(dir.join(path)) {
                Ok(on_disk) if &on_disk == text => {}
                _ => differ.push(path.clone()),
            }
        }
        differ.extend(self.extra_files(dir)?);
        differ.sort();
        Ok(differ)
    }

    fn extra_files(&self, dir: &Path) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for sub in ["", "svg"] {
            let folder = dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for e in entries {
                let e = e.map_err(|e| io(&folder, e))?;
                let name = e.file_name().to_string_lossy().into_owned();
                let rel = if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                };
                if e.path().is_file() && generated_kind(&rel) && !self.files.contains_key(&rel) {
                    out.push(rel);
                }
            }
        }
        Ok(out)
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("docs: {}", path.display()),
        source,
    }
}
