//! Keeping a build's outline, reading it back, and applying a plan to a copy of the
//! last build, all in sessions of the tree's DDL login (the administrator only
//! reads the outline, a table it owns that no tree can put a trigger, rule or policy
//! on).

use crate::build::BuildPath;
use crate::build::incremental::outline::{Body, Kind, Recorded, Statement};
use crate::build::incremental::rules::{Action, index_name};
use crate::build::phases::{finish_open, session_setup};
use crate::build::record::{BUILD_TABLE, ENGINE_OUTLINE, ENGINE_RECORD};
use crate::build::single::numeric::failure_in;
use crate::build::staging::build_sessions;
use crate::config::Config;
use crate::config::ident::{quote_ident, quote_literal};
use crate::error::{Error, PgContext, Result};
use crate::tree::manifest::{APPLIED_SCRIPTS_TABLE, Manifest};
use crate::tree::roles::role_name;
use postgres::{Client, GenericClient};
use std::io::Write;

/// The outline a build left in the database `client` is connected to: the digest of
/// what else it depended on, and its statements; or why there is none to use (a
/// database built before outlines, by a tree without one, or before outlines kept
/// index names).
pub(crate) fn read(
    client: &mut Client,
) -> Result<std::result::Result<(String, Vec<Recorded>), String>> {
    let columns: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_attribute
              WHERE attrelid = to_regclass($1) AND attname IN ('digest', 'name')
                AND NOT attisdropped",
            &[&ENGINE_OUTLINE],
        )
        .context("looking for the build's outline")?
        .get(0);
    match columns {
        2 => {}
        0 => return Ok(Err("the last build kept no outline".into())),
        _ => {
            return Ok(Err(
                "the last build's outline is of an older format (no index names)".into(),
            ));
        }
    }
    let rows = client
        .query(
            &format!(
                "SELECT ordinal, digest, kind, subject, gset, name FROM {ENGINE_OUTLINE}
                  ORDER BY ordinal"
            ),
            &[],
        )
        .context("reading the build's outline")?;
    let Some(first) = rows.first().filter(|r| r.get::<_, i32>(0) == 0) else {
        return Ok(Err("the last build kept no outline".into()));
    };
    let base: String = first.get(1);
    let mut statements = Vec::with_capacity(rows.len());
    for r in &rows[1..] {
        let gset = match r.get::<_, Option<String>>(4) {
            None => None,
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                Error::Internal(format!(
                    "the build's outline holds a row it cannot read: {e}"
                ))
            })?),
        };
        statements.push(Recorded {
            digest: r.get(1),
            kind: Kind::parse(r.get(2)),
            subject: r.get(3),
            name: r.get(5),
            gset,
        });
    }
    Ok(Ok((base, statements)))
}

/// Replaces the outline in the database `tx` writes to (acting as the owner group).
pub(crate) fn store(tx: &mut impl GenericClient, base: &str, outline: &[Statement]) -> Result<()> {
    let mut ordinals = vec![0i32];
    let mut paths = vec![String::new()];
    let mut digests = vec![base.to_string()];
    let mut kinds = vec!["base".to_string()];
    let mut subjects = vec![String::new()];
    let mut names = vec![String::new()];
    let mut gsets: Vec<Option<String>> = vec![None];
    for (i, s) in outline.iter().enumerate() {
        ordinals.push(i as i32 + 1);
        paths.push(s.path.clone());
        digests.push(s.digest.clone());
        kinds.push(s.kind.as_str().to_string());
        subjects.push(s.subject.clone());
        names.push(index_name(s));
        gsets.push(
            s.gset
                .as_ref()
                .map(|row| serde_json::json!(row).to_string()),
        );
    }
    tx.execute(&format!("DELETE FROM {ENGINE_OUTLINE}"), &[])
        .context("clearing the build's outline")?;
    tx.execute(
        &format!(
            "INSERT INTO {ENGINE_OUTLINE} (ordinal, path, digest, kind, subject, gset, name)
             SELECT * FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[])"
        ),
        &[
            &ordinals, &paths, &digests, &kinds, &subjects, &gsets, &names,
        ],
    )
    .context("writing the build's outline")?;
    Ok(())
}

/// What an incremental build applies, and to what.
pub(crate) struct Delta<'a> {
    pub(crate) actions: &'a [Action],
    pub(crate) outline: &'a [Statement],
    pub(crate) base: &'a str,
    /// The build it starts from, for the record.
    pub(crate) based_on: &'a str,
    pub(crate) bulk_seed: bool,
}

