//! Turns a directory of SQL scripts into an ordered, hashed manifest.
//!
//! This file is compiled twice: by `build.rs` (through `#[path]`) to produce the
//! compiled-in manifest, and into the library so tests and tools can scan a fixture
//! directory with exactly the same rules. It therefore depends on nothing but `std`,
//! `sha2`, `walkdir` (both build and normal dependencies) and its siblings `boundary`
//! (every file is read inside the tree) and `lint` (a script controlling the
//! transaction is refused here, where every path that loads a tree passes).
//!
//! Ordering rules (see docs/design.md): under `<root>/create` then `<root>/populate`,
//! every directory and `.sql` file name starts with a decimal prefix and an
//! underscore (`02_iam/010_iam_tenants.sql`). Siblings are ordered by the numeric
//! value of that prefix; two siblings with the same value are ambiguous and rejected,
//! so the order is always the one a human reads off the names.

use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The two phases, applied in this order.
pub const PHASES: [&str; 2] = ["create", "populate"];

/// Which of the two passes a script belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// `sql/create`: DDL, functions, triggers, policies.
    Create,
    /// `sql/populate`: seed data.
    Populate,
}

impl Phase {
    /// `create` or `populate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Populate => "populate",
        }
    }
}

/// One script: the one type the scanner, the static rules, `build.rs`, the manifest
/// and the runner share. Compiled-in scripts borrow their text from the binary;
/// scripts read at run time own it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Create or populate.
    pub phase: Phase,
    /// Relative path with `/` separators, e.g. `sql/create/02_iam/010_iam_tenants.sql`.
    pub path: Cow<'static, str>,
    /// Component folder without its prefix, e.g. `iam`; empty at the phase root.
    pub component: Cow<'static, str>,
    /// Entity key (file stem without prefix), e.g. `iam_tenants`.
    pub entity: Cow<'static, str>,
    /// Hex SHA-256 of the script with normalised line endings.
    pub sha256: Cow<'static, str>,
    /// The SQL text, line endings normalised to `\n`.
    pub sql: Cow<'static, str>,
}

/// A script as found on disk: the script, and where it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedScript {
    /// The script.
    pub script: Script,
    /// Path relative to the scanned root (`create/02_iam/010_iam_tenants.sql`); the
    /// schema hash is computed over these, so it does not depend on where the tree is.
    pub root_path: String,
    /// Absolute path on disk (used by `include_str!`).
    pub abs_path: PathBuf,
}

