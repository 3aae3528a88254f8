//! Entry mode: a tree whose order is given by psql entry scripts (`entry` in
//! `ores-sql.toml`) instead of numeric prefixes.
//!
//! The manifest of such a tree is the include closure of its entry scripts in psql's
//! order, plus the data files its `\copy` commands read. Compiled twice, like
//! `scan.rs`: `build.rs` computes the compiled-in manifest with [`closure`], and
//! `Manifest::from_dir` computes a run-time one with the same function, so the two
//! cannot disagree.
//!
//! The closure is computed with the engine's variables at placeholder values (the
//! environment is not known at build time); at apply time the tree is expanded again,
//! from the compiled-in text, with the real values. A file reached only then is
//! refused, naming it.

use super::psql::{self, PsqlError};
use super::scan::{Phase, Script, normalise_newlines, sha256_hex};
use super::settings::TreeSettings;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Environment label the closure is computed with at build time.
pub const BUILD_ENV: &str = "local";

/// One file of an entry-mode manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFile {
    /// Path relative to the tree root (`create/iam/tenants.sql`); hashed.
    pub root_path: String,
    /// Path with the tree's label in front (`sql/create/iam/tenants.sql`).
    pub rel_path: String,
    /// Absolute path on disk (used by `include_str!`).
    pub abs_path: PathBuf,
    /// Text with line endings normalised.
    pub text: String,
    /// Hex SHA-256 of `text`.
    pub sha256: String,
    /// A `\copy` data file rather than a script.
    pub data: bool,
}

impl EntryFile {
    /// The file as a manifest script: one phase (the entry scripts order it), its
    /// component and entity taken from where it sits.
    pub fn script(&self) -> Script {
        Script {
            phase: Phase::Create,
            path: Cow::Owned(self.rel_path.clone()),
            component: Cow::Owned(component_of(&self.root_path)),
            entity: Cow::Owned(entity_of(&self.root_path)),
            sha256: Cow::Owned(self.sha256.clone()),
            sql: Cow::Owned(self.text.clone()),
        }
    }
}

/// The include closure of a tree's entry scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryTree {
    /// Scripts in the order psql first reads them, then data files in `\copy` order.
    pub files: Vec<EntryFile>,
    /// `.sql` files under the root that no entry script reaches (relative, sorted).
    pub unreached: Vec<String>,
}

/// The variables every tree starts with: `env`, `db_name`, the group roles, one
/// `<stem>_user` per login user, one `<name>_service_user` per service, then the
/// tree's `[variables]` (with `{env}` replaced; they may override nothing above).
pub fn engine_variables(
    settings: &TreeSettings,
    env: &str,
    db_name: &str,
) -> BTreeMap<String, String> {
    let role = |suffix: &str| format!("ores_{env}_{suffix}");
    let mut vars = BTreeMap::new();
    vars.insert("env".to_string(), env.to_string());
    vars.insert("db_name".to_string(), db_name.to_string());
    for group in ["owner", "rw", "ro", "service"] {
        vars.insert(format!("{group}_role"), role(group));
    }
    for (stem, _) in &settings.login_users {
        vars.insert(format!("{stem}_user"), role(&format!("{stem}_user")));
    }
    for s in &settings.services {
        vars.insert(
            format!("{}_service_user", s.name),
            role(&format!("{}_service", s.name)),
        );
    }
    for (name, value) in &settings.variables {
        vars.entry(name.clone())
            .or_insert_with(|| value.replace("{env}", env));
    }
    vars
}

/// Reads a tree file relative to `root` (inside the tree: `super::boundary`),
/// normalising line endings and refusing anything that is not UTF-8.
pub fn read_file(root: &Path, rel: &Path) -> Result<String, String> {
    let bytes = super::boundary::read_in_tree(root, rel).map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "file is not valid UTF-8".to_string())?;
    Ok(if text.contains('\r') {
        normalise_newlines(&text)
    } else {
        text
    })
}

/// The include closure of `settings.entry` under `root`. `label` prefixes the paths
/// of the result (normally `sql`); errors name files relative to `root`.
pub fn closure(root: &Path, label: &str, settings: &TreeSettings) -> Result<EntryTree, PsqlError> {
    let vars = engine_variables(settings, BUILD_ENV, &format!("ores_dev_{BUILD_ENV}"));
    // Each file is read once: what is hashed below is what was expanded, even if the
    // file changes meanwhile.
    let texts: RefCell<HashMap<PathBuf, String>> = RefCell::default();
    let read = |rel: &Path| {
        let text = read_file(root, rel)?;
        texts.borrow_mut().insert(rel.to_path_buf(), text.clone());
        Ok(text)
    };
    // A password read with a backtick is not known at build time; its value cannot
    // change which files are reached unless a script branches on a secret.
    let lookup = |_: &str| Some(String::new());
    let entries: Vec<&str> = settings.entry.iter().map(String::as_str).collect();
    let expansion = psql::expand_with(&read, &entries, vars, &lookup, None)?;
    let file = |rel: &str, data: bool| -> Result<EntryFile, PsqlError> {
        let read_before = texts.borrow_mut().remove(Path::new(rel));
        let text = match read_before {
            Some(text) => text,
            None => read_file(root, Path::new(rel)).map_err(|message| PsqlError {
                path: rel.to_string(),
                line: 0,
                message,
            })?,
        };
        Ok(EntryFile {
            root_path: rel.to_string(),
            rel_path: format!("{label}/{rel}"),
            abs_path: root.join(rel),
            sha256: sha256_hex(text.as_bytes()),
            text,
            data,
        })
    };
    let mut files = Vec::new();
    for f in &expansion.files {
        files.push(file(f, false)?);
    }
    for f in &expansion.data_files {
        files.push(file(f, true)?);
    }
    let mut unreached = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let Ok(entry) = entry else { continue };
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        // The test files are read by `compass db test`, never by the build.
        let test_file = rel.starts_with(&format!("{}/", settings.tests.dir));
        if entry.file_type().is_file()
            && rel.ends_with(".sql")
            && !test_file
            && !expansion.files.contains(&rel)
        {
            unreached.push(rel);
        }
    }
    Ok(EntryTree { files, unreached })
}

/// The component of an entry-mode file: its first folder, the way such trees group
/// their scripts (`create/iam/...` is `create`'s `iam`), or empty.
pub fn component_of(root_path: &str) -> String {
    let parts: Vec<&str> = root_path.split('/').collect();
    match parts.as_slice() {
        [_, component, _, ..] => component.to_string(),
        _ => String::new(),
    }
}

/// The entity key of an entry-mode file: its path without `.sql`, `/` as `_` (unique
/// in the tree, unlike a file stem).
pub fn entity_of(root_path: &str) -> String {
    root_path
        .strip_suffix(".sql")
        .unwrap_or(root_path)
        .replace('/', "_")
}
