//! A parallel build into staging: independent scripts of the manifest applied on
//! several connections at once.
//!
//! The staging database is invisible until the swap, so a build does not need one
//! transaction to be atomic: if anything fails, staging is dropped and the previous
//! database stays. Each script therefore runs in a transaction of its own (with its
//! applied-scripts record), on whichever worker is free, once every script it must
//! follow has committed.
//!
//! Which script must follow which is derived from the text, conservatively (see
//! [`plan`]): two scripts keep their manifest order when either mentions a name the
//! other creates; every populate script waits for every create script; and two
//! populate scripts keep their order when the tables they reach (the tables they
//! name, and through the create scripts of whatever they name, the tables those name:
//! triggers, their functions, foreign keys, lookups in dynamic SQL given as text)
//! overlap. A mention inside a comment or a string counts, which only costs
//! parallelism. The session settings earlier scripts left (a `SET`, a session-level
//! `set_config`), which the one-transaction build's single session keeps, are
//! replayed at the start of each script (`server/session_state.rs`); each
//! worker resets its session after every script. What the text cannot show is not
//! covered: a dependency hidden in dynamic SQL, a setting made inside a function.

use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::version::BuildPath;
use crate::server::admin::connect_admin_to;
use crate::server::apply::{APPLIED_SCRIPTS_TABLE, build_prologue, failure_in, migration_name};
use crate::server::rights::AdminRights;
use crate::server::session_state::preludes;
use crate::server::statements::execute_each;
use crate::tree::lint::lexer::{Tok, lex_spans};
use crate::tree::manifest::{Manifest, Phase, Script};
use postgres::Client;
use refinery_core::Migration;
use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};

/// For each script (by manifest index), the earlier scripts it must wait for.
/// Populate scripts also wait for every create script, which is not listed. What a
/// script's `prelude` (the session settings it starts with) names counts as named
/// by the script.
pub fn plan(scripts: &[&Script], preludes: &[String]) -> Vec<Vec<usize>> {
    let words: Vec<HashSet<String>> = scripts
        .iter()
        .zip(preludes)
        .map(|(s, p)| words(&format!("{p}{}", s.sql)))
        .collect();
    let defs: Vec<HashSet<String>> = scripts
        .iter()
        .map(|s| match s.phase {
            Phase::Create => defined_names(&s.sql, false),
            Phase::Populate => HashSet::new(),
        })
        .collect();
    let tables: HashSet<String> = scripts
        .iter()
        .filter(|s| s.phase == Phase::Create)
        .flat_map(|s| defined_names(&s.sql, true))
        .collect();
    let mut definers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, d) in defs.iter().enumerate() {
        for name in d {
            definers.entry(name.as_str()).or_default().push(i);
        }
    }
    // The tables a populate script can touch, directly or through what it reaches.
    let reach = |i: usize| -> HashSet<String> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut names: HashSet<String> = words[i].clone();
        let mut queue: Vec<String> = names.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            for &c in definers.get(name.as_str()).into_iter().flatten() {
                if seen.insert(c) {
                    for w in &words[c] {
                        if names.insert(w.clone()) {
                            queue.push(w.clone());
                        }
                    }
                }
            }
        }
        names.retain(|n| tables.contains(n));
        names
    };
    let reaches: Vec<Option<HashSet<String>>> = scripts
        .iter()
        .enumerate()
        .map(|(i, s)| (s.phase == Phase::Populate).then(|| reach(i)))
        .collect();
    let mut deps = vec![Vec::new(); scripts.len()];
    for j in 0..scripts.len() {
        for i in 0..j {
            let ordered = match (&reaches[i], &reaches[j]) {
                (Some(a), Some(b)) => !a.is_disjoint(b),
                (None, None) => !words[j].is_disjoint(&defs[i]) || !words[i].is_disjoint(&defs[j]),
                // Populate after create: the barrier covers it. Create after populate
                // does not happen in a manifest (creates come first).
                _ => false,
            };
            if ordered {
                deps[j].push(i);
            }
        }
    }
    deps
}

/// Every identifier-like word of the text, as written and lowercased.
pub(crate) fn words(sql: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for w in sql.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')) {
        if w.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        {
            out.insert(w.to_lowercase());
            out.insert(w.to_string());
        }
    }
    out
}

