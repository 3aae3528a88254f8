//! C014..C018, C023: the bitemporal machinery of every versioned table.

use super::*;
use std::collections::BTreeSet;

/// C014..C018, C023: the bitemporal machinery of every versioned table.
pub(super) fn check_versioned(client: &mut Client, tables: &[Table], push: Push<'_>) -> Result<()> {
    let versioned: Vec<&Table> = tables
        .iter()
        .filter(|t| t.columns.contains_key("valid_from") || t.columns.contains_key("valid_to"))
        .collect();
    if versioned.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = versioned.iter().map(|t| t.name.as_str()).collect();
    // Per exclusion constraint: its definition, the columns it compares by
    // themselves (`conkey`), the columns its expressions read, its operators, and the
    // table's primary key.
    let exclusions = client
        .query(
            "SELECT c.relname::text, pg_get_constraintdef(k.oid),
                    ARRAY(SELECT a.attname::text FROM pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attnum = ANY(k.conkey)),
                    ARRAY(SELECT a.attname::text FROM pg_depend d
                            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = k.conindid
                             AND d.refobjid = c.oid),
                    ARRAY(SELECT o.oprname::text FROM unnest(k.conexclop) x
                            JOIN pg_operator o ON o.oid = x),
                    ARRAY(SELECT a.attname::text FROM pg_constraint p
                            JOIN pg_attribute a ON a.attrelid = p.conrelid AND a.attnum = ANY(p.conkey)
                           WHERE p.conrelid = c.oid AND p.contype = 'p')
               FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
              WHERE k.contype = 'x' AND c.relname = ANY($1)
                AND c.relnamespace = 'public'::regnamespace",
            &[&names],
        )
        .context("validate: listing exclusion constraints")?;
    let mut temporal: BTreeSet<String> = BTreeSet::new();
    for r in exclusions {
        let (table, def): (String, String) = (r.get(0), r.get(1));
        let def = def
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let set = |i: usize| {
            r.get::<_, Vec<String>>(i)
                .into_iter()
                .collect::<BTreeSet<_>>()
        };
        let (plain, read, operators) = (set(2), set(3), r.get::<_, Vec<String>>(4));
        // The key a version belongs to: the primary key without its valid_from.
        let key: BTreeSet<String> = set(5).into_iter().filter(|c| c != "valid_from").collect();
        let validity = ["valid_from", "valid_to"];
        // Two versions of one key must always conflict: every column compared by
        // itself is a key column and every key column is compared, every expression
        // reads only key columns or the validity (so equal keys give equal values),
        // and all but the validity's `&&` are `=`.
        let over_the_key = plain == key
            && read
                .iter()
                .all(|c| key.contains(c) || validity.contains(&c.as_str()))
            && operators.iter().filter(|o| *o == "&&").count() == 1
            && operators.iter().all(|o| o == "=" || o == "&&");
        if def.starts_with("exclude using gist (tenant_id with =")
            && def.contains("tstzrange(valid_from, valid_to")
            && def.contains("with &&")
            && over_the_key
        {
            temporal.insert(table);
        }
    }
    let triggers = client
        .query(
            "SELECT c.relname::text, t.tgname::text, t.tgtype::int4, t.tgenabled::text,
                    t.tgnewtable::text
               FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE NOT t.tgisinternal AND c.relname = ANY($1)
                AND c.relnamespace = 'public'::regnamespace",
            &[&names],
        )
        .context("validate: listing triggers")?;
    let mut by_name: BTreeMap<String, (i32, String, Option<String>)> = BTreeMap::new();
    for r in triggers {
        let (table, trigger): (String, String) = (r.get(0), r.get(1));
        by_name.insert(format!("{table}/{trigger}"), (r.get(2), r.get(3), r.get(4)));
    }
    // pg_trigger.tgtype bits.
    const ROW: i32 = 1;
    const BEFORE: i32 = 2;
    const INSERT: i32 = 4;
    const DELETE: i32 = 8;
    const UPDATE: i32 = 16;
    const INSTEAD: i32 = 64;
    for t in versioned {
        let name = t.name.as_str();
        let problems: Vec<String> = VERSIONED_COLUMNS
            .iter()
            .filter_map(|(col, ty)| match t.columns.get(*col) {
                None => Some(format!("{col} missing")),
                Some(actual) if actual != ty => Some(format!("{col} is {actual}, not {ty}")),
                Some(_) => None,
            })
            .collect();
        if !problems.is_empty() {
            push(
                RuleId::C014,
                name,
                format!("versioned column set incomplete: {}", problems.join(", ")),
            );
        }
        if !temporal.contains(name) {
            push(
                RuleId::C015,
                name,
                "no gist exclusion constraint over the key (led by tenant_id WITH =, every other element a key column or a function of the key, compared WITH =) forbidding overlapping tstzrange(valid_from, valid_to)".into(),
            );
        }
        let stem = name.strip_suffix("_tbl").unwrap_or(name);
        let expectations: [TriggerExpectation; 4] = [
            (RuleId::C016, "insert", "BEFORE INSERT FOR EACH ROW", |ty| {
                ty & (ROW | BEFORE | INSERT) == ROW | BEFORE | INSERT && ty & INSTEAD == 0
            }),
            (RuleId::C017, "delete", "BEFORE DELETE FOR EACH ROW", |ty| {
                ty & (ROW | BEFORE | DELETE) == ROW | BEFORE | DELETE && ty & INSTEAD == 0
            }),
            (
                RuleId::C018,
                "notify",
                "AFTER INSERT OR UPDATE OR DELETE",
                |ty| {
                    ty & (BEFORE | INSTEAD) == 0
                        && ty & (INSERT | UPDATE | DELETE) == INSERT | UPDATE | DELETE
                },
            ),
            (
                RuleId::C023,
                "lookup",
                "AFTER INSERT FOR EACH STATEMENT",
                |ty| ty & (ROW | BEFORE | INSTEAD) == 0 && ty & INSERT == INSERT,
            ),
        ];
        for (rule, kind, timing, ok) in expectations {
            let trigger = format!("{stem}_{kind}_trg");
            match by_name.get(&format!("{name}/{trigger}")) {
                None => push(rule, name, format!("has no trigger {trigger} ({timing})")),
                Some((ty, _, _)) if !ok(*ty) => {
                    push(rule, name, format!("trigger {trigger} is not {timing}"))
                }
                Some((_, enabled, _)) if enabled == "D" => {
                    push(rule, name, format!("trigger {trigger} is disabled"))
                }
                // ores_utility_versioned_lookup_fn reads the rows under this name.
                Some((_, _, new_table))
                    if rule == RuleId::C023 && new_table.as_deref() != Some(LOOKUP_NEW_TABLE) =>
                {
                    push(
                        rule,
                        name,
                        format!(
                            "trigger {trigger} does not say REFERENCING NEW TABLE AS {LOOKUP_NEW_TABLE}"
                        ),
                    )
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}