/// Applies `delta` to `database` (a copy of the last build) in one transaction of a
/// DDL login's session, then ends it as every build ends (`phases::finish_open`),
/// with the record saying `incremental` and what it was based on, and the new
/// outline. Nothing is committed unless everything succeeded.
pub(crate) fn apply(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    database: &str,
    delta: &Delta<'_>,
) -> Result<()> {
    let owner = role_name(&config.env, "owner");
    // A numeric tree runs as the owner group, an entry tree as the DDL login (see
    // the builders).
    let role = (!manifest.entry_mode()).then_some(owner.as_str());
    let setup = session_setup(delta.bulk_seed, role);
    let mut sessions = build_sessions(admin, config, manifest, database, 1)?;
    let mut tx = sessions[0]
        .transaction()
        .context("opening the incremental build's transaction")?;
    let label = manifest.label();
    // Statements under the same settings go as one batch: a failure anywhere makes
    // the caller build in full, which names the failing statement itself.
    let mut batch = Batch::default();
    for action in delta.actions {
        let (at, what) = match action {
            Action::Empty { table, at } => {
                (*at, Some(format!("TRUNCATE {table} RESTART IDENTITY")))
            }
            Action::Drop { sql, at } => (*at, Some(sql.clone())),
            Action::Run(i) => (*i, None),
        };
        let s = &delta.outline[at];
        let path = format!("{label}/{}", s.path);
        if batch.prelude.as_deref() != Some(s.prelude.as_str()) {
            batch.flush(&mut tx)?;
            tx.batch_execute(&format!("RESET ALL;\n{setup}{}", s.prelude))
                .context(format!("{path}:{}: restoring the session settings", s.line))?;
            batch.prelude = Some(s.prelude.clone());
        }
        match (what, &s.body) {
            (Some(sql), _) => batch.push(&sql, &path),
            (None, Body::Sql(sql)) if s.kind == Kind::Function => {
                batch.push(&or_replace(sql), &path)
            }
            (None, Body::Sql(sql)) => batch.push(sql, &path),
            (None, Body::Copy { statement, data }) => {
                batch.flush(&mut tx)?;
                copy_again(&mut tx, s, (statement, data), &path)?;
            }
        }
    }
    batch.flush(&mut tx)?;
    // The copy's records go: the build's end writes them again (our tree's copy of
    // the record is one row behind a primary key).
    tx.batch_execute(&format!(
        "RESET ALL; SET LOCAL synchronous_commit = off; SET LOCAL ROLE {};
         DELETE FROM {};
         DO $ores$ BEGIN
           IF to_regclass({}) IS NOT NULL THEN EXECUTE format('DELETE FROM %I', {}); END IF;
         END $ores$;",
        quote_ident(&owner),
        quote_ident(APPLIED_SCRIPTS_TABLE),
        quote_literal(BUILD_TABLE),
        quote_literal(BUILD_TABLE),
    ))
    .context("clearing the copy's records")?;
    finish_open(&mut tx, config, database, manifest, BuildPath::Incremental)?;
    tx.execute(
        &format!("UPDATE {ENGINE_RECORD} SET based_on = $1"),
        &[&delta.based_on],
    )
    .context("recording what the build was based on")?;
    store(&mut tx, delta.base, delta.outline)?;
    tx.commit().context("committing the incremental build")
}

/// Statements waiting to be sent together, and the settings they run under.
#[derive(Default)]
struct Batch {
    prelude: Option<String>,
    sql: String,
    first: Option<String>,
}

impl Batch {
    fn push(&mut self, statement: &str, path: &str) {
        self.first.get_or_insert_with(|| path.to_string());
        self.sql.push_str(statement);
        self.sql.push_str(";\n");
    }

    fn flush(&mut self, tx: &mut postgres::Transaction<'_>) -> Result<()> {
        if self.sql.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.sql);
        let path = self.first.take().unwrap_or_default();
        tx.batch_execute(&sql)
            .map_err(|e| Error::Script(failure_in(&path, &sql, &e)))
    }
}

/// Sends a `\copy` again, its data with it (everything else goes in a [`Batch`]).
fn copy_again(
    tx: &mut postgres::Transaction<'_>,
    s: &Statement,
    (statement, data): (&str, &str),
    path: &str,
) -> Result<()> {
    let located = |e: postgres::Error| {
        let mut f = failure_in(path, statement, &e);
        f.line = Some(s.line + f.line.map_or(0, |l| l - 1));
        Error::Script(f)
    };
    let mut writer = tx.copy_in(statement).map_err(located)?;
    writer.write_all(data.as_bytes()).map_err(|e| Error::Io {
        context: format!("{path}:{}: sending \\copy data", s.line),
        source: e,
    })?;
    writer.finish().map_err(located)?;
    Ok(())
}

/// `CREATE FUNCTION ..` as `CREATE OR REPLACE FUNCTION ..` (unchanged when it says so
/// already).
fn or_replace(sql: &str) -> String {
    let trimmed = sql.trim_start();
    let lead = sql.len() - trimmed.len();
    let rest = &trimmed[6..];
    let words: Vec<String> = rest
        .split_whitespace()
        .take(2)
        .map(str::to_lowercase)
        .collect();
    if words.first().map(String::as_str) == Some("or") {
        return sql.to_string();
    }
    format!("{}CREATE OR REPLACE{}", &sql[..lead], rest)
}

#[cfg(test)]
mod tests {
    use super::or_replace;

    #[test]
    fn functions_replace() {
        assert_eq!(
            or_replace("create function f() returns int"),
            "CREATE OR REPLACE function f() returns int"
        );
        assert_eq!(
            or_replace("  CREATE OR REPLACE FUNCTION f()"),
            "  CREATE OR REPLACE FUNCTION f()"
        );
    }
}
