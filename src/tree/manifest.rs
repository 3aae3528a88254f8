//! The ordered list of SQL scripts a database is built from, and its schema hash.
//!
//! The compiled-in manifest is produced by `build.rs`; [`Manifest::from_dir`] scans a
//! directory with the same rules, which is how tests build deliberately broken or
//! minimal schemas without touching the real one.

use crate::error::{Error, Result};
use crate::tree::registry::Registry;
use crate::tree::scan;
pub use crate::tree::scan::{Phase, Script};

/// The table recording which scripts of a manifest built a database (refinery-core's
/// history table, under our name; written by `build::record`).
pub const APPLIED_SCRIPTS_TABLE: &str = "ores_database_applied_scripts_tbl";
use crate::tree::settings::{self, TreeSettings};
use crate::tree::{boundary, entry, lint};
use once_cell::sync::Lazy;
use std::borrow::Cow;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/manifest.rs"));

/// An ordered set of scripts and the digest that identifies it.
#[derive(Debug, Clone)]
pub struct Manifest {
    scripts: Vec<Script>,
    schema_hash: String,
    settings: TreeSettings,
    registry: &'static Registry,
    /// Entry mode: the data files `\copy` reads, after the scripts in the hash.
    data: Vec<Script>,
    /// Entry mode: `.sql` files no entry script reaches.
    unreached: Vec<String>,
    /// What paths start with (`sql`, or the directory a tree was read from).
    label: String,
    /// The directory a tree was read from at run time; `None` for the compiled one.
    root: Option<std::path::PathBuf>,
}

/// The compiled-in `sql/ores-sql.toml`, already checked by `build.rs`.
fn compiled_settings() -> TreeSettings {
    if COMPILED_SETTINGS.is_empty() {
        return TreeSettings::default();
    }
    TreeSettings::parse(COMPILED_SETTINGS, "sql/ores-sql.toml")
        .expect("build.rs refuses a malformed sql/ores-sql.toml")
}

/// A tree's `ores-sql.toml` read at run time: its settings and registry, or, when the
/// tree has none, the defaults with the compiled-in registry (how fixture trees made
/// for our own schema are built).
fn settings_of(root: &Path, label: &str) -> Result<(TreeSettings, &'static Registry)> {
    let path = root.join(settings::FILE_NAME);
    match boundary::read_optional(root, settings::FILE_NAME) {
        Ok(Some(text)) => {
            let s = TreeSettings::parse(&text, &format!("{label}/{}", settings::FILE_NAME))
                .map_err(Error::Settings)?;
            let registry = Registry::from_settings(&s);
            Ok((s, registry))
        }
        Ok(None) => Ok((TreeSettings::default(), Registry::compiled())),
        Err(e) => Err(Error::Io {
            context: format!("reading {}", path.display()),
            source: e,
        }),
    }
}

/// A `strict` entry-mode tree read at run time fails on a static rule violation its
/// `validate-allow.txt` does not excuse, as `build.rs` fails on one in `sql/`.
fn strict_check(root: &Path, closure: &entry::EntryTree) -> Result<()> {
    let allow = match boundary::read_optional(root, "validate-allow.txt") {
        Ok(text) => text.unwrap_or_default(),
        Err(e) => {
            return Err(Error::Io {
                context: format!("reading {}/validate-allow.txt", root.display()),
                source: e,
            });
        }
    };
    let (allowed, mut violations) = lint::parse_allow_list(&allow, "validate-allow.txt");
    let scripts = closure
        .files
        .iter()
        .filter(|f| !f.data)
        .map(|f| (f.rel_path.as_str(), f.text.as_str()));
    violations.extend(lint::check_entry_scripts(scripts).into_iter().filter(|v| {
        !allowed
            .iter()
            .any(|a| a.rule == v.rule && a.object == v.object)
    }));
    if violations.is_empty() {
        return Ok(());
    }
    Err(Error::StrictTree(
        violations.iter().map(|v| v.to_string()).collect(),
    ))
}

static COMPILED: Lazy<Manifest> = Lazy::new(|| Manifest {
    scripts: COMPILED_SCRIPTS.to_vec(),
    schema_hash: COMPILED_SCHEMA_HASH.to_string(),
    settings: compiled_settings(),
    registry: Registry::compiled(),
    data: COMPILED_DATA.to_vec(),
    unreached: COMPILED_UNREACHED.iter().map(|s| s.to_string()).collect(),
    label: "sql".to_string(),
    root: None,
});

