//! The headline figures of `--workload upstream-entry`, as the user waits for them:
//! the wall time of the `compass db recreate -y` command (the release binary, default
//! settings, the environment through exported variables) and of
//! `ores_sql::recreate_with` with default options, each beside the team's own path
//! in the same run: their roles and database made by psql as the administrator,
//! then `psql -f setup_schema.sql` as their DDL user. The edits are the generator's
//! edit mix, a new variant each run, so every timed edit is relative to the build
//! before it.

use crate::db_test::compass_bin;
use crate::psql::{PsqlRun, psql_run};
use crate::sample::{Sample, timed};
use crate::settle::settle_between_runs;
use crate::{Res, settle};
use ores_sql::config::ident::{quote_ident, quote_literal};
use ores_sql::server::admin::{connect_admin, connect_admin_to};
use ores_sql::server::roles::role_name;
use ores_sql::testing::workload::{
    COPY_DIR, EntryTree, UPSTREAM_LOGIN_USERS, UPSTREAM_SERVICES, copy_tree, edit_create,
    edit_create_column, edit_function, edit_populate, entry_psql_variables,
};
use ores_sql::{Config, Manifest, RunOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One headline figure: its JSON key, its times, the time until usable when the
/// command reports it, and the build path each run took.
struct Figure {
    key: &'static str,
    total: Sample,
    usable: Sample,
    paths: Vec<String>,
}

impl Figure {
    fn new(key: &'static str, label: &'static str) -> Figure {
        Figure {
            key,
            total: Sample::new(label),
            usable: Sample::new("  of which until usable (as compass reports it)"),
            paths: vec![],
        }
    }
}

/// An edit of the generator's mix: the figure's key and the edit.
type Edit = fn(&Path, u32) -> ores_sql::Result<String>;

const EDITS: [(&str, &str, Edit); 4] = [
    (
        "edit_populate_ms",
        "compass db recreate -y: a row changed in a large seed file",
        edit_populate,
    ),
    (
        "edit_function_ms",
        "compass db recreate -y: a service function's body",
        edit_function,
    ),
    (
        "edit_create_ms",
        "compass db recreate -y: a new index in a late create file",
        edit_create,
    ),
    (
        "edit_column_ms",
        "compass db recreate -y: a nullable column on a late table",
        edit_create_column,
    ),
];

/// The compass paths measured besides the edits: key, label, arguments.
const FULL: [(&str, &str, &[&str]); 3] = [
    (
        "full_ms",
        "compass db recreate -y --rebuild (defaults)",
        &["--rebuild"],
    ),
    (
        "full_workers1_ms",
        "compass db recreate -y --rebuild --workers 1",
        &["--rebuild", "--workers", "1"],
    ),
    (
        "full_workers2_ms",
        "compass db recreate -y --rebuild --workers 2",
        &["--rebuild", "--workers", "2"],
    ),
];

/// What `compass db recreate` said: the path and the time until usable.
struct Reported {
    path: String,
    usable: Duration,
}

/// `compass db recreate -y --sql-dir DIR ARGS` for the bench's environment, timed.
fn compass_recreate(
    bin: &Path,
    config: &Config,
    dir: &Path,
    args: &[&str],
) -> Res<(Duration, Reported)> {
    compass_recreate_with(bin, config, dir, args, &[])
}

/// [`compass_recreate`] with more variables in its environment.
fn compass_recreate_with(
    bin: &Path,
    config: &Config,
    dir: &Path,
    args: &[&str],
    env: &[(String, String)],
) -> Res<(Duration, Reported)> {
    let mut cmd = Command::new(bin);
    cmd.args(["db", "recreate", "-y", "--sql-dir"])
        .arg(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("ORES_ENV", &config.env)
        .env("ORES_DB_NAME", &config.database)
        .env("PGHOST", &config.host)
        .env("PGPORT", config.port.to_string())
        .env("PGUSER", &config.admin_user)
        .stdin(Stdio::null());
    if let Some(p) = &config.admin_password {
        cmd.env("PGPASSWORD", p.expose());
    }
    let (d, out) = timed(|| Ok(cmd.output()?))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("compass db recreate {args:?} failed:\n{text}").into());
    }
    // "... schema <hash>, <path> build, usable in <s> s"
    let reported = text.lines().find_map(|l| {
        let (before, after) = l.split_once(" build, usable in ")?;
        let path = before.rsplit(' ').next()?.to_string();
        let secs: f64 = after.trim_end_matches(" s").trim().parse().ok()?;
        Some(Reported {
            path,
            usable: Duration::from_secs_f64(secs),
        })
    });
    let reported = reported.ok_or_else(|| format!("compass said no build line:\n{text}"))?;
    Ok((d, reported))
}

