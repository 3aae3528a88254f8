//! Recreate never loses the last good database: failures before the swap, concurrent
//! runs, killed runs, hostile input.

use crate::common;

use common::Run;
use ores_sql::lifecycle::EnvLock;
use ores_sql::lifecycle::target::STAGING_SUFFIX;
use ores_sql::lifecycle::version::BuildPath;
use ores_sql::server::admin::{connect_admin, connect_admin_to, database_exists};
use ores_sql::testing::ScratchEnv;
use ores_sql::{Config, Error, Manifest, RunOptions};
use std::process::Command;
use std::time::{Duration, Instant};

/// A manifest written to a temporary directory: `(path under the root, sql)`.
fn manifest(files: &[(&str, &str)]) -> (tempfile::TempDir, Manifest) {
    let dir = common::tree(files);
    let m = Manifest::from_dir(dir.path()).unwrap();
    (dir, m)
}

const GOOD: [(&str, &str); 3] = [
    (
        "create/01_iam/010_iam_widgets.sql",
        "CREATE TABLE ores_iam_widgets_tbl (id integer PRIMARY KEY, name text NOT NULL);",
    ),
    (
        "create/01_iam/020_iam_gadgets.sql",
        "CREATE TABLE ores_iam_gadgets_tbl (id integer PRIMARY KEY);",
    ),
    (
        "populate/01_iam/010_iam_widgets.sql",
        "INSERT INTO ores_iam_widgets_tbl VALUES (1, 'precious');",
    ),
];

fn precious(config: &Config) -> String {
    connect_admin_to(config, &config.database)
        .unwrap()
        .query_one("SELECT name FROM ores_iam_widgets_tbl WHERE id = 1", &[])
        .unwrap()
        .get(0)
}

