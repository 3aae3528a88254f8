//! Writing a fresh `.env` for an environment (`compass env configure`): a strong
//! random password for every login role, in a file only its owner can read.

use crate::config::envfile::{FORMAT_KEY, FORMAT_VERSION, password_key};
use crate::config::ident::validate_env_label;
use crate::error::{Error, Result};
use crate::tree::roles::roles_for;
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

/// The text of a `.env` for environment `env` with fresh passwords.
fn render(env: &str) -> (String, Vec<String>) {
    let mut text = format!(
        "# Written by `compass env configure -e {env}`. Holds passwords: keep it private\n\
         # (mode 0600) and out of version control. `compass db recreate` sets them.\n\
         {FORMAT_KEY}={FORMAT_VERSION}\n\
         ORES_ENV={env}\n"
    );
    let mut keys = Vec::new();
    for role in roles_for(env).into_iter().filter(|r| r.login) {
        let key = password_key(&role.suffix);
        text.push_str(&format!("{key}={}\n", generate_password()));
        keys.push(key);
    }
    (text, keys)
}

/// Writes `dir/.env` for environment `env` with a generated password for every login
/// role. Refuses an existing file unless `force`; the file is created with mode 0600
/// (a replaced file is written beside it and renamed over it, so it never exists
/// with wider permissions or half-written).
pub fn write_env_file(dir: &Path, env: &str, force: bool) -> Result<Configured> {
    validate_env_label(env)?;
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
    let (text, password_keys) = render(env);
    let staging = dir.join(format!(".env.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staging)
            .map_err(io(format!("creating {}", staging.display())))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_alphanumeric_and_distinct() {
        let (text, keys) = render("cfg");
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
