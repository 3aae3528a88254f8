//! What a build writes about itself, in its last transaction: one row per script in
//! the applied-scripts table, and the build record.
//!
//! The applied-scripts rows have one writer (`record_applied`) and one format on
//! every path, whatever the layout: `version` is the script's 1-based position in the
//! manifest, `name` its path in the tree, `checksum` the SHA-256 the manifest holds
//! for it (hex), `applied_on` when the build committed (UTC, RFC 3339). The table is
//! refinery-core's own history table (its DDL, its columns), and every script passes
//! through refinery-core's `Migration` on every path, so a script refinery would not
//! accept as a migration is refused the same way wherever it is built.

use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::tree::manifest::{APPLIED_SCRIPTS_TABLE, Manifest, Script};
use refinery_core::Migration;

/// The table our own tree keeps a copy of the build record in (one row), written
/// beside the engine's record when a tree has it.
pub const BUILD_TABLE: &str = "ores_database_builds_tbl";

/// The schema the engine keeps its own build record in: created and owned by the
/// administrator before any script of the tree runs, so no tree can define, drop,
/// alter or put a trigger on it, whatever tables it has.
pub const ENGINE_SCHEMA: &str = "ores_sql";

/// The engine's build record (one row), schema-qualified.
pub const ENGINE_RECORD: &str = "ores_sql.builds";

/// The statements of the build, as digests (`build/incremental/outline.rs`): what
/// the next incremental build compares the tree with. Row 0 holds the digest of
/// everything else the build depended on.
pub const ENGINE_OUTLINE: &str = "ores_sql.outline";

/// The keys of the rows each multi-row insert of the build wrote, by the
/// statement's digest (`build/incremental/keys.rs`): what lets the next incremental
/// build delete the rows of a replaced insert instead of emptying its table.
pub const ENGINE_OUTLINE_KEYS: &str = "ores_sql.outline_keys";

/// The crate version compiled into this binary.
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a database was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildPath {
    /// Every script applied in manifest order in one transaction.
    Full,
    /// Independent parts of the manifest applied on several connections at once.
    Parallel,
    /// Cloned from the environment's cached template of an earlier full build.
    Cached,
    /// A copy of the last build with only what the tree's change affects applied
    /// again (`build/incremental`).
    Incremental,
}

impl BuildPath {
    /// `full`, `parallel`, `cached` or `incremental`, as the build record stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildPath::Full => "full",
            BuildPath::Parallel => "parallel",
            BuildPath::Cached => "cached",
            BuildPath::Incremental => "incremental",
        }
    }
}

/// The DDL of the applied-scripts table: refinery-core's history table, under our
/// name.
pub(crate) fn applied_table_sql() -> String {
    use refinery_core::traits::sync::Migrate;
    <postgres::Client as Migrate>::assert_migrations_table_query(APPLIED_SCRIPTS_TABLE)
}

/// Each script as refinery-core's `Migration` (version = 1-based position), refusing
/// a manifest it would not accept.
pub(crate) fn migrations(scripts: &[Script]) -> Result<Vec<Migration>> {
    scripts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Migration::unapplied(&migration_name(i, s), &s.sql).map_err(|e| {
                Error::Internal(format!("{}: the script record rejected it: {e}", s.path))
            })
        })
        .collect()
}

/// A name refinery-core accepts: `V<n>__<path with non-word characters as _>`.
fn migration_name(index: usize, script: &Script) -> String {
    let word: String = script
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("V{}__{word}", index + 1)
}

/// Records every script of `manifest` in the applied-scripts table, in one statement
/// (one round trip per script was a fifth of a second at the real schema's size).
pub(crate) fn record_applied(
    tx: &mut postgres::Transaction<'_>,
    manifest: &Manifest,
) -> Result<()> {
    let scripts = manifest.scripts();
    let versions: Vec<i32> = migrations(scripts)?.iter().map(|m| m.version()).collect();
    let names: Vec<&str> = scripts.iter().map(|s| s.path.as_ref()).collect();
    let checksums: Vec<&str> = scripts.iter().map(|s| s.sha256.as_ref()).collect();
    tx.execute(
        &format!(
            "INSERT INTO {} (version, name, applied_on, checksum)
             SELECT v, n, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), c
               FROM unnest($1::int4[], $2::text[], $3::text[]) AS s(v, n, c)",
            quote_ident(APPLIED_SCRIPTS_TABLE)
        ),
        &[&versions, &names, &checksums],
    )
    .context("recording applied scripts")?;
    Ok(())
}

/// The administrator's part of the engine's record, run in the prologue (before any
/// script of the tree exists in the database): the schema and table, owned by the
/// administrator, readable by every group of environment `env`, written only by the
/// owner group. Owned by the administrator, the table cannot get a trigger, a rule or
/// a policy from the tree (only an owner may add one); the administrator reads it
/// (`db status`) but never writes it, and the build writes it as the owner group.
pub(crate) fn engine_record_sql(env: &str) -> String {
    let group = |g: &str| quote_ident(&crate::tree::roles::role_name(env, g));
    let readers = ["owner", "rw", "ro", "service"]
        .iter()
        .map(|g| group(g))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CREATE SCHEMA {ENGINE_SCHEMA};
REVOKE ALL ON SCHEMA {ENGINE_SCHEMA} FROM PUBLIC;
CREATE TABLE {ENGINE_RECORD} (
    schema_hash text NOT NULL,
    script_count integer NOT NULL,
    build_path text NOT NULL,
    crate_version text NOT NULL,
    server_version text NOT NULL,
    built_at timestamptz NOT NULL,
    built_by text NOT NULL,
    ddl_login text NOT NULL,
    based_on text
);
REVOKE ALL ON {ENGINE_RECORD} FROM PUBLIC;
GRANT USAGE ON SCHEMA {ENGINE_SCHEMA} TO {readers};
GRANT SELECT ON {ENGINE_RECORD} TO {readers};
GRANT INSERT, UPDATE, DELETE ON {ENGINE_RECORD} TO {owner};
CREATE TABLE {ENGINE_OUTLINE} (
    ordinal integer PRIMARY KEY,
    path text NOT NULL,
    digest text NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    gset text,
    name text NOT NULL DEFAULT ''
);
REVOKE ALL ON {ENGINE_OUTLINE} FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON {ENGINE_OUTLINE} TO {owner};
CREATE TABLE {ENGINE_OUTLINE_KEYS} (
    digest text PRIMARY KEY,
    key_column text NOT NULL,
    keys text NOT NULL
);
REVOKE ALL ON {ENGINE_OUTLINE_KEYS} FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON {ENGINE_OUTLINE_KEYS} TO {owner};
",
        owner = group("owner")
    )
}

