//! The test harness itself: clones, sessions, sharing between threads and processes,
//! cleanup of leftovers and of old templates, and the private-cluster mode.
//!
//! Several tests re-run this test binary as a child process (the `child_*` tests,
//! ignored and inert unless the parent sets `ORES_TEST_CHILD`) to get a second owner
//! process, as nextest gives every test.

use ores_sql::server::admin::{connect_admin, database_exists};
use ores_sql::testing::names::{KEPT_COMMENT, test_db_name};
use ores_sql::testing::owner::Owner;
use ores_sql::testing::template;
use ores_sql::testing::{ANCHOR_APP, SYSTEM_TENANT_ID, TestDatabase, unique_label};
use ores_sql::{Config, Manifest};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn admin() -> postgres::Client {
    connect_admin(&Config::load().unwrap()).unwrap()
}

/// A one-table manifest no other test shares (its own schema hash, so its own
/// template), written to a temporary directory.
fn unique_manifest(tag: &str) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("create/01_iam/010_iam_widgets.sql");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(
        &script,
        format!(
            "-- {tag} {}\nCREATE TABLE ores_iam_widgets_tbl (id int PRIMARY KEY, name text);\n",
            unique_label("m")
        ),
    )
    .unwrap();
    let m = Manifest::from_dir(dir.path()).unwrap();
    (dir, m)
}