/// The environment's databases, without its cached template (a build's by-product,
/// tested in tests/cache.rs).
fn databases_like(config: &Config) -> Vec<String> {
    connect_admin(config)
        .unwrap()
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE $1 || '%'
                AND datname <> $1 || '__template' ORDER BY 1",
            &[&config.database],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The environment has its live database and no staging or retired copy.
fn assert_only_live_database(config: &Config, context: &str) {
    assert_eq!(
        databases_like(config),
        vec![config.database.clone()],
        "{context}"
    );
}

/// The paths a recreate can take, with the connections each builds on: one
/// transaction on one connection, the parallel build on two
/// (`Config::build_workers`), and the cached copy of an unchanged tree. The first two
/// run SQL ([`BUILDS`]); the guarantees about scripts are tried on both, those about
/// runs on all three.
const PATHS: [(&str, usize, BuildPath); 3] = [
    ("one transaction", 1, BuildPath::Full),
    ("parallel", 2, BuildPath::Parallel),
    ("cached", 1, BuildPath::Cached),
];

/// The paths that run SQL.
const BUILDS: &[(&str, usize, BuildPath)] = PATHS.split_at(2).0;

fn with_workers(env: &ScratchEnv, workers: usize) -> Run {
    Run {
        config: env.config.clone(),
        options: env.options.clone().workers(workers),
    }
}

/// `env`'s runs set to take `path` on `workers` connections: a full or parallel build
/// is forced (`rebuild`), the cached path is what an unchanged tree takes.
fn taking(env: &ScratchEnv, workers: usize, path: BuildPath) -> Run {
    let mut run = with_workers(env, workers);
    run.options.rebuild = path != BuildPath::Cached;
    run
}

#[test]
fn a_failure_at_the_first_middle_or_last_script_keeps_the_previous_database() {
    for &(build, workers, _) in BUILDS {
        let env = ScratchEnv::new("sf").unwrap();
        a_failing_script_keeps_the_previous_database(&with_workers(&env, workers), build);
    }
}

fn a_failing_script_keeps_the_previous_database(config: &Run, build: &str) {
    let (_d, good) = manifest(&GOOD);
    config.recreate(&good).unwrap();
    assert_eq!(precious(config), "precious");

    let broken = "SELECT 1;\nSELECT * FROM ores_iam_missing_tbl;";
    for (position, path) in [
        ("first", "create/01_iam/005_iam_broken.sql"),
        ("middle", "create/01_iam/015_iam_broken.sql"),
        ("last", "populate/01_iam/020_iam_broken.sql"),
    ] {
        let mut files = GOOD.to_vec();
        files.push((path, broken));
        let (_d, bad) = manifest(&files);
        let err = config.recreate(&bad).unwrap_err();
        let context = format!("{build}, {position}");
        match &err {
            Error::Script(f) => {
                assert!(f.path.ends_with(path), "{context}: {}", f.path);
                assert_eq!(
                    (f.sqlstate.as_str(), f.line),
                    ("42P01", Some(2)),
                    "{context}"
                );
            }
            other => panic!("{context}: {other:?}"),
        }
        // The previous database is exactly as it was, and nothing else is left.
        assert_eq!(precious(config), "precious", "{context}");
        assert_only_live_database(config, &context);
    }
}

#[test]
fn concurrent_recreates_of_one_environment_are_serialised_and_all_succeed() {
    // Long enough that the builds would overlap without the lock.
    let (_d, slow) = paused("0.3");
    let env = ScratchEnv::new("cc").unwrap();
    // Every path, one after the other on one environment: three full builds in one
    // transaction, three parallel ones, then three of the unchanged tree (cached).
    for (build, workers, path) in PATHS {
        let config = taking(&env, workers, path);
        let existed =
            database_exists(&mut connect_admin(&config).unwrap(), &config.database).unwrap();
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3).map(|_| s.spawn(|| config.recreate(&slow))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let reports: Vec<_> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{build}: {e}")))
            .collect();
        assert!(
            reports.iter().all(|r| r.path == path),
            "{build}: {reports:?}"
        );
        // Each run found the previous one's database: none of them overlapped.
        let replaced = reports.iter().filter(|r| r.replaced).count();
        assert_eq!(replaced, if existed { 3 } else { 2 }, "{build}");
        assert_eq!(precious(&config), "precious", "{build}");
        assert_only_live_database(&config, build);
    }
}

#[test]
fn a_run_waiting_too_long_for_the_lock_gives_up_clearly_and_other_environments_proceed() {
    let blocked = ScratchEnv::new("lk").unwrap();
    let free = ScratchEnv::new("lk").unwrap();
    let (_d, good) = manifest(&GOOD);
    let _held = EnvLock::acquire(connect_admin(&blocked.config).unwrap(), &blocked.config).unwrap();

    let mut impatient = blocked.config.clone();
    impatient.lock_timeout = Duration::from_millis(300);
    match ores_sql::recreate_with(&impatient, &good, &blocked.options) {
        Err(e @ Error::LockTimeout { .. }) => {
            assert!(e.to_string().contains("ORES_DB_LOCK_TIMEOUT"), "{e}")
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(databases_like(&blocked.config).is_empty());

    // Another environment is not held up by this one's lock.
    ores_sql::recreate_with(&free.config, &good, &free.options).unwrap();
    assert_eq!(precious(&free.config), "precious");
}

/// The good tree with one more script that sleeps `pause` seconds.
fn paused(pause: &str) -> (tempfile::TempDir, Manifest) {
    let mut files = GOOD.to_vec();
    let pause_sql = format!("SELECT pg_sleep({pause});");
    files.push(("create/01_iam/030_iam_pause.sql", &pause_sql));
    manifest(&files)
}

/// Not a test on its own: the child process of the multi-process tests. It only runs
/// when a parent names it explicitly (`--ignored --exact`) with its instructions.
#[test]
#[ignore = "child process of other tests"]
fn child_recreate() {
    let var = |name: &str| std::env::var(name).expect("run by a parent test");
    let config = Config::load()
        .unwrap()
        .with_env(&var("ORES_CHILD_ENV"))
        .unwrap();
    let options = RunOptions::new()
        .workers(var("ORES_CHILD_WORKERS").parse().unwrap())
        .rebuild(var("ORES_CHILD_REBUILD") == "1");
    let (_d, m) = paused(&var("ORES_CHILD_PAUSE"));
    ores_sql::recreate_with(&config, &m, &options).unwrap();
}

/// Runs [`child_recreate`] in a process of its own: a recreate of `config`'s
/// environment (its workers and `rebuild`) with [`paused`]`(pause)`.
fn spawn_child(config: &Run, pause: &str) -> std::process::Child {
    let workers = config.options.workers_for(config);
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "safety::child_recreate",
            "--nocapture",
        ])
        .env("ORES_CHILD_ENV", &config.env)
        .env("ORES_CHILD_PAUSE", pause)
        .env("ORES_CHILD_WORKERS", workers.to_string())
        .env(
            "ORES_CHILD_REBUILD",
            if config.options.rebuild { "1" } else { "0" },
        )
        .spawn()
        .unwrap()
}

#[test]
fn two_processes_recreating_one_environment_both_succeed() {
    for &(build, workers, _) in BUILDS {
        let env = ScratchEnv::new("pp").unwrap();
        let config = with_workers(&env, workers);
        let mut a = spawn_child(&config, "0.3");
        let mut b = spawn_child(&config, "0.3");
        assert!(a.wait().unwrap().success(), "{build}");
        assert!(b.wait().unwrap().success(), "{build}");
        assert_eq!(precious(&env.config), "precious", "{build}");
        assert_only_live_database(&env.config, build);
    }
}

#[test]
fn a_killed_build_leaves_only_staging_which_the_next_run_removes() {
    for &(build, workers, _) in BUILDS {
        let env = ScratchEnv::new("kl").unwrap();
        a_killed_build_is_cleaned_up(&with_workers(&env, workers), build);
    }
}

fn a_killed_build_is_cleaned_up(config: &Run, build: &str) {
    let (_d, good) = manifest(&GOOD);
    config.recreate(&good).unwrap();

    let mut child = spawn_child(config, "60");
    let staging = format!("{}{STAGING_SUFFIX}", config.database);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut admin = connect_admin(config).unwrap();
    // Wait until it is inside the long script, then kill it without a chance to
    // clean up.
    while admin
        .query_opt(
            "SELECT 1 FROM pg_stat_activity
              WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep(60)%'",
            &[&staging],
        )
        .unwrap()
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "{build}: child never reached the pause"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Besides staging, the cached template the build had set aside for the work
    // after the swap to drop (the good tree's, so it matched no key of the child),
    // and its spare copy: the good tree's run left none (the library's default makes
    // none), so the child made one while it read the tree's outline, before the plan
    // sent it to a full build.
    let stale = ["template", "spare"].map(|s| format!("{}__stale__{s}", config.database));
    let mut left = databases_like(config);
    left.sort();
    let mut expected = vec![config.database.clone(), staging.clone()];
    expected.extend(stale);
    expected.sort();
    assert_eq!(left, expected, "{build}");
    assert_eq!(
        precious(config),
        "precious",
        "{build}: the killed run touched the live database"
    );

    config.recreate(&good).unwrap();
    assert_only_live_database(config, build);
    assert_eq!(precious(config), "precious", "{build}");
}

#[test]
fn a_run_killed_at_the_swap_is_cleaned_up_on_every_path() {
    let (_d, tree) = paused("0");
    for (build, workers, path) in PATHS {
        let env = ScratchEnv::new("ks").unwrap();
        let config = taking(&env, workers, path);
        ores_sql::recreate_with(&env.config, &tree, &env.options).unwrap();
        connect_admin_to(&config, &config.database)
            .unwrap()
            .batch_execute("CREATE TABLE ores_iam_marker_tbl (x int)")
            .unwrap();

        // An open transaction that has changed the live database's catalog row: the
        // swap's first change to that row (closing it) waits for it, with staging
        // finished and closed. That is where the child is killed.
        let mut blocker = connect_admin(&config).unwrap();
        blocker.batch_execute("BEGIN").unwrap();
        blocker
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" WITH CONNECTION LIMIT -1",
                config.database
            ))
            .unwrap();
        let blocker_pid: i32 = blocker
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        // Watched from another session: within a transaction, pg_stat_activity keeps
        // the snapshot it first took.
        let mut watcher = connect_admin(&config).unwrap();
        let mut blocked = || -> Vec<i32> {
            watcher
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                    &[&blocker_pid],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        let mut child = spawn_child(&config, "0");
        let deadline = Instant::now() + Duration::from_secs(60);
        while blocked().is_empty() {
            assert!(
                Instant::now() < deadline,
                "{build}: child never reached the swap"
            );
            assert!(child.try_wait().unwrap().is_none(), "{build}: child ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // The server ends a dead client's session when it next talks to it; the
        // waiting statement would first finish. End it now, as a server restart or
        // a session timeout would, then let go.
        for pid in blocked() {
            watcher
                .execute("SELECT pg_terminate_backend($1, 10000)", &[&pid])
                .unwrap();
        }
        blocker.batch_execute("ROLLBACK").unwrap();

        // The live database is untouched, and staging is left beside it.
        let staging = format!("{}{STAGING_SUFFIX}", config.database);
        let left = databases_like(&config);
        assert!(left.contains(&staging), "{build}: {left:?}");
        connect_admin_to(&config, &config.database)
            .unwrap()
            .batch_execute("SELECT * FROM ores_iam_marker_tbl")
            .unwrap_or_else(|e| panic!("{build}: the killed run touched the live database: {e}"));

        // The next run removes what it left and replaces the database.
        let next = ores_sql::recreate_with(&env.config, &tree, &env.options).unwrap();
        assert_eq!(next.path, BuildPath::Cached, "{build}");
        assert!(next.replaced, "{build}");
        assert_only_live_database(&config, build);
        assert_eq!(precious(&config), "precious", "{build}");
    }
}

#[test]
fn an_interrupted_swap_is_undone_by_the_next_run() {
    // A run killed between retiring the old database and renaming staging into place
    // leaves only `<db>__retired`: the next run must put it back, not lose it.
    let env = ScratchEnv::new("sw").unwrap();
    let (_d, good) = manifest(&GOOD);
    ores_sql::recreate_with(&env.config, &good, &env.options).unwrap();
    let retired = format!(
        "{}{}",
        env.config.database,
        ores_sql::lifecycle::target::RETIRED_SUFFIX
    );
    connect_admin(&env.config)
        .unwrap()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" RENAME TO \"{retired}\"",
            env.config.database
        ))
        .unwrap();
    // setup never overwrites a schema, so after restoring it must refuse.
    match ores_sql::setup_with(&env.config, &good, &env.options) {
        Err(Error::AlreadyExists(db)) => assert_eq!(db, env.config.database),
        other => panic!("expected the restored database to be found, got {other:?}"),
    }
    assert_eq!(precious(&env.config), "precious");
    assert_only_live_database(&env.config, "");
}

