//! Recreate never loses the last good database: failures before the swap, concurrent
//! runs, killed runs, hostile input.

mod common;

use ores_sql::lifecycle::EnvLock;
use ores_sql::lifecycle::target::STAGING_SUFFIX;
use ores_sql::server::admin::{connect_admin, connect_admin_to, database_exists};
use ores_sql::testing::ScratchEnv;
use ores_sql::{Config, Error, Manifest};
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

#[test]
fn a_failure_at_the_first_middle_or_last_script_keeps_the_previous_database() {
    let env = ScratchEnv::new("sf").unwrap();
    let (_d, good) = manifest(&GOOD);
    ores_sql::recreate_with(&env.config, &good).unwrap();
    assert_eq!(precious(&env.config), "precious");

    let broken = "SELECT 1;\nSELECT * FROM ores_iam_missing_tbl;";
    for (position, path) in [
        ("first", "create/01_iam/005_iam_broken.sql"),
        ("middle", "create/01_iam/015_iam_broken.sql"),
        ("last", "populate/01_iam/020_iam_broken.sql"),
    ] {
        let mut files = GOOD.to_vec();
        files.push((path, broken));
        let (_d, bad) = manifest(&files);
        let err = ores_sql::recreate_with(&env.config, &bad).unwrap_err();
        match &err {
            Error::Script(f) => {
                assert!(f.path.ends_with(path), "{position}: {}", f.path);
                assert_eq!(
                    (f.sqlstate.as_str(), f.line),
                    ("42P01", Some(2)),
                    "{position}"
                );
            }
            other => panic!("{position}: {other:?}"),
        }
        // The previous database is exactly as it was, and nothing else is left.
        assert_eq!(precious(&env.config), "precious", "{position}");
        assert_only_live_database(&env.config, position);
    }
}

#[test]
fn concurrent_recreates_of_one_environment_are_serialised_and_both_succeed() {
    let env = ScratchEnv::new("cc").unwrap();
    let files = [
        GOOD[0],
        GOOD[2],
        // Long enough that the two builds would overlap without the lock.
        ("create/01_iam/030_iam_pause.sql", "SELECT pg_sleep(0.3);"),
    ];
    let (_d, slow) = manifest(&files);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| ores_sql::recreate_with(&env.config, &slow)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(
        results
            .iter()
            .filter(|r| r.as_ref().unwrap().replaced)
            .count(),
        2
    );
    assert_eq!(precious(&env.config), "precious");
    assert_only_live_database(&env.config, "");
}

#[test]
fn a_run_waiting_too_long_for_the_lock_gives_up_clearly_and_other_environments_proceed() {
    let blocked = ScratchEnv::new("lk").unwrap();
    let free = ScratchEnv::new("lk").unwrap();
    let (_d, good) = manifest(&GOOD);
    let _held = EnvLock::acquire(connect_admin(&blocked.config).unwrap(), &blocked.config).unwrap();

    let mut impatient = blocked.config.clone();
    impatient.lock_timeout = Duration::from_millis(300);
    match ores_sql::recreate_with(&impatient, &good) {
        Err(e @ Error::LockTimeout { .. }) => {
            assert!(e.to_string().contains("ORES_DB_LOCK_TIMEOUT"), "{e}")
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(databases_like(&blocked.config).is_empty());

    // Another environment is not held up by this one's lock.
    ores_sql::recreate_with(&free.config, &good).unwrap();
    assert_eq!(precious(&free.config), "precious");
}

/// Not a test on its own: the child process of the multi-process tests. It only runs
/// when a parent names it explicitly (`--ignored --exact`) with its instructions.
#[test]
#[ignore = "child process of other tests"]
fn child_recreate() {
    let env = std::env::var("ORES_CHILD_ENV").expect("run by a parent test");
    let pause = std::env::var("ORES_CHILD_PAUSE").expect("run by a parent test");
    let config = Config::load().unwrap().with_env(&env).unwrap();
    let mut files = GOOD.to_vec();
    let pause_sql = format!("SELECT pg_sleep({pause});");
    files.push(("create/01_iam/030_iam_pause.sql", &pause_sql));
    let (_d, m) = manifest(&files);
    ores_sql::recreate_with(&config, &m).unwrap();
}

fn spawn_child(env: &str, pause: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_recreate", "--nocapture"])
        .env("ORES_CHILD_ENV", env)
        .env("ORES_CHILD_PAUSE", pause)
        .spawn()
        .unwrap()
}

#[test]
fn two_processes_recreating_one_environment_both_succeed() {
    let env = ScratchEnv::new("pp").unwrap();
    let mut a = spawn_child(&env.config.env, "0.3");
    let mut b = spawn_child(&env.config.env, "0.3");
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    assert_eq!(precious(&env.config), "precious");
    assert_only_live_database(&env.config, "");
}

#[test]
fn a_killed_build_leaves_only_staging_which_the_next_run_removes() {
    let env = ScratchEnv::new("kl").unwrap();
    let (_d, good) = manifest(&GOOD);
    ores_sql::recreate_with(&env.config, &good).unwrap();

    let mut child = spawn_child(&env.config.env, "60");
    let staging = format!("{}{STAGING_SUFFIX}", env.config.database);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut admin = connect_admin(&env.config).unwrap();
    while !database_exists(&mut admin, &staging).unwrap() {
        assert!(Instant::now() < deadline, "child never started building");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let it get into the long script, then kill it without a chance to clean up.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Besides staging, the cached template the build had set aside for the work
    // after the swap to drop (the good tree's, so it matched no key of the child).
    let stale = format!("{}__stale__template", env.config.database);
    let mut left = databases_like(&env.config);
    left.sort();
    let mut expected = vec![env.config.database.clone(), stale, staging.clone()];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(
        precious(&env.config),
        "precious",
        "the killed run touched the live database"
    );

    ores_sql::recreate_with(&env.config, &good).unwrap();
    assert_only_live_database(&env.config, "");
    assert_eq!(precious(&env.config), "precious");
}

#[test]
fn an_interrupted_swap_is_undone_by_the_next_run() {
    // A run killed between retiring the old database and renaming staging into place
    // leaves only `<db>__retired`: the next run must put it back, not lose it.
    let env = ScratchEnv::new("sw").unwrap();
    let (_d, good) = manifest(&GOOD);
    ores_sql::recreate_with(&env.config, &good).unwrap();
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
    match ores_sql::setup_with(&env.config, &good) {
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
    ores_sql::recreate_with(&config, &good).unwrap();

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
    ores_sql::recreate_with(&ok, &good).unwrap();
    assert_eq!(precious(&ok), "precious");
}
