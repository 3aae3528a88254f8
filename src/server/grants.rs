//! Privileges, derived from the service registry and the tables the scripts created.
//!
//! Nothing here is hand-listed per table: each table's component (from its name)
//! decides which service may write it and which may read it.

use crate::config::ident::quote_ident;
use crate::error::{PgContext, Result};
use crate::tree::manifest::APPLIED_SCRIPTS_TABLE;
use crate::tree::registry::Registry;
use crate::tree::roles::role_name;
use std::collections::BTreeMap;

/// What one role may do on one relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Table or view name.
    pub relation: String,
    /// Grantee role.
    pub role: String,
    /// Privileges, e.g. `SELECT, INSERT, UPDATE, DELETE`.
    pub privileges: &'static str,
}

const DML: &str = "SELECT, INSERT, UPDATE, DELETE";
const READ: &str = "SELECT";

/// Per-service grants for the given relations of environment `env`. Relations whose
/// component is unknown get no service grant (validation reports them).
pub fn service_grants(env: &str, relations: &[String]) -> Vec<Grant> {
    service_grants_in(env, relations, Registry::compiled())
}

/// [`service_grants`] under `registry`. A service that `writes` another's component
/// gets DML on it as its owner does.
pub fn service_grants_in(env: &str, relations: &[String], registry: &Registry) -> Vec<Grant> {
    let mut out = Vec::new();
    for rel in relations {
        let Some(component) = registry.component_of_table(rel) else {
            continue;
        };
        if registry.provisioner_components.contains(&component) {
            // The build record: every service may read it for its drift check.
            out.push(Grant {
                relation: rel.clone(),
                role: role_name(env, "service"),
                privileges: READ,
            });
            continue;
        }
        for s in registry.services {
            let privileges = if s.writes_component(component) {
                DML
            } else if registry.reads_table(s, rel) {
                READ
            } else {
                continue;
            };
            out.push(Grant {
                relation: rel.clone(),
                role: s.role(env),
                privileges,
            });
        }
    }
    out
}

