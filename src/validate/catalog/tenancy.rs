//! C008..C012: tenant isolation by row-level security.

use super::*;

/// C008..C012: tenant_id leads keys; RLS enabled, forced, with a tenant policy.
pub(super) fn check_tenancy(client: &mut Client, tables: &[Table], push: Push<'_>) -> Result<()> {
    let tenant_tables: Vec<&Table> = tables
        .iter()
        .filter(|t| t.columns.contains_key("tenant_id"))
        .collect();
    let names: Vec<&str> = tenant_tables.iter().map(|t| t.name.as_str()).collect();
    for t in &tenant_tables {
        let name = t.name.as_str();
        if let Some(pk) = &t.pk
            && pk.first().map(String::as_str) != Some("tenant_id")
        {
            push(
                RuleId::C008,
                name,
                format!(
                    "primary key ({}) does not start with tenant_id",
                    pk.join(", ")
                ),
            );
        }
        if !t.rls {
            push(
                RuleId::C010,
                name,
                "row-level security is not enabled".into(),
            );
        }
        if !t.forced {
            push(
                RuleId::C011,
                name,
                "row-level security is not forced (the owner bypasses it)".into(),
            );
        }
    }
    let unique = client
        .query(
            "SELECT c.relname::text, x.relname::text, a.attname::text
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_class x ON x.oid = i.indexrelid
               LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
              WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1)
                AND i.indisunique AND NOT i.indisprimary
              ORDER BY 1, 2",
            &[&names],
        )
        .context("validate: listing unique indexes")?;
    for r in unique {
        let (table, index, first): (String, String, Option<String>) =
            (r.get(0), r.get(1), r.get(2));
        if first.as_deref() != Some("tenant_id") {
            push(
                RuleId::C009,
                &index,
                format!("unique index on {table} does not start with tenant_id"),
            );
        }
    }
    let policies = client
        .query(
            "SELECT c.relname::text,
                    coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' ' ||
                    coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
               FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
              WHERE c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace",
            &[&names],
        )
        .context("validate: listing policies")?;
    let mut tenant_aware: BTreeMap<String, bool> = BTreeMap::new();
    for r in policies {
        let (table, expr): (String, String) = (r.get(0), r.get(1));
        let reads_tenant =
            expr.contains("ores_utility_current_tenant_id_fn") || expr.contains("ores.tenant_id");
        *tenant_aware.entry(table).or_default() |= reads_tenant;
    }
    for t in &tenant_tables {
        match tenant_aware.get(&t.name) {
            None => push(
                RuleId::C012,
                &t.name,
                "has no row-level security policy".into(),
            ),
            Some(false) => push(
                RuleId::C012,
                &t.name,
                "no policy reads the current tenant (ores_utility_current_tenant_id_fn())".into(),
            ),
            Some(true) => {}
        }
    }
    Ok(())
}