/// The team's roles and database, as their set-up script makes them: every role if
/// missing, the memberships, the database dropped and made again, the extensions.
fn roles_and_database_sql(config: &Config, database: &str) -> String {
    let role = |suffix: &str| quote_ident(&role_name(&config.env, suffix));
    let mut names: Vec<(String, Option<&str>)> = ["owner", "rw", "ro", "service"]
        .iter()
        .map(|g| (g.to_string(), None))
        .collect();
    for (stem, group) in UPSTREAM_LOGIN_USERS {
        names.push((format!("{stem}_user"), Some(group)));
    }
    for (service, _) in UPSTREAM_SERVICES {
        names.push((format!("{service}_service"), Some("service")));
    }
    let mut out = String::from("\\set ON_ERROR_STOP on\nDO $$\nBEGIN\n");
    for (suffix, group) in &names {
        let name = role_name(&config.env, suffix);
        let login = if group.is_some() { "LOGIN" } else { "NOLOGIN" };
        out.push_str(&format!(
            "    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) THEN CREATE ROLE {} {login}; END IF;\n",
            quote_literal(&name),
            quote_ident(&name)
        ));
    }
    out.push_str("END $$;\n");
    for (suffix, group) in &names {
        if let Some(group) = group {
            out.push_str(&format!("GRANT {} TO {};\n", role(group), role(suffix)));
        }
    }
    let db = quote_ident(database);
    out.push_str(&format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE);\nCREATE DATABASE {db} OWNER {};\n\\c {db}\n\
         CREATE EXTENSION IF NOT EXISTS btree_gist;\nCREATE EXTENSION IF NOT EXISTS pg_trgm;\n",
        role("owner")
    ));
    out
}

/// The team's own path, timed as a whole: roles and database, then the tree.
struct OwnScripts {
    roles_sql: PathBuf,
    database: String,
    vars: Vec<(String, String)>,
}

impl OwnScripts {
    fn run(&self, config: &Config, dir: &Path) -> Res<()> {
        let admin = PsqlRun::default();
        psql_run(
            config,
            &config.admin_database,
            &config.admin_user,
            &self.roles_sql,
            &admin,
        )?;
        let run = PsqlRun {
            dir: Some(dir.join(COPY_DIR)),
            vars: &self.vars,
            single_tx: false,
        };
        let ddl = role_name(&config.env, "ddl_user");
        psql_run(
            config,
            &self.database,
            &ddl,
            &dir.join("setup_schema.sql"),
            &run,
        )
    }
}

/// Every headline figure of one bench run.
pub(crate) struct Headline {
    own: Sample,
    compass: Vec<Figure>,
    lib_full: Sample,
    lib_unchanged: Sample,
}

/// Runs the headline figures `runs` times on a copy of the tree in `dir` (the edits
/// change the copy), each run from a settled server.
pub(crate) fn measure_headline(
    config: &Config,
    dir: &Path,
    tree: &EntryTree,
    runs: usize,
) -> Res<Headline> {
    let bin = compass_bin().ok_or(
        "the headline figures need the compass binary: cargo build --release --bin compass",
    )?;
    let work = tempfile::tempdir()?;
    let copy = work.path().join("tree");
    copy_tree(dir, &copy)?;
    let database = format!("{}_psql", config.database);
    let own_scripts = OwnScripts {
        roles_sql: work.path().join("roles_and_database.sql"),
        database: database.clone(),
        vars: entry_psql_variables(&config.env, &config.database),
    };
    std::fs::write(
        &own_scripts.roles_sql,
        roles_and_database_sql(config, &database),
    )?;
    let mut admin = connect_admin(config)?;
    // Untimed: the roles exist and the team's database is there to be replaced, as
    // on their machines; and their scripts build what the generator wrote.
    settle_between_runs(config)?;
    own_scripts.run(config, &copy)?;
    check_rows(config, &database, tree)?;
    compass_recreate(&bin, config, &copy, &[])?;

    let mut h = Headline {
        own: Sample::new("own scripts: roles, database, psql -f setup_schema.sql"),
        compass: FULL
            .iter()
            .map(|(k, l, _)| Figure::new(k, l))
            .chain(EDITS.iter().map(|(k, l, _)| Figure::new(k, l)))
            .chain([
                Figure::new("unchanged_ms", "compass db recreate -y: nothing changed"),
                Figure::new(
                    "unchanged_passwords_ms",
                    "compass db recreate -y: nothing changed, every login's password set",
                ),
                Figure::new(
                    "passwords_changed_ms",
                    "compass db recreate -y: every login's password changed",
                ),
            ])
            .collect(),
        lib_full: Sample::new("ores_sql::recreate_with, defaults + rebuild"),
        lib_unchanged: Sample::new("ores_sql::recreate_with, defaults, nothing changed"),
    };
    for run in 0..runs {
        let variant = run as u32 + 1;
        let before = |admin: &mut postgres::Client| -> Res<()> {
            settle_between_runs(config)?;
            settle(admin)
        };
        before(&mut admin)?;
        h.own
            .times
            .push(timed(|| own_scripts.run(config, &copy))?.0);
        for (i, (_, _, args)) in FULL.iter().enumerate() {
            before(&mut admin)?;
            h.record(i, compass_recreate(&bin, config, &copy, args)?);
        }
        let manifest = Manifest::from_dir(&copy)?;
        for (sample, options) in [
            (&mut h.lib_full, RunOptions::default().rebuild(true)),
            (&mut h.lib_unchanged, RunOptions::default()),
        ] {
            before(&mut admin)?;
            let (d, _) = timed(|| Ok(ores_sql::recreate_with(config, &manifest, &options)?))?;
            sample.times.push(d);
        }
        for (i, (_, _, edit)) in EDITS.iter().enumerate() {
            edit(&copy, variant)?;
            before(&mut admin)?;
            h.record(FULL.len() + i, compass_recreate(&bin, config, &copy, &[])?);
        }
        before(&mut admin)?;
        let last = h.compass.len() - 1;
        h.record(last - 2, compass_recreate(&bin, config, &copy, &[])?);
        // As the team runs it: their `.env` gives every login a password, the same
        // one run after run (untimed, the run before puts it in place: the runs
        // above, with none configured, removed it).
        compass_recreate_with(&bin, config, &copy, &[], &login_passwords(0))?;
        before(&mut admin)?;
        h.record(
            last - 1,
            compass_recreate_with(&bin, config, &copy, &[], &login_passwords(0))?,
        );
        // Every password changed: each login's verifier is set again.
        before(&mut admin)?;
        h.record(
            last,
            compass_recreate_with(&bin, config, &copy, &[], &login_passwords(variant))?,
        );
    }
    settle_between_runs(config)?;
    Ok(h)
}

