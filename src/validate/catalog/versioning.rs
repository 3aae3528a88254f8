//! C014..C018, C023: the bitemporal machinery of every versioned table.

use super::*;
use std::collections::BTreeSet;

// pg_trigger.tgtype bits.
const ROW: i32 = 1;
const BEFORE: i32 = 2;
const INSERT: i32 = 4;
const DELETE: i32 = 8;
const UPDATE: i32 = 16;
const INSTEAD: i32 = 64;

/// A trigger as `pg_trigger` has it: `tgtype`, `tgenabled` and `tgnewtable`.
type Trigger = (i32, String, Option<String>);

/// Triggers by `table/trigger`.
type Triggers = BTreeMap<String, Trigger>;

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
    let temporal = tables_with_temporal_exclusion(client, &names)?;
    let triggers = load_triggers(client, &names)?;
    // Table by table, every rule in turn: the order the violations were always found in.
    for t in versioned {
        check_versioned_columns(t, push);
        check_temporal_exclusion(t, &temporal, push);
        check_insert_trigger(t, &triggers, push);
        check_delete_trigger(t, &triggers, push);
        check_notify_trigger(t, &triggers, push);
        check_lookup_trigger(t, &triggers, push);
    }
    Ok(())
}

/// The tables among `names` with an exclusion constraint that makes two versions of
/// one key always conflict (what C015 asks for).
fn tables_with_temporal_exclusion(client: &mut Client, names: &[&str]) -> Result<BTreeSet<String>> {
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
    Ok(temporal)
}

/// The user triggers on the tables among `names`.
fn load_triggers(client: &mut Client, names: &[&str]) -> Result<Triggers> {
    let rows = client
        .query(
            "SELECT c.relname::text, t.tgname::text, t.tgtype::int4, t.tgenabled::text,
                    t.tgnewtable::text
               FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE NOT t.tgisinternal AND c.relname = ANY($1)
                AND c.relnamespace = 'public'::regnamespace",
            &[&names],
        )
        .context("validate: listing triggers")?;
    let mut by_name = Triggers::new();
    for r in rows {
        let (table, trigger): (String, String) = (r.get(0), r.get(1));
        by_name.insert(format!("{table}/{trigger}"), (r.get(2), r.get(3), r.get(4)));
    }
    Ok(by_name)
}

/// C014: the versioning triggers and every reader of history rely on each of these
/// columns, with exactly these types.
fn check_versioned_columns(t: &Table, push: Push<'_>) {
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
            &t.name,
            format!("versioned column set incomplete: {}", problems.join(", ")),
        );
    }
}

/// C015: without such a constraint two current versions of one key can coexist
/// whenever the triggers are bypassed or race.
fn check_temporal_exclusion(t: &Table, temporal: &BTreeSet<String>, push: Push<'_>) {
    if !temporal.contains(&t.name) {
        push(
            RuleId::C015,
            &t.name,
            "no gist exclusion constraint over the key (led by tenant_id WITH =, every other element a key column or a function of the key, compared WITH =) forbidding overlapping tstzrange(valid_from, valid_to)".into(),
        );
    }
}

/// C016: the insert trigger closes the current version, bumps `version` and refuses a
/// stale expected version, so it must run on each row before it lands.
fn check_insert_trigger(t: &Table, triggers: &Triggers, push: Push<'_>) {
    check_trigger(
        t,
        triggers,
        (RuleId::C016, "insert", "BEFORE INSERT FOR EACH ROW"),
        |ty| ty & (ROW | BEFORE | INSERT) == ROW | BEFORE | INSERT && ty & INSTEAD == 0,
        push,
    );
}

/// C017: a delete is a soft delete (the trigger closes the current row and returns
/// NULL), so it must run on each row before the row goes.
fn check_delete_trigger(t: &Table, triggers: &Triggers, push: Push<'_>) {
    check_trigger(
        t,
        triggers,
        (RuleId::C017, "delete", "BEFORE DELETE FOR EACH ROW"),
        |ty| ty & (ROW | BEFORE | DELETE) == ROW | BEFORE | DELETE && ty & INSTEAD == 0,
        push,
    );
}

/// C018: services learn of every change through pg_notify, sent once it has happened.
fn check_notify_trigger(t: &Table, triggers: &Triggers, push: Push<'_>) {
    check_trigger(
        t,
        triggers,
        (RuleId::C018, "notify", "AFTER INSERT OR UPDATE OR DELETE"),
        |ty| {
            ty & (BEFORE | INSTEAD) == 0
                && ty & (INSERT | UPDATE | DELETE) == INSERT | UPDATE | DELETE
        },
        push,
    );
}

/// C023: the lookups, tenant and change reason of inserted rows are checked once per
/// statement, reading the rows under the transition table's agreed name.
fn check_lookup_trigger(t: &Table, triggers: &Triggers, push: Push<'_>) {
    let Some((_, _, new_table)) = check_trigger(
        t,
        triggers,
        (RuleId::C023, "lookup", "AFTER INSERT FOR EACH STATEMENT"),
        |ty| ty & (ROW | BEFORE | INSTEAD) == 0 && ty & INSERT == INSERT,
        push,
    ) else {
        return;
    };
    // ores_utility_versioned_lookup_fn reads the rows under this name.
    if new_table.as_deref() != Some(LOOKUP_NEW_TABLE) {
        push(
            RuleId::C023,
            &t.name,
            format!(
                "trigger {}_lookup_trg does not say REFERENCING NEW TABLE AS {LOOKUP_NEW_TABLE}",
                stem(t)
            ),
        );
    }
}

/// Pushes `rule` unless `<table stem>_<kind>_trg` exists, fires as `ok` says (`timing`
/// in words) and is enabled; returns the trigger when it does all three.
fn check_trigger<'a>(
    t: &Table,
    triggers: &'a Triggers,
    (rule, kind, timing): (RuleId, &str, &str),
    ok: fn(i32) -> bool,
    push: Push<'_>,
) -> Option<&'a Trigger> {
    let name = t.name.as_str();
    let trigger = format!("{}_{kind}_trg", stem(t));
    match triggers.get(&format!("{name}/{trigger}")) {
        None => push(rule, name, format!("has no trigger {trigger} ({timing})")),
        Some((ty, _, _)) if !ok(*ty) => {
            push(rule, name, format!("trigger {trigger} is not {timing}"))
        }
        Some((_, enabled, _)) if enabled == "D" => {
            push(rule, name, format!("trigger {trigger} is disabled"))
        }
        Some(found) => return Some(found),
    }
    None
}

/// The table's name without `_tbl`, which its triggers' names start with.
fn stem(t: &Table) -> &str {
    t.name.strip_suffix("_tbl").unwrap_or(&t.name)
}
