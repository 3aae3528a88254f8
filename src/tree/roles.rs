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

/// What the engine writes as the comment of every role it makes or adopts: the
/// environment the role belongs to. A run refuses a role marked for another
/// environment, so even a name two labels could share (made before labels were
/// checked, or by another tool) is never handed from one environment to another.
pub fn env_mark(env: &str) -> String {
    format!("{ENV_MARK_PREFIX}{env}")
}

/// The start of every environment mark.
pub const ENV_MARK_PREFIX: &str = "ores-sql env=";

/// The environment a role's comment marks it for, if it carries a mark.
pub fn marked_env(comment: &str) -> Option<&str> {
    comment.strip_prefix(ENV_MARK_PREFIX)
}

/// Every suffix a role of an environment may carry under `registry` (what follows
/// `ores_<env>_`): the groups, the login users' and the services'.
pub fn suffixes(registry: &Registry) -> Vec<String> {
    roles_in("x", registry)
        .into_iter()
        .map(|r| r.suffix)
        .collect()
}

/// The label endings that would let two environments name the same role.
///
/// `ores_<X>_<s>` equals `ores_<Y>_<t>` for two labels `X` shorter than `Y` exactly
/// when `Y` is `X_<u>` and `s` is `<u>_<t>`: one suffix is another one with a word in
/// front (`test_ddl_user` and `ddl_user`: `u` = `test`; `iam_service` and the group
/// `service`: `u` = `iam`). Refusing every label that ends in `_<u>` for such a `u`
/// therefore makes a collision impossible between any two accepted labels, in
/// either direction, whichever of them is made first.
pub fn reserved_endings(registry: &Registry) -> Vec<String> {
    let all = suffixes(registry);
    let mut out: Vec<String> = Vec::new();
    for s in &all {
        for t in &all {
            if let Some(u) = s
                .strip_suffix(t.as_str())
                .and_then(|rest| rest.strip_suffix('_'))
                .filter(|u| !u.is_empty())
                && !out.iter().any(|o| o == u)
            {
                out.push(u.to_string());
            }
        }
    }
    out.sort();
    out
}

/// Why `env` cannot be an environment label under `registry`, if it cannot: its
/// roles would be (or would contain) another environment's. The reason names the
/// role both would claim.
pub fn label_conflict(env: &str, registry: &Registry) -> Option<String> {
    let all = suffixes(registry);
    let u = reserved_endings(registry).into_iter().find(|u| {
        env.strip_suffix(u.as_str())
            .is_some_and(|x| x.ends_with('_') && x.len() > 1)
    })?;
    let other = &env[..env.len() - u.len() - 1];
    // The pair that collides: `ores_<env>_<t>` is `ores_<other>_<u>_<t>`.
    let t = all.iter().find(|t| all.contains(&format!("{u}_{t}")))?;
    Some(format!(
        "labels ending in _{u} are refused: role {} would also be environment `{other}`'s \
         {u}_{t} role, so one environment could act as the other; choose a label that \
         does not end in _{} (refused endings: {})",
        role_name(env, t),
        u,
        reserved_endings(registry).join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_registry_reserves_test_and_every_service_name() {
        let registry = Registry::compiled();
        let endings = reserved_endings(registry);
        assert!(endings.contains(&"test".to_string()), "{endings:?}");
        for s in registry.services {
            assert!(endings.iter().any(|e| e == s.name), "{} missing", s.name);
        }
    }

    #[test]
    fn no_two_accepted_labels_share_a_role() {
        let registry = Registry::compiled();
        let mut labels: Vec<String> = ["g", "ci", "local", "g2", "t_0123456789ab"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for base in ["g", "x_test"] {
            for u in reserved_endings(registry) {
                labels.push(format!("{base}_{u}"));
            }
        }
        labels.retain(|l| label_conflict(l, registry).is_none());
        assert!(labels.contains(&"g".to_string()));
        let mut seen = std::collections::HashMap::new();
        for l in &labels {
            for r in roles_in(l, registry) {
                if let Some(other) = seen.insert(r.name.clone(), l.clone()) {
                    panic!("{} is a role of both {other} and {l}", r.name);
                }
            }
        }
    }

    #[test]
    fn aliasing_labels_are_refused_with_the_role_they_would_share() {
        let registry = Registry::compiled();
        for (label, role) in [
            ("g_test", "ores_g_test_ddl_user"),
            ("g_iam", "ores_g_iam_service"),
            ("x_test_test", "ores_x_test_test_ddl_user"),
        ] {
            let reason = label_conflict(label, registry).expect(label);
            assert!(reason.contains(role), "{reason}");
        }
        for ok in ["g", "test", "iam", "g_testing", "giam", "t_0123456789ab"] {
            assert_eq!(label_conflict(ok, registry), None, "{ok}");
        }
    }
}