impl Manifest {
    /// The manifest compiled into this binary from `sql/`.
    ///
    /// ```
    /// let m = ores_sql::Manifest::compiled();
    /// assert!(!m.scripts().is_empty());
    /// println!("schema {} from {} scripts", m.schema_hash(), m.scripts().len());
    /// ```
    pub fn compiled() -> &'static Manifest {
        &COMPILED
    }

    /// Reads a tree laid out like `sql/`: with `create/` and `populate/` in numeric
    /// order, or, when its `ores-sql.toml` names `entry` scripts, their include closure
    /// (the same code `build.rs` runs on `sql/`).
    pub fn from_dir(root: &Path) -> Result<Manifest> {
        let label = root.display().to_string();
        // A typo in a path must not read as an empty tree.
        if !root.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "{label}: not a directory; name the folder that holds create/ and populate/ (or ores-sql.toml)"
            )));
        }
        let (settings, registry) = settings_of(root, &label)?;
        if settings.entry_mode() {
            return Manifest::from_entry_dir(root, label, settings, registry);
        }
        let scanned = scan::scan(root, &label).map_err(Error::Manifest)?;
        let schema_hash = scan::schema_hash(
            scanned
                .iter()
                .map(|s| (s.root_path.as_str(), s.script.sha256.as_ref())),
        );
        let scripts = scanned.into_iter().map(|s| s.script).collect();
        Ok(Manifest {
            scripts,
            schema_hash,
            settings,
            registry,
            data: Vec::new(),
            unreached: Vec::new(),
            label,
            root: Some(root.to_path_buf()),
        })
    }

    fn from_entry_dir(
        root: &Path,
        label: String,
        settings: TreeSettings,
        registry: &'static Registry,
    ) -> Result<Manifest> {
        let closure = entry::closure(root, &label, &settings).map_err(|mut e| {
            e.path = format!("{label}/{}", e.path);
            Error::Psql(e)
        })?;
        if settings.strict {
            strict_check(root, &closure)?;
        }
        let schema_hash = scan::schema_hash(
            closure
                .files
                .iter()
                .map(|f| (f.root_path.as_str(), f.sha256.as_str())),
        );
        let (mut scripts, mut data) = (Vec::new(), Vec::new());
        for f in closure.files {
            let script = f.script();
            if f.data {
                data.push(script)
            } else {
                scripts.push(script)
            }
        }
        Ok(Manifest {
            scripts,
            schema_hash,
            settings,
            registry,
            data,
            unreached: closure.unreached,
            label,
            root: Some(root.to_path_buf()),
        })
    }

    /// Whether the tree is applied through its psql entry scripts.
    pub fn entry_mode(&self) -> bool {
        self.settings.entry_mode()
    }

    /// Entry mode: the data files its `\copy` commands read, in order.
    pub fn data_files(&self) -> &[Script] {
        &self.data
    }

    /// Entry mode: `.sql` files under the tree that no entry script reaches (old
    /// scripts, drop scripts...), relative to the tree root.
    pub fn unreached(&self) -> &[String] {
        &self.unreached
    }

    /// The text of a script or data file by its path relative to the tree root.
    pub fn tree_file(&self, root_path: &str) -> Option<&str> {
        let path = format!("{}/{root_path}", self.label);
        self.scripts
            .iter()
            .chain(&self.data)
            .find(|s| s.path == path)
            .map(|s| s.sql.as_ref())
    }

    /// The directory a tree was read from at run time (`--sql-dir`), where files the
    /// manifest does not hold (an entry tree's drop scripts) can be read; `None` for
    /// the compiled-in tree.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The tree's label: `sql` for the compiled-in tree, else the directory read.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The tree's `ores-sql.toml` (the defaults when it has none).
    pub fn settings(&self) -> &TreeSettings {
        &self.settings
    }

    /// The service registry and login users the tree's databases are built with.
    pub fn registry(&self) -> &'static Registry {
        self.registry
    }

    /// Extensions to install: the configured ones, then the tree's required ones.
    pub fn required_extensions(&self, configured: &[String]) -> Vec<String> {
        let mut out = configured.to_vec();
        for e in &self.settings.required_extensions {
            if !out.contains(e) {
                out.push(e.clone());
            }
        }
        out
    }

    /// Scripts in application order: every create script, then every populate script.
    pub fn scripts(&self) -> &[Script] {
        &self.scripts
    }

    /// The digest over the ordered (path, script hash) pairs.
    pub fn schema_hash(&self) -> &str {
        &self.schema_hash
    }

    /// The scripts (create, then populate) of one entity key such as `iam_tenants`.
    pub fn entity_scripts(&self, entity: &str) -> Vec<&Script> {
        self.scripts.iter().filter(|s| s.entity == entity).collect()
    }

    /// Distinct entity keys in manifest order.
    pub fn entities(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for s in &self.scripts {
            if !seen.contains(&s.entity.as_ref()) {
                seen.push(s.entity.as_ref());
            }
        }
        seen
    }
}
