//! The benchmark's edit mix on a tree [`super::entry_tree`] wrote: the kinds of
//! change the team makes most (a seed row, a function body, a late index or column),
//! each a function of `variant` so that the bench, calling it with 1, 2, 3, ...
//! before each timed run, times an edit relative to the previous build. Variant 0
//! puts the original text back; every other variant gives a text no other variant
//! gives. Each returns the file it changed, relative to the tree.

use super::entry_sql::{MARK_COLUMN, MARK_FUNCTION, MARK_INDEX, MARK_ROW};
use crate::error::{Error, Result};
use std::path::Path;

/// The file, beside the tree's SQL and reached by no entry script, naming the files
/// the edit mix changes (`kind<TAB>path` a line).
pub const EDITS_FILE: &str = "workload-edits.txt";

/// Where the edits go, collected while the tree is written.
#[derive(Debug, Default)]
pub(super) struct Edits {
    /// The largest populate file and its size.
    populate: Option<(String, usize)>,
    /// The functions file of the last table whose upsert no build script calls.
    pub function: Option<String>,
    /// The last entity table's create file.
    index: Option<String>,
    /// The last unseeded table's create file: a column there is read by no script.
    column: Option<String>,
}

impl Edits {
    pub(super) fn populate_file(&mut self, rel: &str, size: usize) {
        if self.populate.as_ref().is_none_or(|(_, s)| size > *s) {
            self.populate = Some((rel.to_string(), size));
        }
    }

    pub(super) fn late_table(&mut self, rel: &str, t: &super::GeneratedTable) {
        self.index = Some(rel.to_string());
        if t.rows == 0 {
            self.column = Some(rel.to_string());
        }
    }

    pub(super) fn to_text(&self) -> String {
        let mut out = String::from("# The files the benchmark's edit mix changes.\n");
        let entries = [
            ("populate", self.populate.as_ref().map(|p| &p.0)),
            ("function", self.function.as_ref()),
            ("index", self.index.as_ref()),
            ("column", self.column.as_ref()),
        ];
        for (kind, rel) in entries {
            if let Some(rel) = rel {
                out.push_str(&format!("{kind}\t{rel}\n"));
            }
        }
        out
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: format!("editing {}", path.display()),
        source,
    }
}

/// The file of `kind` in the tree at `root`.
fn target(root: &Path, kind: &str) -> Result<String> {
    let path = root.join(EDITS_FILE);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(k, _)| *k == kind)
        .map(|(_, rel)| rel.to_string())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{}: the generated tree has no {kind} edit target",
                path.display()
            ))
        })
}

/// Replaces the line of `kind`'s file holding `mark` with what `change` makes of it.
fn edit_line(
    root: &Path,
    kind: &str,
    mark: &str,
    change: impl FnOnce(&str) -> Result<String>,
) -> Result<String> {
    let rel = target(root, kind)?;
    let path = root.join(&rel);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let at = text.find(mark).ok_or_else(|| {
        Error::InvalidArgument(format!("{}: no line marked {mark:?}", path.display()))
    })?;
    let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
    let line = change(&text[start..end])?;
    let edited = format!("{}{line}{}", &text[..start], &text[end..]);
    std::fs::write(&path, edited).map_err(io(&path))?;
    Ok(rel)
}

fn malformed(what: &str, line: &str) -> Error {
    Error::InvalidArgument(format!(
        "the {what} edit's line is not as generated: {line}"
    ))
}

/// A row changed in the largest populate file's multi-row `INSERT`: its amount is
/// `variant` + 0.5 (its generated amount for variant 0).
pub fn edit_populate(root: &Path, variant: u32) -> Result<String> {
    edit_line(root, "populate", MARK_ROW, |line| {
        // `    (g, 'cg', amount, <mark>`: the payload follows on the next line.
        let fields: Vec<&str> = line.trim_end_matches(MARK_ROW).split(", ").collect();
        let g: usize = fields
            .first()
            .and_then(|g| g.trim_start().trim_start_matches('(').parse().ok())
            .filter(|_| fields.len() == 4)
            .ok_or_else(|| malformed("populate", line))?;
        let amount = match variant {
            0 => format!("{}.{:02}", g / 4, (g % 4) * 25),
            v => format!("{v}.5"),
        };
        Ok(format!(
            "{}, {}, {amount}, {MARK_ROW}",
            fields[0], fields[1]
        ))
    })
}

/// A function body replaced: the message of a service-facing upsert no build script
/// calls (the kind of function most of the team's function commits change).
pub fn edit_function(root: &Path, variant: u32) -> Result<String> {
    edit_line(root, "function", MARK_FUNCTION, |line| {
        let entity = line
            .split_once("'a ")
            .and_then(|(_, rest)| rest.split_once(" needs a code"))
            .map(|(e, _)| e)
            .ok_or_else(|| malformed("function", line))?;
        let revision = match variant {
            0 => String::new(),
            v => format!(" (revision {v})"),
        };
        Ok(format!(
            "        RAISE EXCEPTION 'a {entity} needs a code{revision}' USING ERRCODE = '22023'; {MARK_FUNCTION}"
        ))
    })
}

/// The name of the table the create file `rel` of the tree at `root` makes.
fn created_table(root: &Path, rel: &str) -> Result<String> {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    text.lines()
        .find_map(|l| l.strip_prefix("CREATE TABLE "))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
        .ok_or_else(|| Error::InvalidArgument(format!("{}: no CREATE TABLE", path.display())))
}

/// A new index in the last entity table's create file (the latest `create/` file
/// of an entity), on a column chosen by the variant; variant 0 has none.
pub fn edit_create(root: &Path, variant: u32) -> Result<String> {
    let table = created_table(root, &target(root, "index")?)?;
    edit_line(root, "index", MARK_INDEX, |_| {
        Ok(match variant {
            0 => MARK_INDEX.to_string(),
            v => format!(
                "CREATE INDEX {table}_edit{v}_idx ON {table} (tenant_id, {}); {MARK_INDEX}",
                ["name", "valid_to"][v as usize % 2]
            ),
        })
    })
}

/// A nullable column added to a late table no build script writes (an unseeded
/// `mq` table); variant 0 has none.
pub fn edit_create_column(root: &Path, variant: u32) -> Result<String> {
    edit_line(root, "column", MARK_COLUMN, |line| {
        let (before, _) = line
            .split_once(" amount numeric(18, 4),")
            .ok_or_else(|| malformed("column", line))?;
        Ok(match variant {
            0 => format!("{before} amount numeric(18, 4), {MARK_COLUMN}"),
            v => format!("{before} amount numeric(18, 4), edit_note_{v} text, {MARK_COLUMN}"),
        })
    })
}
