//! The names of an environment's roles: pure data derived from the environment label
//! and the registry, so every layer (the `.env` writer as much as the provisioner)
//! names them the same way without reaching the server code.

use crate::tree::registry::Registry;

/// The group roles of an environment, by suffix.
pub const GROUPS: [&str; 4] = ["owner", "rw", "ro", "service"];

/// One role to provision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// Full role name, e.g. `ores_local_iam_service`.
    pub name: String,
    /// Suffix after `ores_<env>_`, also the password key (`ORES_DB_<SUFFIX>_PASSWORD`).
    pub suffix: String,
    /// Whether the role may log in.
    pub login: bool,
    /// The group role it is a member of.
    pub member_of: Option<String>,
}

/// `ores_<env>_<suffix>`.
pub fn role_name(env: &str, suffix: &str) -> String {
    format!("ores_{env}_{suffix}")
}

/// Every role of environment `env` under the compiled-in registry: groups first, then
/// login users, then services.
pub fn roles_for(env: &str) -> Vec<RoleSpec> {
    roles_in(env, Registry::compiled())
}

/// Every role of environment `env` under `registry` (login users and services are
/// the tree's, from its `ores-sql.toml`).
pub fn roles_in(env: &str, registry: &Registry) -> Vec<RoleSpec> {
    let mut out: Vec<RoleSpec> = GROUPS
        .iter()
        .map(|g| RoleSpec {
            name: role_name(env, g),
            suffix: g.to_string(),
            login: false,
            member_of: None,
        })
        .collect();
    for user in registry.login_users {
        let suffix = user.suffix();
        out.push(RoleSpec {
            name: role_name(env, &suffix),
            suffix,
            login: true,
            member_of: Some(role_name(env, user.group)),
        });
    }
    for s in registry.services {
        out.push(RoleSpec {
            name: s.role(env),
            suffix: s.password_key(),
            login: true,
            member_of: Some(role_name(env, "service")),
        });
    }
    out
}
