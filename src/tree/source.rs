//! Which SQL tree a command works on: the one compiled into the binary, or one read
//! from a directory at run time (`compass db ... --sql-dir DIR`), so another team's
//! tree can be built and validated without rebuilding compass.

use super::boundary::read_optional;
use super::manifest::{COMPILED_ALLOW_LIST, Manifest};
use crate::error::{Error, Result};
use std::path::Path;

/// The allow-list's file name inside a tree (ours is `sql/validate-allow.txt`).
pub const ALLOW_LIST_FILE: &str = "validate-allow.txt";

/// A tree's manifest and its validation allow-list.
#[derive(Debug)]
pub struct SqlTree {
    /// `None`: the compiled-in manifest, which lives for the whole process.
    loaded: Option<Manifest>,
    allow_list: String,
}

impl SqlTree {
    /// The tree compiled in from `sql/`.
    pub fn compiled() -> SqlTree {
        SqlTree {
            loaded: None,
            allow_list: COMPILED_ALLOW_LIST.to_string(),
        }
    }

    /// A tree laid out like `sql/` (either layout, see [`Manifest::from_dir`]), with
    /// its `validate-allow.txt` when it has one.
    pub fn from_dir(dir: &Path) -> Result<SqlTree> {
        let manifest = Manifest::from_dir(dir)?;
        let path = dir.join(ALLOW_LIST_FILE);
        let allow_list = match read_optional(dir, ALLOW_LIST_FILE) {
            // No file is an empty allow-list, as for a tree without exceptions.
            Ok(text) => text.unwrap_or_default(),
            Err(source) => {
                return Err(Error::Io {
                    context: format!("reading {}", path.display()),
                    source,
                });
            }
        };
        Ok(SqlTree {
            loaded: Some(manifest),
            allow_list,
        })
    }

    /// The tree in `dir` when one is given, else the compiled one.
    ///
    /// ```no_run
    /// let dir: Option<std::path::PathBuf> = std::env::args().nth(1).map(Into::into);
    /// let tree = ores_sql::SqlTree::open(dir.as_deref())?;
    /// ores_sql::recreate_with(&ores_sql::Config::load()?, tree.manifest(), &ores_sql::RunOptions::new())?;
    /// # Ok::<(), ores_sql::Error>(())
    /// ```
    pub fn open(dir: Option<&Path>) -> Result<SqlTree> {
        match dir {
            Some(dir) => SqlTree::from_dir(dir),
            None => Ok(SqlTree::compiled()),
        }
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        self.loaded.as_ref().unwrap_or_else(|| Manifest::compiled())
    }

    /// Its allow-list text (empty when it has none).
    pub fn allow_list(&self) -> &str {
        &self.allow_list
    }
}