fn roles_named_like(config: &Config, fragment: &str) -> i64 {
    connect_admin(config)
        .unwrap()
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE strpos(rolname, $1) > 0",
            &[&fragment],
        )
        .unwrap()
        .get(0)
}

#[test]
fn hostile_labels_and_names_are_refused_before_touching_the_server() {
    let base = Config::load().unwrap();
    let long = "a".repeat(64);
    let hostile = [
        "x\"; DROP ROLE postgres; --",
        "x'; DROP DATABASE postgres; --",
        "semi;colon",
        "with space",
        "UPPER",
        "ünïcödé",
        long.as_str(),
    ];
    for bad in hostile {
        let mut as_label = base.clone();
        as_label.env = bad.to_string();
        let mut as_name = base.clone();
        as_name.database = bad.to_string();
        for config in [&as_label, &as_name] {
            for result in [
                ores_sql::recreate(config).map(|_| ()),
                ores_sql::setup(config).map(|_| ()),
                ores_sql::teardown(config).map(|_| ()),
            ] {
                match result {
                    Err(Error::InvalidIdentifier { value, .. }) => assert_eq!(value, bad),
                    other => panic!("{bad:?}: {other:?}"),
                }
            }
        }
        let mut admin = connect_admin(&base).unwrap();
        assert!(!database_exists(&mut admin, bad).unwrap());
        assert_eq!(roles_named_like(&base, bad), 0, "{bad:?}");
    }
    // The server's own databases are never dropped, whatever the configuration says.
    for system in ["postgres", "template0", "template1"] {
        let mut c = base.clone();
        c.database = system.to_string();
        assert!(
            matches!(ores_sql::teardown(&c), Err(Error::Protected { .. })),
            "{system}"
        );
    }
}

