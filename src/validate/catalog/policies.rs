//! C027..C029, C031: row-level security that is on without a policy, policies that
//! are not enforced or open every tenant's rows, and views that read past them
//! (Supabase splinter's `rls_enabled_no_policy`, `policy_exists_rls_disabled`,
//! `rls_policy_always_true` and `security_definer_view`).

use super::*;

/// C027, C028, C029: one query over every policy in `public`.
pub(super) fn check_policies(client: &mut Client, tables: &[Table], push: Push<'_>) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text, p.polname::text, p.polpermissive,
                    coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
                    coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
               FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
              WHERE c.relnamespace = 'public'::regnamespace
              ORDER BY 1, 2",
            &[],
        )
        .context("validate: listing policies")?;
    let mut with_policy: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        let (table, policy, permissive, using, check): (String, String, bool, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        with_policy
            .entry(table.clone())
            .or_default()
            .push(policy.clone());
        let Some(t) = tables.iter().find(|t| t.name == table) else {
            continue;
        };
        // A restrictive policy that is always true narrows nothing, so it opens
        // nothing either; only a permissive one ORs every row in.
        if permissive && t.columns.contains_key("tenant_id") {
            let open: Vec<&str> = [("USING", &using), ("WITH CHECK", &check)]
                .into_iter()
                .filter(|(_, e)| e.trim() == "true")
                .map(|(k, _)| k)
                .collect();
            if !open.is_empty() {
                push(
                    RuleId::C029,
                    &policy,
                    format!(
                        "permissive policy on tenant table {table} is {} (true): every tenant's rows",
                        open.join(" and ")
                    ),
                );
            }
        }
    }
    for t in tables {
        match with_policy.get(&t.name) {
            None if t.rls => push(
                RuleId::C027,
                &t.name,
                "row-level security is enabled but no policy exists: the table is empty to everyone but its owner".into(),
            ),
            Some(policies) if !t.rls => push(
                RuleId::C028,
                &t.name,
                format!(
                    "has policies ({}) but row-level security is not enabled, so none of them applies",
                    policies.join(", ")
                ),
            ),
            _ => {}
        }
    }
    Ok(())
}

/// C031: views and materialized views over a table with row-level security. A view
/// runs as its owner unless `security_invoker` is set, and a materialized view holds
/// what its owner saw, so either hands every reader the owner's rows.
pub(super) fn check_views(client: &mut Client, push: Push<'_>) -> Result<()> {
    let rows = client
        .query(
            &format!(
                "SELECT v.relname::text, v.relkind::text,
                        string_agg(DISTINCT t.relname::text, ', ' ORDER BY t.relname::text)
                   FROM pg_class v
                   JOIN pg_rewrite r ON r.ev_class = v.oid
                   JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                   JOIN pg_class t ON t.oid = d.refobjid AND t.relrowsecurity AND t.oid <> v.oid
                  WHERE v.relnamespace = 'public'::regnamespace AND v.relkind IN ('v', 'm')
                    AND {}
                    AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(v.reloptions, '{{}}')) o
                                     WHERE lower(o) ~ '^security_invoker=(true|on|yes|1)$')
                  GROUP BY 1, 2 ORDER BY 1",
                not_extension("pg_class", "v.oid")
            ),
            &[],
        )
        .context("validate: listing views over row-level security")?;
    for r in rows {
        let (view, kind, tables): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let how = if kind == "m" {
            "materialized view holds its owner's rows"
        } else {
            "view is not security_invoker, so it reads as its owner"
        };
        push(
            RuleId::C031,
            &view,
            format!("{how}, past the row-level security of {tables}"),
        );
    }
    Ok(())
}
