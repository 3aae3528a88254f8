//! Writing a fresh `.env` for an environment (`compass env configure`): a strong
//! random password for every login role, in a file only its owner can read.

use crate::config::envfile::{FORMAT_KEY, FORMAT_VERSION, password_key};
use crate::config::ident::validate_env_label_in;
use crate::error::{Error, Result};
use crate::tree::registry::Registry;
use crate::tree::roles::roles_in;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Characters per generated password: 32 alphanumerics carry about 190 bits, and
/// need no quoting in `.env`, a URL or a shell.
pub const PASSWORD_LENGTH: usize = 32;

/// What [`write_env_file`] wrote (never the secrets themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    /// The file written.
    pub path: PathBuf,
    /// Environment label it configures.
    pub env: String,
    /// The password keys it holds, one per login role.
    pub password_keys: Vec<String>,
    /// Whether an existing file was replaced (`force`).
    pub replaced: bool,
}

fn generate_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(PASSWORD_LENGTH)
        .map(char::from)
        .collect()
}

/// The text of a `.env` for environment `env` with fresh passwords for every login
/// role of `registry`.
fn render(env: &str, registry: &Registry) -> (String, Vec<String>) {
    let mut text = format!(
        "# Written by `compass env configure -e {env}`. Holds passwords: keep it private\n\
         # (mode 0600) and out of version control. `compass db recreate` sets them.\n\
         {FORMAT_KEY}={FORMAT_VERSION}\n\
         ORES_ENV={env}\n"
    );
    let mut keys = Vec::new();
    for role in roles_in(env, registry).into_iter().filter(|r| r.login) {
        let key = password_key(&role.suffix);
        text.push_str(&format!("{key}={}\n", generate_password()));
        keys.push(key);
    }
    (text, keys)
}

/// Writes `dir/.env` for environment `env` with a generated password for every login
/// role of the compiled-in registry; see [`write_env_file_in`].
pub fn write_env_file(dir: &Path, env: &str, force: bool) -> Result<Configured> {
    write_env_file_in(dir, env, force, Registry::compiled())
}

/// Writes `dir/.env` for environment `env` with a generated password for every login
/// role of `registry` (a tree's own, for `--sql-dir`). Refuses an existing file unless
/// `force`; the file is created with mode 0600 (it is written beside it under a fresh
/// random name, then linked or renamed into place, so it never exists with wider
/// permissions or half-written). Nothing but that staging file, which this call
/// created, is ever removed.
pub fn write_env_file_in(
    dir: &Path,
    env: &str,
    force: bool,
    registry: &Registry,
) -> Result<Configured> {
    validate_env_label_in(env, registry)?;
    let path = dir.join(".env");
    let io = |context: String| move |source| Error::Io { context, source };
    let exists = path.symlink_metadata().is_ok();
    if exists && !force {
        return Err(Error::Config(format!(
            "{} already exists; nothing was written (pass --force to replace it, which \
             changes every password it holds)",
            path.display()
        )));
    }
    let (text, password_keys) = render(env, registry);
    let (staging, mut file) = create_staging(dir)?;
    let written = (|| {
        // The umask can only narrow the mode; set it anyway so 0600 is what we get.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(format!("setting the mode of {}", staging.display())))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(format!("writing {}", staging.display())))?;
        if force {
            std::fs::rename(&staging, &path)
        } else {
            // Fails if a file appeared meanwhile, so even a race never overwrites.
            std::fs::hard_link(&staging, &path).and_then(|()| std::fs::remove_file(&staging))
        }
        .map_err(io(format!("writing {}", path.display())))
    })();
    if written.is_err() {
        // Ours: create_staging made it with create_new.
        let _ = std::fs::remove_file(&staging);
    }
    written?;
    Ok(Configured {
        path,
        env: env.to_string(),
        password_keys,
        replaced: exists,
    })
}

/// Creates `dir/.env.<random>.tmp` exclusively (mode 0600). A name that exists
/// already is someone else's file and is left alone: another random name is tried.
fn create_staging(dir: &Path) -> Result<(PathBuf, std::fs::File)> {
    let mut last = None;
    for _ in 0..8 {
        let tag: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(12)
            .map(char::from)
            .collect();
        let staging = dir.join(format!(".env.{tag}.tmp"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staging)
        {
            Ok(file) => return Ok((staging, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(source) => {
                return Err(Error::Io {
                    context: format!("creating {}", staging.display()),
                    source,
                });
            }
        }
    }
    Err(Error::Io {
        context: format!(
            "creating a staging file in {} (eight random names were all taken; remove stale .env.*.tmp files there)",
            dir.display()
        ),
        source: last.unwrap_or_else(|| std::io::Error::other("no attempt made")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_alphanumeric_and_distinct() {
        let (text, keys) = render("cfg", Registry::compiled());
        let values: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| keys.iter().any(|key| key == k))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(values.len(), keys.len());
        for v in &values {
            assert_eq!(v.len(), PASSWORD_LENGTH);
            assert!(v.bytes().all(|b| b.is_ascii_alphanumeric()), "{v}");
        }
        let distinct: std::collections::BTreeSet<_> = values.iter().collect();
        assert_eq!(distinct.len(), values.len());
    }
}