#[test]
fn an_unreachable_server_fails_within_the_connect_timeout() {
    // Something that accepts TCP connections but never speaks the protocol: the
    // driver's own timeout would not cover the start-up exchange.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut config = ScratchEnv::new("ur").unwrap().config.clone();
    config.host = "127.0.0.1".into();
    config.port = port;
    config.connect_timeout = Duration::from_millis(500);
    config.admin_password = Some(ores_sql::Secret::new("hunter2-do-not-print"));
    let started = Instant::now();
    let err = ores_sql::recreate(&config).unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    // A bound against hanging, not a performance claim.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains(&port.to_string()), "{text}");
    assert!(!text.contains("hunter2"), "password leaked: {text}");

    // Nothing listening at all: refused at once, same clear error.
    drop(silent);
    assert!(matches!(
        ores_sql::recreate(&config),
        Err(Error::Connect { .. })
    ));
}

#[test]
fn a_missing_extension_is_named_with_its_package_and_nothing_is_created() {
    let env = ScratchEnv::new("mx").unwrap();
    let mut config = env.config.clone();
    config.extensions.push("ores_no_such_extension".into());
    match ores_sql::recreate(&config) {
        Err(e @ Error::MissingExtension { .. }) => {
            let text = e.to_string();
            assert!(text.contains("ores_no_such_extension"), "{text}");
            assert!(text.contains("apt-get install"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(databases_like(&config).is_empty());
    assert_eq!(
        roles_named_like(&config, &format!("ores_{}_", config.env)),
        0
    );
}

/// Records every log line of this test process (nextest gives each test its own).
struct Recorder(std::sync::Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        self.0.lock().unwrap().push(format!("{}", record.args()));
    }
    fn flush(&self) {}
}

#[test]
fn passwords_reach_the_server_only_as_scram_verifiers_and_never_the_logs() {
    static RECORDER: Recorder = Recorder(std::sync::Mutex::new(Vec::new()));
    let _ = log::set_logger(&RECORDER);
    log::set_max_level(log::LevelFilter::Trace);

    let env = ScratchEnv::new("pw").unwrap();
    let mut config = env.config.clone();
    let secrets: Vec<(String, String)> = ores_sql::server::roles::roles_for(&config.env)
        .into_iter()
        .filter(|r| r.login)
        .map(|r| (r.suffix.clone(), format!("pw-{}-'\"#=x", r.suffix)))
        .collect();
    for (suffix, pw) in &secrets {
        config
            .passwords
            .insert(suffix.clone(), ores_sql::Secret::new(pw.clone()));
    }
    // One role left without a password, to make sure the warning path runs too.
    config.passwords.remove("readonly_user");
    let (_d, good) = manifest(&GOOD);
    ores_sql::recreate_with(&config, &good, &env.options).unwrap();

    let stored: Vec<(String, Option<String>)> = connect_admin(&config)
        .unwrap()
        .query(
            "SELECT rolname::text, rolpassword FROM pg_authid WHERE rolname LIKE $1 AND rolcanlogin",
            &[&format!("ores_{}\\_%", config.env)],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(stored.len(), secrets.len());
    for (role, verifier) in &stored {
        if role.ends_with("_readonly_user") {
            assert_eq!(verifier, &None, "{role}");
        } else {
            let v = verifier.as_deref().unwrap_or_default();
            assert!(v.starts_with("SCRAM-SHA-256$"), "{role}: {v}");
        }
    }
    let logged = RECORDER.0.lock().unwrap().join("\n");
    assert!(
        logged.contains("readonly_user"),
        "the missing password was not warned about"
    );
    // Nor the verifiers: the driver logs statements and parameters at debug level.
    for (role, verifier) in &stored {
        if let Some(v) = verifier {
            assert!(
                !logged.contains(v.as_str()),
                "{role}'s verifier in the logs"
            );
        }
    }
    let debug = format!("{config:?}");
    for (_, pw) in &secrets {
        assert!(!logged.contains(pw.as_str()), "password in logs");
        assert!(!debug.contains(pw.as_str()), "password in Debug");
    }
}

#[test]
fn an_unchanged_password_is_not_set_again_and_a_changed_one_is() {
    let env = ScratchEnv::new("pu").unwrap();
    let mut config = env.config.clone();
    for suffix in ["cli_user", "wt_user"] {
        config.passwords.insert(
            suffix.into(),
            ores_sql::Secret::new(format!("first-{suffix}")),
        );
    }
    let (_d, good) = manifest(&GOOD);
    let stored = |config: &Config| -> Vec<(String, String)> {
        connect_admin(config)
            .unwrap()
            .query(
                "SELECT rolname::text, rolpassword FROM pg_authid
                  WHERE rolname = ANY($1) ORDER BY 1",
                &[&vec![
                    format!("ores_{}_cli_user", config.env),
                    format!("ores_{}_wt_user", config.env),
                ]],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    ores_sql::recreate_with(&config, &good, &env.options).unwrap();
    let first = stored(&config);
    assert_eq!(first.len(), 2);
    // A verifier the server made from the same password is recognised too.
    let cli = format!("ores_{}_cli_user", config.env);
    connect_admin(&config)
        .unwrap()
        .batch_execute(&format!(
            "SET password_encryption = 'scram-sha-256'; ALTER ROLE \"{cli}\" PASSWORD 'first-cli_user'"
        ))
        .unwrap();
    let server_made = stored(&config);
    assert_ne!(first[0], server_made[0], "the server made a new verifier");
    assert!(ores_sql::server::roles::verifier_matches(
        &server_made[0].1,
        "first-cli_user"
    ));
    // Nothing changed: each stored verifier, salt and all, stays as it was.
    ores_sql::recreate_with(&config, &good, &env.options).unwrap();
    assert_eq!(stored(&config), server_made);
    // One password changed: that login's verifier alone is new, and it logs in
    // with the new password only.
    config.passwords.insert(
        "wt_user".into(),
        ores_sql::Secret::new("second-wt_user".to_string()),
    );
    ores_sql::recreate_with(&config, &good, &env.options).unwrap();
    let after = stored(&config);
    assert_eq!(after[0], server_made[0]);
    assert_ne!(after[1], server_made[1]);
    // The server trusts local connections here: the verifier is what tells.
    assert!(ores_sql::server::roles::verifier_matches(
        &after[1].1,
        "second-wt_user"
    ));
    assert!(!ores_sql::server::roles::verifier_matches(
        &after[1].1,
        "first-wt_user"
    ));
}

#[test]
fn a_wrong_password_is_a_clear_error_and_changes_nothing() {
    // The shared server trusts local connections, so it cannot refuse a password:
    // this test gets a private cluster of its own that asks for one.
    let right = ores_sql::Secret::new("right-horse-battery");
    let cluster = ores_sql::testing::EmbeddedCluster::with_password(&right).unwrap();
    let base = cluster.config(Config::load().unwrap().with_env("pwcheck").unwrap());

    let mut wrong = base.clone();
    wrong.admin_password = Some(ores_sql::Secret::new("wrong-staple-9"));
    let err = ores_sql::recreate(&wrong).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(text.contains("28P01"), "no SQLSTATE in {text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(text.contains("PGPASSWORD"), "no hint what to do: {text}");
    assert!(
        !format!("{text} {err:?}").contains("wrong-staple"),
        "password leaked: {text}"
    );

    let mut none = base.clone();
    none.admin_password = None;
    assert!(matches!(
        ores_sql::recreate(&none),
        Err(Error::Connect { .. })
    ));

    // Nothing was created; the right password works and builds.
    let mut ok = base.clone();
    ok.admin_password = Some(right);
    let mut admin = connect_admin(&ok).unwrap();
    assert!(!database_exists(&mut admin, &ok.database).unwrap());
    let roles: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'ores\\_pwcheck\\_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(roles, 0);
    let (_d, good) = manifest(&GOOD);
    ores_sql::recreate_with(&ok, &good, &RunOptions::new()).unwrap();
    assert_eq!(precious(&ok), "precious");
}
