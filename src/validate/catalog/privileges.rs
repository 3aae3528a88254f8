//! C013, C021, C022, C025: role attributes and privileges against the registry.

use super::*;
use crate::server::grants::{public_relations, service_grants_in};
use crate::server::roles::{existing_roles, foreign_roles, role_name, roles_in, stray_memberships};
use crate::tree::registry::Registry;
use std::collections::BTreeSet;

/// C013: the environment's roles carry no privilege-escalating attribute, are in no
/// group the registry does not give them, and are not marked for another environment.
pub(super) fn check_roles(
    client: &mut Client,
    env: &str,
    registry: &Registry,
    push: Push<'_>,
) -> Result<()> {
    let specs = roles_in(env, registry);
    for (member, group) in stray_memberships(client, &specs)? {
        push(
            RuleId::C013,
            &member,
            format!(
                "is a member of {group}, which the registry does not give it (recreate revokes it)"
            ),
        );
    }
    let names: Vec<String> = specs.into_iter().map(|r| r.name).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for (role, other) in foreign_roles(client, env, &refs)? {
        push(
            RuleId::C013,
            &role,
            format!("is marked for environment {other}: the two environments share it"),
        );
    }
    let rows = client
        .query(
            "SELECT rolname::text, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolreplication
               FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1",
            &[&names],
        )
        .context("validate: reading role attributes")?;
    for r in rows {
        let role: String = r.get(0);
        let bad: Vec<&str> = [
            "SUPERUSER",
            "BYPASSRLS",
            "CREATEDB",
            "CREATEROLE",
            "REPLICATION",
        ]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| r.get::<_, bool>(i + 1))
        .map(|(_, a)| a)
        .collect();
        if !bad.is_empty() {
            push(RuleId::C013, &role, format!("has {}", bad.join(", ")));
        }
    }
    Ok(())
}

/// C025: only the owner group creates temporary tables (TEMPORARY on the database).
pub(super) fn check_temporary(client: &mut Client, env: &str, push: Push<'_>) -> Result<()> {
    let owner = role_name(env, "owner");
    let rows = client
        .query(
            "SELECT coalesce(r.rolname::text, 'PUBLIC')
               FROM pg_database d
              CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
               LEFT JOIN pg_roles r ON r.oid = a.grantee
              WHERE d.datname = current_database() AND a.privilege_type = 'TEMPORARY'
                AND (r.rolname IS NULL OR r.rolname <> $1)
              ORDER BY 1",
            &[&owner],
        )
        .context("validate: reading the database's privileges")?;
    for r in rows {
        let grantee: String = r.get(0);
        push(
            RuleId::C025,
            &grantee,
            "holds TEMPORARY on the database; only the owner group may create temporary tables"
                .into(),
        );
    }
    Ok(())
}

/// C021, C022: what each service can do on each relation equals what the registry
/// grants it (directly or through the service group), no more, no less.
pub(super) fn check_privileges(
    client: &mut Client,
    env: &str,
    registry: &Registry,
    push: Push<'_>,
) -> Result<()> {
    let relations = public_relations(client).context("validate: listing relations")?;
    let group = role_name(env, "service");
    let mut expected: BTreeSet<(String, String, &str)> = BTreeSet::new();
    for g in service_grants_in(env, &relations, registry) {
        let roles: Vec<String> = if g.role == group {
            registry.services.iter().map(|s| s.role(env)).collect()
        } else {
            vec![g.role.clone()]
        };
        for role in roles {
            for p in g.privileges.split(", ") {
                let p = PRIVILEGES
                    .iter()
                    .find(|q| **q == p)
                    .expect("known privilege");
                expected.insert((role.clone(), g.relation.clone(), p));
            }
        }
    }
    let service_roles: Vec<String> = registry.services.iter().map(|s| s.role(env)).collect();
    let existing: BTreeSet<String> = existing_roles(client, &service_roles)
        .context("validate: listing service roles")?
        .into_iter()
        .collect();
    let service_of = |role: &str| {
        registry
            .services
            .iter()
            .find(|s| s.role(env) == role)
            .map(|s| s.name)
            .unwrap_or("?")
    };
    for s in registry.services {
        if !existing.contains(&s.role(env)) {
            push(
                RuleId::C022,
                &format!("{}:*", s.name),
                format!("service role {} does not exist", s.role(env)),
            );
        }
    }
    let present: Vec<&String> = service_roles
        .iter()
        .filter(|r| existing.contains(*r))
        .collect();
    let rows = client
        .query(
            "SELECT r.rolname::text, c.relname::text, p.priv,
                    CASE WHEN p.priv IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                         THEN has_any_column_privilege(r.oid, c.oid, p.priv)
                         ELSE has_table_privilege(r.oid, c.oid, p.priv) END,
                    has_table_privilege(r.oid, c.oid, p.priv)
               FROM pg_class c
              CROSS JOIN pg_roles r
              CROSS JOIN unnest($2::text[]) AS p(priv)
              WHERE c.relnamespace = 'public'::regnamespace
                AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
                AND r.rolname = ANY($1)
              ORDER BY 1, 2, 3",
            &[&present, &PRIVILEGES.to_vec()],
        )
        .context("validate: reading effective privileges")?;
    for r in rows {
        let (role, relation, privilege): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let (any_column, whole_table): (bool, bool) = (r.get(3), r.get(4));
        let wanted = expected.contains(&(role.clone(), relation.clone(), privilege.as_str()));
        let object = format!("{}:{relation}", service_of(&role));
        if any_column && !wanted {
            push(
                RuleId::C021,
                &object,
                format!(
                    "{role} holds {privilege} on {relation}, which the registry does not grant"
                ),
            );
        } else if wanted && !whole_table {
            push(
                RuleId::C022,
                &object,
                format!("{role} lacks {privilege} on {relation}, which the registry grants"),
            );
        }
    }
    Ok(())
}