/// Writes the build record inside the build transaction: the engine's own (every
/// tree), then our tree's copy in [`BUILD_TABLE`] when the tree has that table.
/// `built_by` is the administrative login that ran the build.
pub(crate) fn record_build(
    tx: &mut impl postgres::GenericClient,
    manifest: &Manifest,
    path: BuildPath,
    built_by: &str,
) -> Result<()> {
    let count = manifest.scripts().len() as i32;
    // Whatever the tree's code put there meanwhile goes: the record is the build's.
    tx.execute(&format!("DELETE FROM {ENGINE_RECORD}"), &[])
        .context("clearing the engine's build record")?;
    tx.execute(
        &format!(
            "INSERT INTO {ENGINE_RECORD} (schema_hash, script_count, build_path, crate_version,
                                          server_version, built_at, built_by, ddl_login)
             VALUES ($1, $2, $3, $4, current_setting('server_version'), now(), $5, session_user)"
        ),
        &[
            &manifest.schema_hash(),
            &count,
            &path.as_str(),
            &CRATE_VERSION,
            &built_by,
        ],
    )
    .context("writing the engine's build record")?;
    record_tree_copy(tx, manifest, path)
}

/// Our own tree's copy of the record, in the table it defines; a tree without that
/// table gets none (the engine's record is the one every command reads).
fn record_tree_copy(
    tx: &mut impl postgres::GenericClient,
    manifest: &Manifest,
    path: BuildPath,
) -> Result<()> {
    let row = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL,
                    EXISTS (SELECT 1 FROM pg_attribute
                             WHERE attrelid = to_regclass($1) AND attname = 'build_path'
                               AND NOT attisdropped)",
            &[&BUILD_TABLE],
        )
        .context("looking for the build record table")?;
    let (has_table, has_path): (bool, bool) = (row.get(0), row.get(1));
    if !has_table {
        log::debug!("manifest has no {BUILD_TABLE}; no build record written");
        return Ok(());
    }
    let count = manifest.scripts().len() as i32;
    if has_path {
        tx.execute(
            "INSERT INTO ores_database_builds_tbl
                    (schema_hash, script_count, crate_version, server_version, build_path)
             VALUES ($1, $2, $3, current_setting('server_version'), $4)",
            &[
                &manifest.schema_hash(),
                &count,
                &CRATE_VERSION,
                &path.as_str(),
            ],
        )
    } else {
        tx.execute(
            "INSERT INTO ores_database_builds_tbl
                    (schema_hash, script_count, crate_version, server_version)
             VALUES ($1, $2, $3, current_setting('server_version'))",
            &[&manifest.schema_hash(), &count, &CRATE_VERSION],
        )
    }
    .context("writing the build record")?;
    Ok(())
}

/// Marks a copy of a built database as made by cloning: its build record (the
/// engine's, and our tree's copy when it has one) says `cached`, when and by whom.
/// Written in a session of the tree's DDL login acting as the owner group, like the
/// record itself.
pub(crate) fn mark_copy(
    admin: &mut postgres::Client,
    config: &crate::config::Config,
    manifest: &Manifest,
    database: &str,
) -> Result<()> {
    let mut sessions = crate::build::staging::build_sessions(admin, config, manifest, database, 1)?;
    let client = &mut sessions[0];
    let owner = crate::tree::roles::role_name(&config.env, "owner");
    let mut tx = client
        .transaction()
        .context("opening the record's transaction")?;
    tx.batch_execute(&format!("SET LOCAL ROLE {}", quote_ident(&owner)))
        .context("acting as the owner group")?;
    let marked = tx
        .execute(
            &format!("UPDATE {ENGINE_RECORD} SET build_path = $1, built_at = now(), built_by = $2"),
            &[&BuildPath::Cached.as_str(), &config.admin_user],
        )
        .context(format!(
            "writing the engine's build record of the copy (a cached copy made before {ENGINE_RECORD} existed: run `compass db recreate --rebuild`)"
        ))?;
    if marked != 1 {
        return Err(Error::Internal(format!(
            "the cached copy has {marked} rows in {ENGINE_RECORD}, not one; run `compass db recreate --rebuild`"
        )));
    }
    let has_path: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute
                             WHERE attrelid = to_regclass($1) AND attname = 'build_path'
                               AND NOT attisdropped)",
            &[&BUILD_TABLE],
        )
        .context("looking for the build record table")?
        .get(0);
    if has_path {
        tx.execute(
            "UPDATE ores_database_builds_tbl SET build_path = $1, built_at = now()",
            &[&BuildPath::Cached.as_str()],
        )
        .context("writing the build record")?;
    }
    tx.commit().context("committing the build record")
}