/// A password for every login of the tree (its users and services), in the
/// variables compass reads them from; one set for each `variant`.
fn login_passwords(variant: u32) -> Vec<(String, String)> {
    let suffixes = UPSTREAM_LOGIN_USERS
        .iter()
        .map(|(stem, _)| format!("{stem}_user"))
        .chain(
            UPSTREAM_SERVICES
                .iter()
                .map(|(s, _)| format!("{s}_service")),
        );
    suffixes
        .map(|suffix| {
            (
                format!("ORES_DB_{}_PASSWORD", suffix.to_uppercase()),
                format!("bench-{variant}-{suffix}-c0ffee-5eed"),
            )
        })
        .collect()
}

/// Fails unless the team's scripts built the rows the generator wrote.
fn check_rows(config: &Config, database: &str, tree: &EntryTree) -> Res<()> {
    let mut db = connect_admin_to(config, database)?;
    let mut rows = 0u64;
    for t in &tree.tables {
        let n: i64 = db
            .query_one(
                &format!("SELECT count(*) FROM {}", quote_ident(&t.name)),
                &[],
            )?
            .get(0);
        rows += n as u64;
    }
    if rows != tree.total_rows() {
        return Err(format!(
            "own scripts built {rows} rows, the tree writes {}",
            tree.total_rows()
        )
        .into());
    }
    Ok(())
}

impl Headline {
    fn record(&mut self, i: usize, (d, reported): (Duration, Reported)) {
        let f = &mut self.compass[i];
        f.total.times.push(d);
        f.usable.times.push(reported.usable);
        f.paths.push(reported.path);
    }

    /// The table rows, in the order measured.
    pub(crate) fn print_rows(&self) {
        self.own.print_row();
        for f in &self.compass {
            f.total.print_row();
            f.usable.print_row();
        }
        self.lib_full.print_row();
        self.lib_unchanged.print_row();
    }

    /// Each figure's median, min and max, its ratio to the own scripts' median, the
    /// paths compass reported; `full_usable_ms` is the full build's time until usable.
    pub(crate) fn json(&self) -> serde_json::Map<String, serde_json::Value> {
        let own = self.own.median_ms();
        let mut out = serde_json::Map::new();
        let mut put = |key: &str, s: &Sample| {
            let stem = key.trim_end_matches("_ms");
            out.insert(key.to_string(), s.median_ms().into());
            out.insert(format!("{stem}_min_ms"), s.min_ms().into());
            out.insert(format!("{stem}_max_ms"), s.max_ms().into());
            out.insert(format!("{stem}_ratio"), (s.median_ms() / own).into());
        };
        put("own_scripts_ms", &self.own);
        for f in &self.compass {
            put(f.key, &f.total);
            let stem = f.key.trim_end_matches("_ms");
            put(&format!("{stem}_usable_ms"), &f.usable);
        }
        put("lib_full_ms", &self.lib_full);
        put("lib_unchanged_ms", &self.lib_unchanged);
        for f in &self.compass {
            let stem = f.key.trim_end_matches("_ms");
            out.insert(format!("{stem}_paths"), f.paths.clone().into());
        }
        out
    }

    /// The headline ratios, one line each.
    pub(crate) fn print_ratios(&self) {
        let own = self.own.median_ms();
        println!("headline (wall time of the command / the team's own scripts, {own:.0} ms):");
        for f in &self.compass {
            println!(
                "  {:<20} {:>8.0} ms  {:>5.2}x  (usable after {:.0} ms; paths {:?})",
                f.key,
                f.total.median_ms(),
                f.total.median_ms() / own,
                f.usable.median_ms(),
                f.paths
            );
        }
        for s in [&self.lib_full, &self.lib_unchanged] {
            println!(
                "  {:<50} {:>8.0} ms  {:>5.2}x",
                s.name,
                s.median_ms(),
                s.median_ms() / own
            );
        }
    }
}
