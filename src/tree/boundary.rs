//! A tree is a boundary: every file a build reads (scripts, included files, `\copy`
//! data, `ores-sql.toml`, `validate-allow.txt`) is read through [`read_in_tree`].
//!
//! Compiled twice, like `scan.rs` (`build.rs` embeds what it reads into the binary),
//! so it uses only `std`.
//!
//! What it refuses, naming the path: a file whose real location (every symlink on
//! the way resolved) is outside the tree's real root, so a link to `/etc/shadow` is
//! never read or compiled in, while a link from one folder of the tree to another is
//! followed; anything but a regular file (a FIFO would block the build forever, a
//! device such as `/dev/zero` never ends); and a file over [`MAX_FILE_BYTES`]. The
//! type is checked on the path before opening it, since opening a FIFO blocks, and
//! again on the opened file, so a file swapped in between is refused too.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Largest file a tree may hold: far above any script or seed file (the biggest
/// data file of the upstream tree is a few MiB), far below what would strain the
/// memory of a build that holds the whole tree.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Deepest `\i` / `\ir` nesting a tree may use: psql trees nest a few levels; the
/// limit turns a runaway chain into an error before the expander's recursion could
/// exhaust the stack.
pub const MAX_INCLUDE_DEPTH: usize = 64;

/// Reads `root/rel` as bytes, refusing what the module comment lists. A missing file
/// keeps `ErrorKind::NotFound` (some files are optional); every refusal is
/// `ErrorKind::InvalidInput` with a message saying what to change.
pub fn read_in_tree(root: &Path, rel: &Path) -> io::Result<Vec<u8>> {
    let real = real_path_in_tree(root, rel)?;
    let checked = std::fs::metadata(&real)?;
    regular(&checked)?;
    let file = File::open(&real)?;
    let opened = file.metadata()?;
    regular(&opened)?;
    if !same_file(&checked, &opened) {
        return Err(refused(
            "the file changed while it was read; run the build again",
        ));
    }
    let mut bytes = Vec::with_capacity(opened.len().min(MAX_FILE_BYTES) as usize + 1);
    // One byte more than allowed tells a file that grew past the limit.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// A file of the tree that may be absent (`ores-sql.toml`, `validate-allow.txt`): its
/// text, or `None` when there is no such file.
pub fn read_optional(root: &Path, name: &str) -> io::Result<Option<String>> {
    match read_in_tree(root, Path::new(name)) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file is not valid UTF-8")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `root/rel` with every symlink resolved, when that stays under the real root.
pub fn real_path_in_tree(root: &Path, rel: &Path) -> io::Result<PathBuf> {
    let real_root = root.canonicalize()?;
    let path = root.join(rel);
    // A dangling symlink is refused like any other, not reported as a missing file.
    if let Ok(link) = std::fs::read_link(&path)
        && !path.exists()
    {
        return Err(refused(&format!(
            "a symlink to {}, which does not exist; replace it with the file",
            link.display()
        )));
    }
    let real = path.canonicalize()?;
    if !real.starts_with(&real_root) {
        return Err(refused(&format!(
            "leads outside the tree (through a symlink, to {}); a tree may read only \
             files under its own root: copy the file into the tree",
            real.display()
        )));
    }
    Ok(real)
}

fn regular(meta: &std::fs::Metadata) -> io::Result<()> {
    if !meta.is_file() {
        return Err(refused(
            "not a regular file (a FIFO, socket, device or folder); a tree holds only \
             regular files",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

fn too_big() -> io::Error {
    refused(&format!(
        "larger than {} MiB, the most a tree's file may hold; split it",
        MAX_FILE_BYTES / (1024 * 1024)
    ))
}

fn refused(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_string())
}
