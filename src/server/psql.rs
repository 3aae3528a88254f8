//! Building the `psql` invocation for `compass db sql`.
//!
//! Connection details travel in libpq's environment variables, never on the command
//! line, where any user of the machine could read a password from the process list.

use crate::config::{Config, Secret};
use crate::error::{Error, Result};
use crate::server::roles::{role_name, roles_for};
use std::ffi::OsString;
use std::process::Command;

/// Variables that could make libpq connect somewhere other than what we set, or
/// with other credentials; they are removed from the child's environment.
const CLEARED: [&str; 5] = [
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGPASSFILE",
    "PGHOSTADDR",
    "PGOPTIONS",
];

/// Who `psql` logs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// Role name.
    pub user: String,
    /// Its password from configuration, if any.
    pub password: Option<Secret>,
}

/// Resolves `-u ROLE`: no role means the administrative login; otherwise a login
/// role of the environment, by suffix (`cli_user`, `iam_service`) or full name.
pub fn login_for(config: &Config, role: Option<&str>) -> Result<Login> {
    let Some(role) = role else {
        return Ok(Login {
            user: config.admin_user.clone(),
            password: config.admin_password.clone(),
        });
    };
    let specs = roles_for(&config.env);
    let prefix = role_name(&config.env, "");
    let suffix = role.strip_prefix(&prefix).unwrap_or(role);
    match specs.iter().find(|s| s.suffix == suffix) {
        Some(spec) if spec.login => Ok(Login {
            user: spec.name.clone(),
            password: config.password_for(&spec.suffix).cloned(),
        }),
        Some(spec) => Err(Error::InvalidArgument(format!(
            "{} is a group role and cannot log in; use one of: {}",
            spec.name,
            login_suffixes(config)
        ))),
        None => Err(Error::InvalidArgument(format!(
            "environment {} has no login role {role:?}; use one of: {}",
            config.env,
            login_suffixes(config)
        ))),
    }
}

fn login_suffixes(config: &Config) -> String {
    roles_for(&config.env)
        .into_iter()
        .filter(|s| s.login)
        .map(|s| s.suffix)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The command that runs `program` (normally `psql`) against the configured
/// database as `role`, passing `args` through untouched.
pub fn command(
    config: &Config,
    program: &str,
    role: Option<&str>,
    args: &[OsString],
) -> Result<Command> {
    config.validate()?;
    let login = login_for(config, role)?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    for key in CLEARED {
        cmd.env_remove(key);
    }
    cmd.env("PGHOST", &config.host)
        .env("PGPORT", config.port.to_string())
        .env("PGUSER", &login.user)
        .env("PGDATABASE", &config.database)
        .env(
            "PGCONNECT_TIMEOUT",
            config.connect_timeout.as_secs().max(1).to_string(),
        )
        .env("PGAPPNAME", "compass-sql");
    match &login.password {
        Some(p) => cmd.env("PGPASSWORD", p.expose()),
        // An inherited PGPASSWORD belongs to the administrator, not to this role.
        None => cmd.env_remove("PGPASSWORD"),
    };
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config() -> Config {
        let mut vars = BTreeMap::new();
        vars.insert("ORES_ENV".to_string(), "t1".to_string());
        vars.insert("PGHOST".to_string(), "db.example".to_string());
        vars.insert("PGPASSWORD".to_string(), "admin-secret".to_string());
        vars.insert(
            "ORES_DB_CLI_USER_PASSWORD".to_string(),
            "cli-secret".to_string(),
        );
        Config::from_vars(&vars).unwrap()
    }

    fn env_of(cmd: &Command, key: &str) -> Option<Option<String>> {
        cmd.get_envs()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn credentials_go_in_the_environment_never_in_argv() {
        let args = vec![OsString::from("-c"), OsString::from("select 1")];
        let cmd = command(&config(), "psql", Some("cli_user"), &args).unwrap();
        let argv: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(argv, ["-c", "select 1"]);
        assert!(argv.iter().all(|a| !a.contains("secret")));
        assert_eq!(
            env_of(&cmd, "PGUSER"),
            Some(Some("ores_t1_cli_user".into()))
        );
        assert_eq!(env_of(&cmd, "PGPASSWORD"), Some(Some("cli-secret".into())));
        assert_eq!(env_of(&cmd, "PGDATABASE"), Some(Some("ores_dev_t1".into())));
        assert_eq!(env_of(&cmd, "PGSERVICE"), Some(None));
    }

    #[test]
    fn a_role_without_password_does_not_inherit_the_administrators() {
        let cmd = command(&config(), "psql", Some("ores_t1_readonly_user"), &[]).unwrap();
        assert_eq!(
            env_of(&cmd, "PGUSER"),
            Some(Some("ores_t1_readonly_user".into()))
        );
        assert_eq!(env_of(&cmd, "PGPASSWORD"), Some(None));
    }

    #[test]
    fn groups_and_unknown_roles_are_refused() {
        assert!(login_for(&config(), Some("owner")).is_err());
        let e = login_for(&config(), Some("nobody"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cli_user"), "{e}");
    }
}