/// Names a script's `CREATE` statements make (tables only, if `tables_only`).
pub(crate) fn defined_names(sql: &str, tables_only: bool) -> HashSet<String> {
    const MODIFIERS: &[&str] = &[
        "or",
        "replace",
        "unique",
        "temporary",
        "temp",
        "unlogged",
        "global",
        "local",
        "recursive",
        "materialized",
    ];
    const KINDS: &[&str] = &[
        "table",
        "view",
        "function",
        "procedure",
        "type",
        "domain",
        "sequence",
        "index",
        "aggregate",
        "schema",
    ];
    let toks: Vec<Tok> = lex_spans(sql).into_iter().map(|(t, _, _)| t).collect();
    let mut out = HashSet::new();
    for st in toks.split(|t| *t == Tok::Semi) {
        let word = |i: usize| match st.get(i) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        };
        if word(0) != Some("create") {
            continue;
        }
        let mut i = 1;
        while word(i).is_some_and(|w| MODIFIERS.contains(&w)) {
            i += 1;
        }
        let Some(kind) = word(i).filter(|w| KINDS.contains(w)) else {
            continue;
        };
        if tables_only && kind != "table" {
            continue;
        }
        i += 1;
        while word(i).is_some_and(|w| ["if", "not", "exists", "concurrently"].contains(&w)) {
            i += 1;
        }
        // The last part of a possibly qualified name.
        let mut name = None;
        while let Some(Tok::Word(w) | Tok::Quoted(w)) = st.get(i) {
            name = Some(w.clone());
            if st.get(i + 1) == Some(&Tok::Punct('.')) {
                i += 2;
            } else {
                break;
            }
        }
        if let Some(n) = name {
            out.insert(n);
        }
    }
    out
}

/// What the workers share.
struct Board {
    done: Vec<bool>,
    started: Vec<bool>,
    creates_left: usize,
    left: usize,
    failure: Option<Error>,
}

/// Creates `database` owned by the environment's owner and builds `manifest` into it
/// on `workers` connections. On failure the half-made database is dropped and the
/// first failure returned (path, line and SQLSTATE for a script).
pub(crate) fn build_database(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    workers: usize,
) -> Result<()> {
    let scripts: Vec<&Script> = manifest.scripts().iter().collect();
    // The plan is the client's work and the database's creation and prologue the
    // server's: they overlap.
    std::thread::scope(|s| {
        let planned = s.spawn(|| -> Result<(Vec<String>, Vec<Vec<usize>>)> {
            let preludes = preludes(&scripts)?;
            let deps = plan(&scripts, &preludes);
            Ok((preludes, deps))
        });
        crate::lifecycle::create_and_fill(admin, config, database, |owner| {
            let client = prologue(config, database, owner, manifest)?;
            let (preludes, deps) = planned
                .join()
                .map_err(|_| Error::Config("the parallel plan panicked".into()))??;
            let job = Job {
                config,
                database,
                owner,
                manifest,
                scripts: &scripts,
                deps: &deps,
                preludes: &preludes,
                workers,
            };
            build_into(&job, client)
        })
    })
}

/// Installs the extensions and the applied-scripts table; the connection it did it
/// on becomes the first worker's.
fn prologue(config: &Config, database: &str, owner: &str, manifest: &Manifest) -> Result<Client> {
    let mut lap = crate::lifecycle::Lap::start();
    let mut client = connect_admin_to(config, database)?;
    // As in the sequential build: a superuser installs the extensions itself, any
    // other login (trusted ones only) as the database's owner.
    let superuser = AdminRights::detect(&mut client)?.superuser;
    let mut tx = client
        .transaction()
        .context("opening the prologue transaction")?;
    let extensions = crate::lifecycle::extensions_for(&mut tx, config, manifest)?;
    tx.batch_execute(&build_prologue(&extensions, owner, !superuser))
        .context("preparing the database (extensions, owner role, applied-scripts table)")?;
    tx.commit().context("committing the prologue")?;
    lap.log("extensions");
    Ok(client)
}

/// A planned parallel build of `manifest` into `database`.
struct Job<'a> {
    config: &'a Config,
    database: &'a str,
    owner: &'a str,
    manifest: &'a Manifest,
    scripts: &'a [&'a Script],
    deps: &'a [Vec<usize>],
    /// For each script, the session settings the scripts before it left.
    preludes: &'a [String],
    workers: usize,
}