/// Why a directory could not become a manifest. Every variant names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScanError {
    /// A name without the `<digits>_` prefix, or with characters outside `[a-z0-9_]`.
    BadName {
        /// The offending path.
        path: String,
        /// The rule it breaks.
        reason: String,
    },
    /// Two siblings share one numeric prefix, so their order is not visible.
    AmbiguousOrder {
        /// The sibling seen first.
        first: String,
        /// The sibling with the same prefix.
        second: String,
    },
    /// The script has no SQL in it.
    Empty {
        /// The empty script.
        path: String,
    },
    /// The file is not valid UTF-8.
    NotUtf8 {
        /// The file.
        path: String,
    },
    /// Two scripts in one phase name the same entity.
    DuplicateEntity {
        /// The script seen first.
        first: String,
        /// The script naming the same entity.
        second: String,
    },
    /// The script controls the transaction the build runs in (rule S009).
    TransactionControl {
        /// The script.
        path: String,
        /// 1-based line of the statement.
        line: usize,
        /// The statement, e.g. `COMMIT`.
        what: String,
    },
    /// The file system refused, or the file is not one a tree may hold
    /// (`super::boundary`).
    Io {
        /// The path being read.
        path: String,
        /// The system's message.
        message: String,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::BadName { path, reason } => write!(f, "{path}: {reason}"),
            ScanError::AmbiguousOrder { first, second } => write!(
                f,
                "{second}: ambiguous order, same numeric prefix as {first}; renumber one of them"
            ),
            ScanError::Empty { path } => write!(f, "{path}: script is empty"),
            ScanError::NotUtf8 { path } => write!(f, "{path}: file is not valid UTF-8"),
            ScanError::DuplicateEntity { first, second } => write!(
                f,
                "{second}: names the same entity as {first}; one script per entity and phase"
            ),
            ScanError::TransactionControl { path, line, what } => write!(
                f,
                "{path}:{line}: S009: {}",
                super::lint::transaction_control_message(what)
            ),
            ScanError::Io { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for ScanError {}

/// Normalises CRLF and lone CR to LF, so a Windows checkout hashes the same.
pub fn normalise_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The schema hash: one digest over the ordered (path, script hash) pairs.
pub fn schema_hash<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut hasher = Sha256::new();
    for (path, sha) in entries {
        hasher.update(path.as_bytes());
        hasher.update([0u8]);
        hasher.update(sha.as_bytes());
        hasher.update([b'\n']);
    }
    hex::encode(hasher.finalize())
}

/// Splits `010_iam_tenants` into `(10, "iam_tenants")`.
pub fn split_prefix(name: &str) -> Option<(u64, &str)> {
    let (digits, rest) = name.split_once('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.is_empty() {
        return None;
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    Some((digits.parse().ok()?, rest))
}

/// Files that may sit beside scripts without being scripts.
fn is_ignored(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".md")
}

/// Scans `<root>/create` and `<root>/populate`. `label` is the prefix used for
/// relative paths in the manifest and in error messages (normally `sql`).
pub fn scan(root: &Path, label: &str) -> Result<Vec<ScannedScript>, ScanError> {
    let mut out = Vec::new();
    for phase in PHASES {
        let dir = root.join(phase);
        if !dir.exists() {
            continue;
        }
        let mut seen_entities: BTreeMap<String, String> = BTreeMap::new();
        scan_dir(
            root,
            &dir,
            &format!("{label}/{phase}"),
            phase,
            "",
            &mut out,
            &mut seen_entities,
        )?;
    }
    let strip = format!("{label}/");
    for s in &mut out {
        s.root_path = s.script.path[strip.len()..].to_string();
    }
    Ok(out)
}

fn scan_dir(
    root: &Path,
    dir: &Path,
    rel: &str,
    phase: &str,
    component: &str,
    out: &mut Vec<ScannedScript>,
    seen_entities: &mut BTreeMap<String, String>,
) -> Result<(), ScanError> {
    let io = |e: &dyn fmt::Display| ScanError::Io {
        path: rel.to_string(),
        message: e.to_string(),
    };
    // Ordered by numeric prefix; the value is (name, is_dir).
    let mut children: BTreeMap<u64, (String, bool)> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| io(&e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_ignored(&name) {
            continue;
        }
        let child_rel = format!("{rel}/{name}");
        let is_dir = entry.file_type().is_dir();
        let stem = if is_dir {
            name.as_str()
        } else if let Some(stem) = name.strip_suffix(".sql") {
            stem
        } else {
            return Err(ScanError::BadName {
                path: child_rel,
                reason: "only .sql scripts (and .md notes) may live under sql/".into(),
            });
        };
        let Some((order, _)) = split_prefix(stem) else {
            return Err(ScanError::BadName {
                path: child_rel,
                reason: "name must be <digits>_<lowercase_name> (e.g. 010_iam_tenants.sql)".into(),
            });
        };
        if let Some((first, _)) = children.get(&order) {
            return Err(ScanError::AmbiguousOrder {
                first: format!("{rel}/{first}"),
                second: child_rel,
            });
        }
        children.insert(order, (name, is_dir));
    }
    for (name, is_dir) in children.into_values() {
        let path = dir.join(&name);
        let child_rel = format!("{rel}/{name}");
        if is_dir {
            let (_, comp) = split_prefix(&name).expect("checked above");
            scan_dir(root, &path, &child_rel, phase, comp, out, seen_entities)?;
            continue;
        }
        let inside = path.strip_prefix(root).unwrap_or(&path);
        let bytes = super::boundary::read_in_tree(root, inside).map_err(|e| ScanError::Io {
            path: child_rel.clone(),
            message: e.to_string(),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ScanError::NotUtf8 {
            path: child_rel.clone(),
        })?;
        let sql = normalise_newlines(&text);
        if !has_sql(&sql) {
            return Err(ScanError::Empty { path: child_rel });
        }
        if let Some((line, what)) = super::lint::transaction_control(&sql).into_iter().next() {
            return Err(ScanError::TransactionControl {
                path: child_rel,
                line,
                what,
            });
        }
        let stem = name.strip_suffix(".sql").expect("checked above");
        let (_, entity) = split_prefix(stem).expect("checked above");
        if let Some(first) = seen_entities.insert(entity.to_string(), child_rel.clone()) {
            return Err(ScanError::DuplicateEntity {
                first,
                second: child_rel,
            });
        }
        out.push(ScannedScript {
            script: Script {
                phase: if phase == "populate" {
                    Phase::Populate
                } else {
                    Phase::Create
                },
                sha256: Cow::Owned(sha256_hex(sql.as_bytes())),
                path: Cow::Owned(child_rel),
                component: Cow::Owned(component.to_string()),
                entity: Cow::Owned(entity.to_string()),
                sql: Cow::Owned(sql),
            },
            root_path: String::new(),
            abs_path: path,
        });
    }
    Ok(())
}

/// True when the text holds something other than white space and `--` comments.
fn has_sql(sql: &str) -> bool {
    sql.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("--")
    })
}
