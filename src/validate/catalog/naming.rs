//! C001..C007, C020: names, primary keys and ownership by the registry.

use super::*;
use crate::tree::registry::Registry;
use crate::tree::settings::{NamingPatterns, name_matches};
use std::collections::BTreeSet;

/// C001, C007, C020: names, primary keys, ownership by the registry.
pub(super) fn check_tables(
    tables: &[Table],
    registry: &Registry,
    naming: &NamingPatterns,
    push: Push<'_>,
) {
    let components = registry.known_components();
    for t in tables {
        let name = t.name.as_str();
        // The build record is ores-sql's table in every tree, named by ores-sql.
        if name != crate::tree::manifest::APPLIED_SCRIPTS_TABLE
            && !name_matches(&naming.table, name, &components)
        {
            push(
                RuleId::C001,
                name,
                format!(
                    "not named {} with a registry component ({})",
                    naming.table,
                    components.join(", ")
                ),
            );
        }
        match registry.component_of_table(name) {
            None => {}
            Some(c) => {
                let owners = registry
                    .services
                    .iter()
                    .filter(|s| s.owns.contains(&c))
                    .count();
                if !registry.provisioner_components.contains(&c) && owners != 1 {
                    push(
                        RuleId::C020,
                        name,
                        format!(
                            "component {c} is owned by {owners} services in the registry; exactly one must own it"
                        ),
                    );
                }
            }
        }
        if t.pk.is_none() {
            push(RuleId::C007, name, "has no primary key".into());
        }
    }
}

/// C002..C006: suffixes of functions, views, triggers, indexes and policies.
pub(super) fn check_names(
    client: &mut Client,
    registry: &Registry,
    naming: &NamingPatterns,
    push: Push<'_>,
) -> Result<()> {
    let queries: [(RuleId, &str, String); 5] = [
        (
            RuleId::C002,
            &naming.function,
            format!(
                "SELECT p.proname::text FROM pg_proc p
                  WHERE p.pronamespace = 'public'::regnamespace AND {}",
                not_extension("pg_proc", "p.oid")
            ),
        ),
        (
            RuleId::C003,
            &naming.view,
            format!(
                "SELECT c.relname::text FROM pg_class c
                  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm') AND {}",
                not_extension("pg_class", "c.oid")
            ),
        ),
        (
            RuleId::C004,
            &naming.trigger,
            "SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal"
                .to_string(),
        ),
        (
            RuleId::C005,
            &naming.index,
            // An index behind a constraint is named by the constraint (`..._pkey`,
            // `..._excl`); naming the constraint `_idx` would mislead more than help.
            format!(
                "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE c.relnamespace = 'public'::regnamespace AND {}
                    AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                                     WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))",
                not_extension("pg_class", "i.indrelid")
            ),
        ),
        (
            RuleId::C006,
            &naming.policy,
            "SELECT p.polname::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
              WHERE c.relnamespace = 'public'::regnamespace"
                .to_string(),
        ),
    ];
    let components = registry.known_components();
    for (rule, pattern, sql) in queries {
        let names: BTreeSet<String> = client
            .query(&sql, &[])
            .context(format!("validate: listing names for {rule}"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for name in names
            .iter()
            .filter(|n| !name_matches(pattern, n, &components))
        {
            push(rule, name, format!("name does not match {pattern}"));
        }
    }
    Ok(())
}