fn build_into(job: &Job<'_>, client: Client) -> Result<()> {
    let Job {
        config,
        database,
        owner,
        manifest,
        scripts,
        deps,
        preludes,
        workers,
    } = *job;
    let mut lap = crate::lifecycle::Lap::start();

    let board = Mutex::new(Board {
        done: vec![false; scripts.len()],
        started: vec![false; scripts.len()],
        creates_left: scripts.iter().filter(|s| s.phase == Phase::Create).count(),
        left: scripts.len(),
        failure: None,
    });
    let wake = Condvar::new();
    // What every script's transaction starts with.
    let mut setup = format!(
        "SET LOCAL synchronous_commit = off; SET LOCAL ROLE {};",
        quote_ident(owner)
    );
    if config.bulk_seed {
        setup.push_str(crate::lifecycle::BULK_SEED_SQL);
    }
    let setup = setup.as_str();
    let mut connections = vec![client];
    for _ in 1..workers.clamp(1, scripts.len().max(1)) {
        connections.push(connect_admin_to(config, database)?);
    }
    std::thread::scope(|s| {
        for mut c in connections.drain(..) {
            let (board, wake) = (&board, &wake);
            s.spawn(move || work(&mut c, setup, scripts, deps, preludes, board, wake));
        }
    });
    let board = board.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = board.failure {
        return Err(e);
    }
    lap.log("scripts on all workers");

    let mut client = connect_admin_to(config, database)?;
    let mut tx = client
        .transaction()
        .context("opening the grants transaction")?;
    tx.batch_execute(&format!(
        "SET LOCAL synchronous_commit = off; SET LOCAL ROLE {};",
        quote_ident(owner)
    ))
    .context("acting as the owner")?;
    crate::lifecycle::finish_build(tx, config, database, manifest, BuildPath::Parallel)?;
    lap.log("grants, build record and commit");
    Ok(())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` with a panic turned into an error. The other threads of a build wait on
/// the board for what this one was doing; told of a failure they stop, where a
/// panic alone would leave them (and the build) waiting for ever.
pub(crate) fn panic_as_error<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::Config(format!(
            "{what} panicked; the build was stopped"
        )))
    })
}

/// One worker: takes the first ready script, applies it, repeats until everything is
/// done or anything failed.
fn work(
    client: &mut Client,
    setup: &str,
    scripts: &[&Script],
    deps: &[Vec<usize>],
    preludes: &[String],
    board: &Mutex<Board>,
    wake: &Condvar,
) {
    loop {
        let next = {
            let mut b = lock(board);
            loop {
                if b.failure.is_some() || b.left == 0 {
                    return;
                }
                let ready = (0..scripts.len()).find(|&i| {
                    !b.started[i]
                        && (scripts[i].phase == Phase::Create || b.creates_left == 0)
                        && deps[i].iter().all(|&d| b.done[d])
                });
                if let Some(i) = ready {
                    b.started[i] = true;
                    break i;
                }
                b = wake.wait(b).unwrap_or_else(|e| e.into_inner());
            }
        };
        let outcome = panic_as_error(
            &format!("the worker applying {}", scripts[next].path),
            || apply_one(client, setup, &preludes[next], next, scripts[next]),
        );
        let mut b = lock(board);
        match outcome {
            Ok(()) => {
                b.done[next] = true;
                b.left -= 1;
                if scripts[next].phase == Phase::Create {
                    b.creates_left -= 1;
                }
            }
            Err(e) => {
                if b.failure.is_none() {
                    b.failure = Some(e);
                }
            }
        }
        wake.notify_all();
    }
}

/// Applies one script and its applied-scripts record in a transaction of its own.
fn apply_one(
    client: &mut Client,
    setup: &str,
    prelude: &str,
    index: usize,
    script: &Script,
) -> Result<()> {
    // Recorded exactly as refinery records it in a one-transaction build.
    let migration = Migration::unapplied(&migration_name(index, script), &script.sql)
        .map_err(|e| Error::Config(format!("manifest rejected by refinery: {e}")))?;
    let (name, checksum) = (
        migration.name().to_string(),
        migration.checksum().to_string(),
    );
    in_own_transaction(client, setup, prelude, &script.path, |tx| {
        execute_each(tx, &script.sql).map_err(|e| Error::Script(e.failure(&script.path)))?;
        tx.execute(
            &format!(
                "INSERT INTO {} (version, name, applied_on, checksum)
                 VALUES ($1, $2, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), $3)",
                quote_ident(APPLIED_SCRIPTS_TABLE)
            ),
            &[&(index as i32 + 1), &name, &checksum],
        )
        .map_err(|e| Error::Script(failure_in(APPLIED_SCRIPTS_TABLE, "", &e)))?;
        Ok(())
    })
}

/// How a worker of either parallel build applies one piece (a script, a file's
/// unit): in a transaction of its own that starts with `setup` (the build's role)
/// and `prelude` (the session settings the pieces before it left), committed, then
/// the session cleared so the next piece on this connection starts as on a fresh
/// one. A deadlock with another worker (two pieces locking shared tables in
/// different orders, e.g. foreign keys) rolls the piece back; it is tried again.
pub(crate) fn in_own_transaction<T>(
    client: &mut Client,
    setup: &str,
    prelude: &str,
    path: &str,
    mut apply: impl FnMut(&mut postgres::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = client.transaction().context("opening a transaction")?;
        tx.batch_execute(setup).context("taking the build's role")?;
        if !prelude.is_empty() {
            tx.batch_execute(prelude).context(format!(
                "{path}: setting the session up as the files before it left it"
            ))?;
        }
        let value = match apply(&mut tx) {
            Ok(value) => {
                tx.commit().context("committing")?;
                Some(value)
            }
            Err(Error::Script(f)) if f.sqlstate == "40P01" && attempt < 4 => {
                drop(tx);
                log::debug!("{path}: deadlock with another worker, trying again");
                None
            }
            Err(e) => return Err(e),
        };
        // RESET ALL leaves the role and the session authorisation alone; resetting
        // those is open to any login.
        client
            .batch_execute("RESET ALL; RESET ROLE; RESET SESSION AUTHORIZATION")
            .context("resetting the worker's session")?;
        if let Some(value) = value {
            return Ok(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::panic_as_error;

    #[test]
    fn a_panic_becomes_an_error_naming_the_thread_and_results_pass_through() {
        let e = panic_as_error::<()>("the worker applying x.sql", || panic!("bug")).unwrap_err();
        assert!(
            e.to_string().contains("the worker applying x.sql panicked"),
            "{e}"
        );
        assert_eq!(panic_as_error("w", || Ok(7)).unwrap(), 7);
    }
}
