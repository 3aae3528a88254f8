//! Seeding measured inside real builds of the compiled tree.

use crate::sample::{Sample, timed};
use crate::{Res, settle};
use ores_sql::config::ident::quote_ident;
use ores_sql::server::admin::{connect_admin, drop_database};
use ores_sql::testing::TestDatabase;
use ores_sql::{Config, Manifest};
use std::path::Path;

/// The seed measured inside real builds: how many rows, and the scratch database's
/// suffix.
pub(crate) const SEED_ROWS: i64 = 20_000;
pub(crate) const SEED_SUFFIX: &str = "_seed";

/// Builds of the compiled tree with and without one extra populate script that seeds
/// [`SEED_ROWS`] new keys into a versioned table, side by side: a build runs its seed
/// on the session that has just created the schema, in the same transaction, so the
/// rate is taken there, from the difference of the medians. `first_statement` keeps
/// the earlier measure (rows into a fresh test database) beside it for comparison.
pub(crate) struct Seeding {
    pub(crate) without_seed: Sample,
    pub(crate) bulk: Sample,
    pub(crate) bare: Sample,
    pub(crate) row_by_row_base: Sample,
    pub(crate) row_by_row: Sample,
    /// How this figure was taken before: [`FIRST_STATEMENT_ROWS`] rows as the first
    /// statement of a new session in a new test database, bulk seeding on.
    pub(crate) first_statement: Sample,
}

pub(crate) const FIRST_STATEMENT_ROWS: i64 = 5_000;

impl Seeding {
    /// Rows per second: bulk (as the build seeds), row by row, with every trigger
    /// off (the bound: the table, its indexes, checks and policies), and as the first
    /// statement of a new session.
    pub(crate) fn rates(&self) -> (f64, f64, f64, f64) {
        let rate = |with: &Sample, without: &Sample| {
            SEED_ROWS as f64 / ((with.median_ms() - without.median_ms()) / 1e3)
        };
        (
            rate(&self.bulk, &self.without_seed),
            rate(&self.row_by_row, &self.row_by_row_base),
            rate(&self.bare, &self.without_seed),
            FIRST_STATEMENT_ROWS as f64 / (self.first_statement.median_ms() / 1e3),
        )
    }
}

pub(crate) fn measure_seeding(config: &Config, runs: usize) -> Res<Seeding> {
    let trees = tempfile::tempdir()?;
    let sql = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let insert = format!(
        "SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);
INSERT INTO ores_refdata_rounding_types_tbl (code, name, description)
SELECT 'bench_' || g, 'Bench ' || g, '' FROM generate_series(1, {SEED_ROWS}) g;
"
    );
    // With the triggers off the seed must write what the insert trigger would have.
    let bare = format!(
        "SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);
ALTER TABLE ores_refdata_rounding_types_tbl DISABLE TRIGGER USER;
INSERT INTO ores_refdata_rounding_types_tbl (code, name, description, version, valid_from, valid_to)
SELECT 'bench_' || g, 'Bench ' || g, '', 1, clock_timestamp(), ores_utility_infinity_timestamp_fn()
  FROM generate_series(1, {SEED_ROWS}) g;
ALTER TABLE ores_refdata_rounding_types_tbl ENABLE TRIGGER USER;
"
    );
    let tree = |name: &str, seed: Option<&str>| -> Res<Manifest> {
        let root = trees.path().join(name);
        ores_sql::testing::workload::copy_tree(&sql, &root)?;
        if let Some(seed) = seed {
            std::fs::write(
                root.join("populate/04_refdata/011_refdata_rounding_types_bench.sql"),
                seed,
            )?;
        }
        Ok(Manifest::from_dir(&root)?)
    };
    let (base, seeded, seeded_bare) = (
        tree("base", None)?,
        tree("bulk", Some(&insert))?,
        tree("bare", Some(&bare))?,
    );
    let mut s = Seeding {
        without_seed: Sample::new("build of the compiled tree (no extra seed)"),
        bulk: Sample::new("  the same with 20,000 seed rows into a versioned table"),
        bare: Sample::new("  the same with every trigger off for the seed"),
        row_by_row_base: Sample::new("build of the compiled tree, bulk seeding off"),
        row_by_row: Sample::new("  the same with 20,000 seed rows, row by row"),
        first_statement: Sample::new("5,000 seed rows as a new session's first statement"),
    };
    let mut admin = connect_admin(config)?;
    let database = format!("{}{SEED_SUFFIX}", config.database);
    for _ in 0..runs {
        for (bulk_seed, manifest, sample) in [
            (true, &base, &mut s.without_seed),
            (true, &seeded, &mut s.bulk),
            (true, &seeded_bare, &mut s.bare),
            (false, &base, &mut s.row_by_row_base),
            (false, &seeded, &mut s.row_by_row),
        ] {
            settle(&mut admin)?;
            let (d, ()) = timed(|| {
                Ok(ores_sql::build::build_database(
                    &mut admin, config, &database, manifest, bulk_seed,
                )?)
            })?;
            sample.times.push(d);
            drop_database(&mut admin, &database, true)?;
        }
        let db = TestDatabase::new()?;
        let mut c = db.admin()?;
        c.batch_execute(&format!(
            "SET ores.tenant_id = '{}'; SET ROLE {}; SET ores.bulk_seed = 'on';",
            ores_sql::testing::SYSTEM_TENANT_ID,
            quote_ident(&db.role("owner"))
        ))?;
        settle(&mut admin)?;
        let (d, _) = timed(|| {
            Ok(c.execute(
                "INSERT INTO ores_refdata_rounding_types_tbl (code, name, description)
                 SELECT 'bench_' || g, 'Bench ' || g, '' FROM generate_series(1, $1::bigint) g",
                &[&FIRST_STATEMENT_ROWS],
            )?)
        })?;
        s.first_statement.times.push(d);
    }
    Ok(s)
}
