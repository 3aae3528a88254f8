//! `compass db test` against the team's own scripts + `pg_prove`.

use crate::psql::{PsqlRun, fresh_database, psql_run};
use crate::sample::{Sample, timed};
use crate::{Res, settle};
use ores_sql::Config;
use ores_sql::server::admin::{connect_admin_to, drop_database};
use ores_sql::server::roles::role_name;
use ores_sql::testing::pgtap::{PgTapOptions, PgTapSuite};
use ores_sql::testing::workload::{
    COPY_DIR, EntryTree, entry_psql_variables, entry_test_variables,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `compass` binary beside this example (`target/release/compass` for
/// `target/release/examples/bench`), if it was built.
pub(crate) fn compass_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("compass");
    bin.is_file().then_some(bin)
}

/// `compass db test` on the tree in `dir` against the generated suite, and the team's
/// path: their own scripts into a fresh database, then `pg_prove` on every file.
pub(crate) struct DbTest {
    pub(crate) db_test: Sample,
    pub(crate) own_pg_prove: Sample,
}

impl DbTest {
    pub(crate) fn new() -> DbTest {
        let db_test = if compass_bin().is_some() {
            "compass db test (binary), unchanged tree"
        } else {
            "db test (PgTapSuite::open + run_with), unchanged tree"
        };
        DbTest {
            db_test: Sample::new(db_test),
            own_pg_prove: Sample::new("own scripts (psql -f setup_schema.sql) + pg_prove"),
        }
    }

    /// `compass db test --sql-dir DIR` end to end (the binary when it is built,
    /// else the library's equivalent, suite opening and drop included).
    pub(crate) fn db_test_once(dir: &Path) -> Res<()> {
        let Some(bin) = compass_bin() else {
            let suite = PgTapSuite::open(Some(dir))?;
            let report = suite.run(&PgTapOptions::default())?;
            drop(suite);
            return match report.passed() {
                true => Ok(()),
                false => Err(format!("db test failed:\n{}", report.summary()).into()),
            };
        };
        let out = Command::new(bin)
            .args(["db", "test", "--sql-dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "compass db test failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }

    /// One run of both paths, each from a settled server; the team's database and
    /// its extensions (pgTAP among them) are made outside the timing.
    pub(crate) fn run_once(
        &mut self,
        admin: &mut postgres::Client,
        config: &Config,
        dir: &Path,
        tree: &EntryTree,
    ) -> Res<()> {
        settle(admin)?;
        self.db_test
            .times
            .push(timed(|| DbTest::db_test_once(dir))?.0);
        let psql_db = format!("{}_psql", config.database);
        fresh_database(admin, &psql_db, &role_name(&config.env, "owner"))?;
        connect_admin_to(config, &psql_db)?.batch_execute(
            "CREATE EXTENSION btree_gist; CREATE EXTENSION pg_trgm; CREATE EXTENSION pgtap;",
        )?;
        settle(admin)?;
        let vars = entry_psql_variables(&config.env, &config.database);
        let run = PsqlRun {
            dir: Some(dir.join(COPY_DIR)),
            vars: &vars,
            single_tx: false,
        };
        let ddl = role_name(&config.env, "ddl_user");
        let (d, ()) = timed(|| {
            psql_run(config, &psql_db, &ddl, &dir.join("setup_schema.sql"), &run)?;
            pg_prove(config, &psql_db, dir, tree)
        })?;
        self.own_pg_prove.times.push(d);
        drop_database(admin, &psql_db, true)?;
        Ok(())
    }
}

/// `pg_prove` on every test file of the tree, from its root, as the administrator (the
/// suite's `[tests] role`), with the variables the files use; the connection through
/// `PG*` variables.
pub(crate) fn pg_prove(config: &Config, database: &str, dir: &Path, tree: &EntryTree) -> Res<()> {
    let mut cmd = Command::new("pg_prove");
    cmd.current_dir(dir);
    for (k, v) in entry_test_variables(&config.env) {
        cmd.arg("--set").arg(format!("{k}={v}"));
    }
    cmd.args(&tree.test_files)
        .env("PGHOST", &config.host)
        .env("PGPORT", config.port.to_string())
        .env("PGUSER", &config.admin_user)
        .env("PGDATABASE", database)
        .stdin(Stdio::null());
    if let Some(p) = &config.admin_password {
        cmd.env("PGPASSWORD", p.expose());
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "pg_prove failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}
