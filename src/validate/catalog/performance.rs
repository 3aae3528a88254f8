//! C030, C032: foreign keys without an index and duplicate indexes (Supabase
//! splinter's `unindexed_foreign_keys` and `duplicate_index`).

use super::*;

/// C030: a foreign key whose columns lead no index. Deleting or re-keying a parent
/// row then scans the whole child table, under a lock.
pub(super) fn check_foreign_keys(client: &mut Client, push: Push<'_>) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text, k.conname::text, f.relname::text,
                    (SELECT string_agg(a.attname::text, ', ' ORDER BY u.ord)
                       FROM unnest(k.conkey) WITH ORDINALITY AS u(att, ord)
                       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.att)
               FROM pg_constraint k
               JOIN pg_class c ON c.oid = k.conrelid
               JOIN pg_class f ON f.oid = k.confrelid
              WHERE k.contype = 'f' AND c.relnamespace = 'public'::regnamespace
                AND NOT EXISTS (
                    SELECT 1 FROM pg_index i
                     WHERE i.indrelid = k.conrelid
                       AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
                       AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] <@ k.conkey)
              ORDER BY 1, 2",
            &[],
        )
        .context("validate: listing foreign keys without an index")?;
    for r in rows {
        let (table, fk, parent, columns): (String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        push(
            RuleId::C030,
            &fk,
            format!("foreign key of {table} ({columns}) to {parent} leads no index"),
        );
    }
    Ok(())
}

/// C032: indexes of one table with the same columns, operator classes, expressions
/// and predicate: each write maintains both, no read uses the second.
pub(super) fn check_duplicate_indexes(client: &mut Client, push: Push<'_>) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text, array_agg(x.relname::text ORDER BY x.relname::text)
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_class x ON x.oid = i.indexrelid
              WHERE c.relnamespace = 'public'::regnamespace
              GROUP BY c.relname, i.indrelid, x.relam, i.indkey::text, i.indclass::text,
                       i.indcollation::text,
                       coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                       coalesce(pg_get_expr(i.indpred, i.indrelid), '')
             HAVING count(*) > 1
              ORDER BY 1, 2",
            &[],
        )
        .context("validate: listing duplicate indexes")?;
    for r in rows {
        let (table, indexes): (String, Vec<String>) = (r.get(0), r.get(1));
        for dup in &indexes[1..] {
            push(
                RuleId::C032,
                dup,
                format!("duplicates index {} of {table}", indexes[0]),
            );
        }
    }
    Ok(())
}