/// The relations of `public` that grants are given on, by name: tables, views and
/// materialized views. Partitions are left out: a query through the parent is
/// checked against the parent's privileges only.
///
/// The driver's error is returned as it is, for each caller to say what it was doing.
pub(crate) fn public_relations(
    client: &mut impl postgres::GenericClient,
) -> std::result::Result<Vec<String>, postgres::Error> {
    Ok(client
        .query(
            "SELECT relname::text FROM pg_class
              WHERE relnamespace = 'public'::regnamespace
                AND relkind IN ('r', 'p', 'v', 'm') AND NOT relispartition
              ORDER BY relname",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Applies every grant of `registry` inside the build transaction (running as the
/// owner role).
pub(crate) fn apply_grants_in(
    tx: &mut postgres::Transaction<'_>,
    env: &str,
    registry: &Registry,
) -> Result<()> {
    let relations = public_relations(tx).context("listing relations for grants")?;

    let group = |g: &str| quote_ident(&role_name(env, g));
    let (owner, rw, ro, service) = (group("owner"), group("rw"), group("ro"), group("service"));
    let mut sql = format!(
        "REVOKE ALL ON SCHEMA public FROM PUBLIC;
         GRANT USAGE ON SCHEMA public TO {rw}, {ro}, {service};
         GRANT ALL ON SCHEMA public TO {owner};\n"
    );
    // One GRANT per relation and privilege set, naming every grantee at once: each
    // GRANT rewrites the relation's catalog row, and at the real schema's size one
    // statement per grantee was some 3,000 of them.
    let mut grantees: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for rel in &relations {
        let tool_only = rel == APPLIED_SCRIPTS_TABLE
            || registry
                .component_of_table(rel)
                .is_some_and(|c| registry.provisioner_components.contains(&c));
        grantees.entry((rel, READ)).or_default().push(ro.clone());
        grantees
            .entry((rel, if tool_only { READ } else { DML }))
            .or_default()
            .push(rw.clone());
    }
    let services = service_grants_in(env, &relations, registry);
    for g in &services {
        grantees
            .entry((g.relation.as_str(), g.privileges))
            .or_default()
            .push(quote_ident(&g.role));
    }
    for ((rel, privileges), roles) in &grantees {
        sql.push_str(&format!(
            "GRANT {privileges} ON {} TO {};\n",
            quote_ident(rel),
            roles.join(", ")
        ));
    }
    // Identity and serial sequences follow the table that owns them.
    let sequences = tx
        .query(
            "SELECT s.relname::text, t.relname::text
               FROM pg_class s
               JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
                               AND d.refclassid = 'pg_class'::regclass
               JOIN pg_class t ON t.oid = d.refobjid
              WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace",
            &[],
        )
        .context("listing sequences for grants")?;
    for row in sequences {
        let (seq, table): (String, String) = (row.get(0), row.get(1));
        sql.push_str(&format!(
            "GRANT USAGE, SELECT ON SEQUENCE {} TO {rw};\n",
            quote_ident(&seq)
        ));
        if let Some(c) = registry.component_of_table(&table) {
            for s in registry.services.iter().filter(|s| s.writes_component(c)) {
                sql.push_str(&format!(
                    "GRANT USAGE, SELECT ON SEQUENCE {} TO {};\n",
                    quote_ident(&seq),
                    quote_ident(&s.role(env))
                ));
            }
        }
    }
    // SECURITY DEFINER functions (the resets) run with the owner's rights, so the
    // scripts revoke them from PUBLIC; the service owning their component may call them.
    let definers = tx
        .query(
            "SELECT proname::text, oid::regprocedure::text FROM pg_proc
              WHERE pronamespace = 'public'::regnamespace AND prosecdef
              ORDER BY 2",
            &[],
        )
        .context("listing SECURITY DEFINER functions for grants")?;
    for row in definers {
        let (name, signature): (String, String) = (row.get(0), row.get(1));
        if let Some(c) = registry.component_of_table(&name)
            && let Some(s) = registry.owner_of(c)
        {
            // regprocedure output is already quoted where needed.
            sql.push_str(&format!(
                "GRANT EXECUTE ON FUNCTION {signature} TO {};\n",
                quote_ident(&s.role(env))
            ));
        }
    }
    tx.batch_execute(&sql).context("applying grants")
}

/// Database-level privileges: only the environment's roles may connect, and only the
/// owner may create temporary tables. A temporary table (or a trigger on one) is the
/// one object a non-owner could otherwise create, and the lever of every attack on
/// the triggers that the pinned `search_path` closes a second time.
pub(crate) fn database_grants_sql(env: &str, database: &str) -> String {
    let group = |g: &str| quote_ident(&role_name(env, g));
    format!(
        "REVOKE ALL ON DATABASE {db} FROM PUBLIC;
         GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {owner};
         GRANT CONNECT ON DATABASE {db} TO {}, {}, {};",
        group("rw"),
        group("ro"),
        group("service"),
        owner = group("owner"),
        db = quote_ident(database)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_get_dml_on_own_and_select_on_reads_only() {
        let rels = vec![
            "ores_iam_tenants_tbl".to_string(),
            "ores_trading_trades_tbl".to_string(),
        ];
        let grants = service_grants("t", &rels);
        let find = |rel: &str, role: &str| {
            grants
                .iter()
                .find(|g| g.relation == rel && g.role == role)
                .map(|g| g.privileges)
        };
        assert_eq!(
            find("ores_iam_tenants_tbl", "ores_t_iam_service"),
            Some(DML)
        );
        assert_eq!(
            find("ores_iam_tenants_tbl", "ores_t_trading_service"),
            Some(READ)
        );
        assert_eq!(
            find("ores_trading_trades_tbl", "ores_t_trading_service"),
            Some(DML)
        );
        assert_eq!(find("ores_trading_trades_tbl", "ores_t_iam_service"), None);
    }
}
