//! C019, C024: functions pin their search_path.

use super::*;

/// C024: PL/pgSQL functions pin search_path with pg_temp listed last. Unlisted,
/// pg_temp is searched first, so a session's temporary table would shadow any table
/// the function names.
pub(super) fn check_plpgsql_search_path(client: &mut Client, push: Push<'_>) -> Result<()> {
    let rows = client
        .query(
            &format!(
                "SELECT p.proname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                  WHERE p.pronamespace = 'public'::regnamespace AND l.lanname = 'plpgsql' AND {}
                    AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{{}}')) s
                                     WHERE s ~ '^search_path=(.*,)? *\"?pg_temp\"? *$')
                  ORDER BY 1",
                not_extension("pg_proc", "p.oid")
            ),
            &[],
        )
        .context("validate: listing PL/pgSQL functions")?;
    for r in rows {
        let name: String = r.get(0);
        push(
            RuleId::C024,
            &name,
            "does not pin search_path ending in pg_temp; a temporary table could stand in for a table it reads".into(),
        );
    }
    Ok(())
}

/// C019: SECURITY DEFINER functions pin search_path.
pub(super) fn check_security_definer(client: &mut Client, push: Push<'_>) -> Result<()> {
    let rows = client
        .query(
            &format!(
                "SELECT p.proname::text FROM pg_proc p
                  WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef AND {}
                    AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{{}}')) s
                                     WHERE s LIKE 'search\\_path=%')
                  ORDER BY 1",
                not_extension("pg_proc", "p.oid")
            ),
            &[],
        )
        .context("validate: listing SECURITY DEFINER functions")?;
    for r in rows {
        let name: String = r.get(0);
        push(
            RuleId::C019,
            &name,
            "SECURITY DEFINER without SET search_path; a caller could shadow what it calls".into(),
        );
    }
    Ok(())
}
