//! Comparing two [`Snapshot`]s object by object.

use super::catalog::{Object, Snapshot};
use serde::Serialize;

/// How an object of the live database differs from what the tree builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Change {
    /// In the live database only: made by hand (a recreate drops it).
    Added,
    /// Built by the tree, missing from the live database (a recreate brings it back).
    Removed,
    /// In both, with different properties (`detail` says which).
    Changed,
}

impl Change {
    /// `added`, `removed` or `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ObjectChange {
    /// `table`, `column`, `constraint`, `index`, `function`, `trigger`, `view`,
    /// `sequence`, `policy`, `row security`, `owner`, `grant`, `extension`, `schema`,
    /// `comment`.
    pub kind: String,
    /// The object: `table.column`, `table.index`, `name(argument types)`, or for a
    /// grant `<what> <name> to <role>` (schema-qualified outside `public`).
    pub name: String,
    /// The table it belongs to, if any (what the text output groups by).
    pub table: Option<String>,
    /// Added, removed or changed.
    pub change: Change,
    /// What differs, as `field: built → live`; a long value (a function's body, a
    /// view's definition) is named, not printed.
    pub detail: String,
}

/// A value short enough to print in a one-line detail.
fn short(value: &Option<String>) -> Option<String> {
    match value {
        None => Some("none".into()),
        Some(v) if v.len() <= 80 && !v.contains('\n') => Some(v.clone()),
        Some(_) => None,
    }
}

/// What an added or removed object is, in a line: its short non-empty fields.
fn describe(object: &Object) -> String {
    object
        .fields
        .iter()
        .filter_map(|(f, v)| {
            let v = v.as_deref().filter(|v| !v.is_empty() && *v != "false")?;
            (v.len() <= 120 && !v.contains('\n')).then(|| format!("{f}: {v}"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The fields that differ between `built` and `live`.
fn differences(built: &Object, live: &Object) -> String {
    let mut out = Vec::new();
    for ((field, b), (_, l)) in built.fields.iter().zip(&live.fields) {
        if b != l {
            out.push(match (short(b), short(l)) {
                (Some(b), Some(l)) => format!("{field}: {b} → {l}"),
                _ => format!("{field} differs"),
            });
        }
    }
    if built.table != live.table {
        out.push("table differs".into());
    }
    out.join("; ")
}

/// Every object of `live` that is not in `built` as it is there, in order of table,
/// kind and name.
pub(crate) fn compare(built: &Snapshot, live: &Snapshot) -> Vec<ObjectChange> {
    let mut changes = Vec::new();
    let change = |(kind, name): &(&str, String), object: &Object, change, detail| ObjectChange {
        kind: kind.to_string(),
        name: name.clone(),
        table: object.table.clone(),
        change,
        detail,
    };
    for (key, l) in live {
        match built.get(key) {
            None => changes.push(change(key, l, Change::Added, describe(l))),
            Some(b) if b != l => changes.push(change(key, l, Change::Changed, differences(b, l))),
            Some(_) => {}
        }
    }
    for (key, b) in built {
        if !live.contains_key(key) {
            changes.push(change(key, b, Change::Removed, describe(b)));
        }
    }
    changes.sort_by(|a, b| {
        (&a.table, &a.kind, &a.name, a.change).cmp(&(&b.table, &b.kind, &b.name, b.change))
    });
    changes
}
