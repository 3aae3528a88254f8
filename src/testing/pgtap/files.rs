//! Where a tree's test files come from: the tree's folder (`--sql-dir`), read at test
//! time inside the tree root like every script, or the files `build.rs` compiled in
//! from `sql/<[tests] dir>/`. Neither is part of the build's manifest or its hash.

use crate::error::{Error, Result};
use crate::tree::entry::read_file;
use crate::tree::manifest::COMPILED_TEST_FILES;
use crate::tree::settings::TestSettings;
use std::path::{Path, PathBuf};

/// The test files of one tree.
#[derive(Debug, Clone)]
pub(crate) enum TestFiles {
    /// Compiled in: (path relative to the tree root, text).
    Compiled,
    /// Read from the tree in this folder.
    Dir(PathBuf),
}

impl TestFiles {
    /// Reads a file by its path relative to the tree root.
    pub(crate) fn read(&self, rel: &Path) -> std::result::Result<String, String> {
        match self {
            TestFiles::Dir(root) => read_file(root, rel),
            TestFiles::Compiled => {
                let key = rel.to_string_lossy().replace('\\', "/");
                COMPILED_TEST_FILES
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, text)| text.replace("\r\n", "\n"))
                    .ok_or_else(|| {
                        "not compiled in (only files under the tests folder are)".to_string()
                    })
            }
        }
    }

    /// Every file under the tests folder, relative to the tree root, sorted.
    fn all(&self, settings: &TestSettings) -> Result<Vec<String>> {
        let prefix = format!("{}/", settings.dir);
        match self {
            TestFiles::Compiled => Ok(COMPILED_TEST_FILES
                .iter()
                .map(|(k, _)| k.to_string())
                .filter(|k| k.starts_with(&prefix))
                .collect()),
            TestFiles::Dir(root) => {
                let dir = root.join(&settings.dir);
                if !dir.is_dir() {
                    return Err(Error::Harness(format!(
                        "the tests folder {} does not exist ([tests] dir = {:?} in {})",
                        dir.display(),
                        settings.dir,
                        crate::tree::settings::FILE_NAME
                    )));
                }
                let mut out = Vec::new();
                for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
                    let entry =
                        entry.map_err(|e| Error::Harness(format!("{}: {e}", dir.display())))?;
                    if let Ok(rel) = entry.path().strip_prefix(root)
                        && entry.file_type().is_file()
                    {
                        out.push(rel.to_string_lossy().replace('\\', "/"));
                    }
                }
                Ok(out)
            }
        }
    }

    /// The test files to run: every file of the folder whose name matches the
    /// pattern, or those `wanted` names (a path relative to the tree root, to the
    /// tests folder, or on disk inside the tree).
    pub(crate) fn select(&self, settings: &TestSettings, wanted: &[String]) -> Result<Vec<String>> {
        let all = self.all(settings)?;
        if wanted.is_empty() {
            let found: Vec<String> = all
                .into_iter()
                .filter(|k| settings.matches(k.rsplit('/').next().unwrap_or(k)))
                .collect();
            if found.is_empty() {
                return Err(Error::Harness(format!(
                    "no test file in {} matches {:?} ([tests] pattern)",
                    settings.dir, settings.pattern
                )));
            }
            return Ok(found);
        }
        wanted
            .iter()
            .map(|w| {
                let key = self.key_of(settings, w);
                all.iter()
                    .find(|k| Some(k.as_str()) == key.as_deref())
                    .cloned()
                    .ok_or_else(|| {
                        Error::Harness(format!(
                            "{w}: not a file of the tests folder {}",
                            settings.dir
                        ))
                    })
            })
            .collect()
    }

    fn key_of(&self, settings: &TestSettings, wanted: &str) -> Option<String> {
        let plain = wanted.trim_start_matches("./").replace('\\', "/");
        if let TestFiles::Dir(root) = self
            && let (Ok(real), Ok(real_root)) =
                (Path::new(wanted).canonicalize(), root.canonicalize())
            && let Ok(rel) = real.strip_prefix(&real_root)
        {
            return Some(rel.to_string_lossy().replace('\\', "/"));
        }
        if plain.starts_with(&format!("{}/", settings.dir)) {
            Some(plain)
        } else {
            Some(format!("{}/{plain}", settings.dir))
        }
    }
}