fn run_child(test: &str, envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        &format!("testing::{test}"),
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("ORES_TEST_CHILD", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "child {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Lines the child printed as `key=value`.
fn child_value(stdout: &str, key: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
}

fn is_child() -> bool {
    std::env::var_os("ORES_TEST_CHILD").is_some()
}

#[test]
fn a_test_database_is_a_complete_private_clone() {
    let a = TestDatabase::new().unwrap();
    let b = TestDatabase::new().unwrap();
    assert_ne!(a.name(), b.name());

    let mut owner = a.ddl_user().unwrap();
    let info = ores_sql::lifecycle::version::build_info(&mut owner)
        .unwrap()
        .expect("build record");
    assert_eq!(info.schema_hash, Manifest::compiled().schema_hash());
    let (user, db): (String, String) = {
        let r = owner
            .query_one("SELECT current_user::text, current_database()::text", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(user, a.role("ddl_user"));
    assert_eq!(db, a.name());
    let exts: i64 = owner
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname IN ('btree_gist', 'pg_trgm', 'pgcrypto')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(exts, 3);

    // Changes in one clone are invisible in another.
    owner
        .batch_execute(
            "SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);
             INSERT INTO ores_iam_tenant_types_tbl (code, name) VALUES ('only_in_a', 'A')",
        )
        .unwrap();
    let mut other = b.ddl_user().unwrap();
    other
        .batch_execute(
            "SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false)",
        )
        .unwrap();
    let n: i64 = other
        .query_one(
            "SELECT count(*) FROM ores_iam_tenant_types_tbl WHERE code = 'only_in_a'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // The same session does see the seeded rows, so the zero above is not RLS at work.
    let seeded: i64 = other
        .query_one(
            "SELECT count(*) FROM ores_iam_tenant_types_tbl WHERE code = 'system'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(seeded, 1);

    // Only the environment's roles may connect (database ACLs are not copied by
    // CREATE DATABASE, so the harness re-applies them).
    let acl: String = admin()
        .query_one(
            "SELECT datacl::text FROM pg_database WHERE datname = $1",
            &[&a.name()],
        )
        .unwrap()
        .get(0);
    assert!(acl.contains(&a.role("service")), "{acl}");
    assert!(
        !acl.contains("{=") && !acl.contains(",="),
        "PUBLIC may connect: {acl}"
    );

    let conninfo = a.owner_connection_string();
    assert!(
        conninfo.contains(&format!("dbname={}", a.name())),
        "{conninfo}"
    );
    assert!(!conninfo.contains("password"), "{conninfo}");
}

#[test]
fn dropping_the_handle_drops_the_database_and_keep_keeps_it() {
    let db = TestDatabase::new().unwrap();
    let name = db.name().to_string();
    let _open = db.ddl_user().unwrap(); // an open session does not block the drop
    drop(db);
    let mut admin = admin();
    assert!(!database_exists(&mut admin, &name).unwrap());

    let kept = TestDatabase::new().unwrap().keep();
    assert!(database_exists(&mut admin, &kept).unwrap());
    // A cleanup that thinks every owner is dead still spares it.
    template::remove_orphans(&mut admin, &[], template::lease()).unwrap();
    assert!(database_exists(&mut admin, &kept).unwrap());
    let comment: String = admin
        .query_one(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&kept],
        )
        .unwrap()
        .get(0);
    assert_eq!(comment, KEPT_COMMENT);
    admin
        .batch_execute(&format!("DROP DATABASE \"{kept}\" WITH (FORCE)"))
        .unwrap();
}

#[test]
fn service_and_tenant_sessions_log_in_as_their_roles() {
    let db = TestDatabase::new().unwrap();
    let mut iam = db.service("iam").unwrap();
    let user: String = iam
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, db.role("iam_service"));
    // No tenant set: row-level security hides every tenant but the system one... and
    // the system tenant's row is visible to everyone.
    let mut tenant = db.tenant_session("iam", SYSTEM_TENANT_ID).unwrap();
    let (setting, rows): (String, i64) = {
        let r = tenant
            .query_one(
                "SELECT current_setting('ores.tenant_id'), (SELECT count(*) FROM ores_iam_tenants_tbl)",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(setting, SYSTEM_TENANT_ID);
    assert_eq!(rows, 1);
    assert!(db.service("no_such_service").is_err());
    assert!(db.tenant_session("iam", "x' -c role=postgres").is_err());
}

#[test]
fn many_threads_get_distinct_databases_from_one_template() {
    let names: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    let db = TestDatabase::new().unwrap();
                    let mut c = db.ddl_user().unwrap();
                    c.batch_execute("SELECT 1").unwrap();
                    db.name().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
}

#[test]
#[ignore = "helper: run by another test as a child process"]
fn child_clone_from_dir() {
    let Some(dir) = std::env::var_os("ORES_TEST_MANIFEST_DIR").filter(|_| is_child()) else {
        return;
    };
    let m = Manifest::from_dir(Path::new(&dir)).unwrap();
    let db = TestDatabase::with_manifest(&m).unwrap();
    let mut admin = admin();
    let key = db.env().strip_prefix("t_").unwrap().to_string();
    let oid: u32 = admin
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = $1",
            &[&format!("ores_tpl_{key}")],
        )
        .unwrap()
        .get(0);
    println!("\ntemplate_oid={oid}");
    println!("key={key}");
    println!("database={}", db.name());
}

#[test]
fn processes_share_one_template_built_once_and_an_unused_one_is_removed() {
    let (dir, _m) = unique_manifest("shared");
    let dir_s = dir.path().display().to_string();
    let outputs: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    run_child(
                        "child_clone_from_dir",
                        &[("ORES_TEST_MANIFEST_DIR", &dir_s)],
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let oids: Vec<String> = outputs
        .iter()
        .map(|o| child_value(o, "template_oid").unwrap())
        .collect();
    assert!(
        oids.iter().all(|o| *o == oids[0]),
        "template rebuilt: {oids:?}"
    );
    let key = child_value(&outputs[0], "key").unwrap();
    let template = format!("ores_tpl_{key}");
    let mut admin = admin();
    assert!(database_exists(&mut admin, &template).unwrap());
    assert!(!database_exists(&mut admin, &format!("{template}_build")).unwrap());
    for o in &outputs {
        let db = child_value(o, "database").unwrap();
        assert!(
            !database_exists(&mut admin, &db).unwrap(),
            "{db} outlived its process"
        );
    }

    // Once no process uses the first template (and its grace period, zero here, is
    // over), a cleanup removes it, its ready clones and its roles. A template in use is
    // never removed.
    let _compiled = TestDatabase::new().unwrap(); // in use: spared by the cleanup below
    let (_dir2, in_use) = unique_manifest("in use");
    let held = TestDatabase::with_manifest(&in_use).unwrap();
    let held_key = held.env().strip_prefix("t_").unwrap().to_string();
    let mut other = connect_admin(&Config::load().unwrap()).unwrap();
    let removed = template::remove_unused(&mut other, &[], Duration::ZERO).unwrap();
    assert!(!database_exists(&mut admin, &template).unwrap());
    assert!(
        !removed.contains(&format!("ores_tpl_{held_key}")),
        "{removed:?}"
    );
    assert!(database_exists(&mut admin, &format!("ores_tpl_{held_key}")).unwrap());
    let roles: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)",
            &[&format!("ores_t_{key}_")],
        )
        .unwrap()
        .get(0);
    assert_eq!(roles, 0, "roles of the removed template are left");
    let ready: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)",
            &[&format!("ores_tp_{key}_")],
        )
        .unwrap()
        .get(0);
    assert_eq!(ready, 0, "ready clones of the removed template are left");
    // A later use of the removed key simply builds it again.
    drop(held);
    let again = run_child(
        "child_clone_from_dir",
        &[("ORES_TEST_MANIFEST_DIR", &dir_s)],
    );
    assert_eq!(child_value(&again, "key").unwrap(), key);
}

#[test]
fn databases_of_dead_processes_are_removed_and_live_ones_kept() {
    let mut admin = admin();
    let me = Owner::current();
    // Our pid with another start time: the process that had this pid before us.
    let dead = Owner {
        start: me.start.wrapping_sub(1),
        ..me.clone()
    };
    let foreign = Owner {
        host: "0000".into(),
        pid: 1,
        start: 1,
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let key = format!("{:06x}{:06x}", me.pid & 0xff_ffff, nanos & 0xff_ffff);
    let names = [
        test_db_name(&key, &dead, 1),
        test_db_name(&key, &me, 999_999),
        test_db_name(&key, &foreign, 2),
    ];
    // The foreign owner gets a real anchor session, so that every other test process
    // sweeping at the same time also sees it alive (it would remove its database
    // otherwise); a sweep by any of them may be the one that removes the dead one.
    let config = Config::load().unwrap();
    let mut pg = config.admin_pg_config(&config.admin_database);
    pg.application_name(&format!("{ANCHOR_APP}{}", foreign.tag()));
    let foreign_anchor = pg.connect(postgres::NoTls).unwrap();
    for n in &names {
        admin
            .batch_execute(&format!("CREATE DATABASE \"{n}\""))
            .unwrap();
    }
    template::remove_orphans(&mut admin, &[foreign.tag()], template::lease()).unwrap();
    assert!(
        !database_exists(&mut admin, &names[0]).unwrap(),
        "{} kept",
        names[0]
    );
    assert!(database_exists(&mut admin, &names[1]).unwrap());
    assert!(database_exists(&mut admin, &names[2]).unwrap());
    // Without its anchor and without a lease (a database made by hand, as an older
    // harness's had none), a process on another host is gone.
    drop(foreign_anchor);
    template::remove_orphans(&mut admin, &[], template::lease()).unwrap();
    assert!(
        !database_exists(&mut admin, &names[2]).unwrap(),
        "{} kept",
        names[2]
    );
    assert!(database_exists(&mut admin, &names[1]).unwrap());
    admin
        .batch_execute(&format!("DROP DATABASE \"{}\"", names[1]))
        .unwrap();
}

#[test]
#[ignore = "helper: run by another test as a child process"]
fn child_embedded() {
    if !is_child() {
        return;
    }
    let db = TestDatabase::new().unwrap();
    let mut c = db.ddl_user().unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM ores_iam_tenant_types_tbl", &[])
        .unwrap()
        .get(0);
    assert!(n > 0);
    println!("\nhost={}", db.config().host);
}

#[test]
fn the_embedded_cluster_serves_tests_and_is_removed_after_the_run() {
    if Path::new("/usr/lib/postgresql").read_dir().is_err() {
        eprintln!("skipped: no PostgreSQL server binaries installed");
        return;
    }
    // Without NEXTEST_RUN_ID the child owns its cluster, so its end is the run's end.
    let mut cmd_env = vec![("ORES_TEST_SERVER", "embedded")];
    cmd_env.push(("NEXTEST_RUN_ID", ""));
    let out = run_child("child_embedded", &cmd_env);
    let host = PathBuf::from(child_value(&out, "host").expect("child printed its host"));
    assert!(host.starts_with(std::env::temp_dir()), "{}", host.display());
    let deadline = Instant::now() + Duration::from_secs(60);
    while host.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!host.exists(), "{} left behind", host.display());
}

#[test]
fn a_ready_clone_from_the_pool_is_claimed_by_renaming_it() {
    ores_sql::testing::set_pool_size(2);
    let (_dir, m) = unique_manifest("pool");
    let first = TestDatabase::with_manifest(&m).unwrap();
    let key = first.env().strip_prefix("t_").unwrap().to_string();
    let mut admin = admin();
    let ready_oids = |admin: &mut postgres::Client| -> Vec<u32> {
        admin
            .query(
                "SELECT oid FROM pg_database WHERE starts_with(datname, $1)
                    AND shobj_description(oid, 'pg_database') = $2",
                &[
                    &format!("ores_tp_{key}_"),
                    &ores_sql::testing::pool::READY_COMMENT,
                ],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    // The first clone started a background refill.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ready = ready_oids(&mut admin);
    while ready.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        ready = ready_oids(&mut admin);
    }
    assert!(!ready.is_empty(), "the pool was never refilled");
    let second = TestDatabase::with_manifest(&m).unwrap();
    let oid: u32 = admin
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = $1",
            &[&second.name()],
        )
        .unwrap()
        .get(0);
    assert!(
        ready.contains(&oid),
        "{} was not taken from the pool",
        second.name()
    );
    // A claimed clone is a complete, private database like any other.
    let mut c = second.ddl_user().unwrap();
    c.batch_execute("INSERT INTO ores_iam_widgets_tbl VALUES (1, 'x')")
        .unwrap();
    drop(first);
}

#[test]
#[ignore = "helper: run by another test as a child process"]
fn child_abort_with_a_database() {
    if !is_child() {
        return;
    }
    let db = TestDatabase::new().unwrap();
    println!("\ndatabase={}", db.name());
    // No destructors, no drop: what a kill -9 or a crash leaves behind.
    std::process::abort();
}

#[test]
fn a_killed_process_leaves_a_database_that_a_later_cleanup_removes() {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    let out = cmd
        .args([
            "--exact",
            "testing::child_abort_with_a_database",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ORES_TEST_CHILD", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child was meant to abort");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let name = child_value(&stdout, "database").expect("child printed its database");
    let mut admin = admin();
    assert!(database_exists(&mut admin, &name).unwrap());
    // The dead process's anchor session goes once the server notices the socket closed.
    let owner = ores_sql::testing::names::parse_test_db_name(&name)
        .unwrap()
        .owner;
    let deadline = Instant::now() + Duration::from_secs(30);
    let live = loop {
        let live: Vec<String> = admin
            .query(
                "SELECT substr(application_name, length('ores-sql-test:') + 1)
                   FROM pg_stat_activity WHERE starts_with(application_name, 'ores-sql-test:')",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !live.contains(&owner.tag()) || Instant::now() > deadline {
            break live;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let removed = template::remove_orphans(&mut admin, &live, template::lease()).unwrap();
    assert!(removed.contains(&name), "{removed:?}");
    assert!(!database_exists(&mut admin, &name).unwrap());
}

/// Creates and claims test databases from `threads` threads sharing one small
/// manifest's pool, checking each one's ACL the instant `new()` returns. Returns
/// how many were checked.
fn create_and_check_acls(dir: &Path, threads: usize, each: usize) -> usize {
    ores_sql::testing::set_pool_size(2);
    let m = Manifest::from_dir(dir).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let m = &m;
                s.spawn(move || {
                    let mut admin = admin();
                    for _ in 0..each {
                        let db = TestDatabase::with_manifest(m).unwrap();
                        let (acl, open): (Option<String>, bool) = admin
                            .query_one(
                                "SELECT datacl::text, datallowconn FROM pg_database
                                  WHERE datname = $1",
                                &[&db.name()],
                            )
                            .map(|r| (r.get(0), r.get(1)))
                            .unwrap();
                        let acl = acl.unwrap_or_else(|| {
                            panic!("{} was handed out with the default ACL", db.name())
                        });
                        assert!(open, "{} is not open to connections", db.name());
                        assert!(acl.contains(&db.role("service")), "{}: {acl}", db.name());
                        assert!(
                            !acl.contains("{=") && !acl.contains(",="),
                            "PUBLIC may connect to {}: {acl}",
                            db.name()
                        );
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).count() * each
    })
}

#[test]
#[ignore = "helper: run by another test as a child process"]
fn child_create_and_check_acls() {
    let Some(dir) = std::env::var_os("ORES_TEST_MANIFEST_DIR").filter(|_| is_child()) else {
        return;
    };
    let n = create_and_check_acls(Path::new(&dir), 3, 8);
    println!("\nchecked={n}");
}

#[test]
fn no_test_database_is_ever_handed_out_before_its_grants() {
    let (dir, _m) = unique_manifest("acl");
    let path = dir.path().display().to_string();
    // A second process creating and claiming from the same pool at the same time.
    let child = std::thread::spawn(move || {
        run_child(
            "child_create_and_check_acls",
            &[("ORES_TEST_MANIFEST_DIR", path.as_str())],
        )
    });
    let here = create_and_check_acls(dir.path(), 4, 8);
    let stdout = child.join().unwrap();
    assert_eq!(here, 32);
    assert_eq!(child_value(&stdout, "checked").as_deref(), Some("24"));
}
