//! The hostile probe of issue 28, one test per finding: each tries what the probe did
//! and expects the refusal or the fixed behaviour. Real server, no mocks; every name
//! is unique to the test process and everything made is removed.

use ores_sql::config::ident::quote_ident;
use ores_sql::server::admin::{connect_admin, database_exists};
use ores_sql::testing::names::test_db_name;
use ores_sql::testing::owner::{Owner, host_tag};
use ores_sql::testing::{ANCHOR_APP, ScratchEnv, TestDatabase, pool, template};
use ores_sql::{Config, Error, Manifest};
use std::process::Command;
use std::time::{Duration, Instant};

fn admin() -> postgres::Client {
    connect_admin(&Config::load().unwrap()).unwrap()
}

/// A short label no other process uses, leaving room for a `_<ending>`.
fn short_label(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}{:x}{:x}", std::process::id() & 0xffff, nanos & 0xfff)
}

/// A one-table manifest of its own (its own template key).
fn unique_manifest(tag: &str) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("create/01_iam/010_iam_widgets.sql");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(
        &script,
        format!(
            "-- {tag} {}\nCREATE TABLE ores_iam_widgets_tbl (id int PRIMARY KEY, name text);\n",
            ores_sql::testing::unique_label("m")
        ),
    )
    .unwrap();
    let m = Manifest::from_dir(dir.path()).unwrap();
    (dir, m)
}

fn roles_like(admin: &mut postgres::Client, prefix: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)",
            &[&prefix],
        )
        .unwrap()
        .get(0)
}

/// Finding 1: `g` and `g_test` both named `ores_g_test_ddl_user`, `g` and `g_iam`
/// both `ores_g_iam_service`. Such labels are refused by every entry point before
/// any role or database exists: the library, `.env` loading and `compass`.
#[test]
fn labels_whose_roles_alias_another_environment_are_refused_before_anything_is_made() {
    let base = short_label("g");
    let mut admin = admin();
    for ending in ["test", "iam", "refdata"] {
        let label = format!("{base}_{ending}");
        let refused = Config::load().unwrap().with_env(&label).unwrap_err();
        assert!(
            matches!(&refused, Error::InvalidIdentifier { reason, .. } if reason.contains(&format!("_{ending}"))),
            "{refused}"
        );
        // A configuration changed by hand past with_env is checked again.
        let mut config = Config::load().unwrap();
        config.env = label.clone();
        assert!(ores_sql::recreate(&config).is_err());
        let out = Command::new(env!("CARGO_BIN_EXE_compass"))
            .args(["db", "recreate", "-y"])
            .env("ORES_ENV", &label)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("choose a label"), "{stderr}");
        assert_eq!(roles_like(&mut admin, &format!("ores_{label}_")), 0);
    }
}

/// Finding 1, the other half: a role whose mark names another environment (made
/// before labels were checked, or by another tool) is never adopted or dropped.
#[test]
fn a_role_marked_for_another_environment_is_neither_adopted_nor_dropped() {
    let env = ScratchEnv::new("mk").unwrap();
    let mut admin = admin();
    let role = format!("ores_{}_cli_user", env.config.env);
    admin
        .batch_execute(&format!(
            "CREATE ROLE {r} LOGIN; COMMENT ON ROLE {r} IS 'ores-sql env=someone_else';",
            r = quote_ident(&role)
        ))
        .unwrap();
    let refused = ores_sql::recreate(&env.config).unwrap_err();
    let dropped = ores_sql::teardown(&env.config);
    let still_there = roles_like(&mut admin, &role);
    let made = database_exists(&mut admin, &env.config.database).unwrap();
    admin
        .batch_execute(&format!("DROP ROLE {}", quote_ident(&role)))
        .unwrap();
    assert!(
        matches!(&refused, Error::ForeignRole { owner, .. } if owner == "someone_else"),
        "{refused}"
    );
    assert!(dropped.is_err(), "teardown dropped a role of someone_else");
    assert_eq!(still_there, 1);
    assert!(!made, "a database was made for a refused environment");
    assert_eq!(
        roles_like(&mut admin, &format!("ores_{}_", env.config.env)),
        0,
        "roles were made before the refusal"
    );
}

/// Finding 9: `GRANT ores_E_owner TO ores_E_iam_service` survived recreate. It is
/// reported by `db roles` and `db validate` (C013) and revoked by recreate; every
/// role carries its environment's mark.
#[test]
fn a_membership_granted_by_hand_is_reported_and_revoked_by_recreate() {
    let env = ScratchEnv::new("mb").unwrap();
    let config = &env.config;
    ores_sql::recreate(config).unwrap();
    let owner = format!("ores_{}_owner", config.env);
    let iam = format!("ores_{}_iam_service", config.env);
    let mut admin = admin();
    let mark: String = admin
        .query_one(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
            &[&iam],
        )
        .unwrap()
        .get(0);
    assert_eq!(mark, format!("ores-sql env={}", config.env));
    admin
        .batch_execute(&format!(
            "GRANT {} TO {}",
            quote_ident(&owner),
            quote_ident(&iam)
        ))
        .unwrap();

    let roles = ores_sql::inspect::roles(config, &config.env).unwrap();
    let status = roles.iter().find(|r| r.name == iam).unwrap();
    assert!(
        status.problems.iter().any(|p| p.contains(&owner)),
        "{status:?}"
    );
    let report = ores_sql::validate::run(config).unwrap();
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.object == iam && v.message.contains(&owner)),
        "{:?}",
        report.violations
    );

    ores_sql::recreate(config).unwrap();
    let roles = ores_sql::inspect::roles(config, &config.env).unwrap();
    let status = roles.iter().find(|r| r.name == iam).unwrap();
    assert_eq!(
        status.member_of,
        vec![format!("ores_{}_service", config.env)]
    );
    assert!(status.problems.is_empty(), "{status:?}");
}

/// Finding 6: an environment database named like the harness's (`ores_t_...` was
/// swept as a dead test database, `ores_tp_...` claimed as a pool clone).
#[test]
fn environment_databases_cannot_take_the_harness_prefixes() {
    for name in [
        "ores_t_0123456789ab_beef_1_2_0",
        "ores_tp_0123456789ab_x",
        "ores_tpl_0123456789ab",
    ] {
        let config = Config::load().unwrap().with_database(name).unwrap();
        let refused = ores_sql::recreate(&config).unwrap_err();
        assert!(
            matches!(&refused, Error::Protected { reason, .. } if reason.contains("test harness")),
            "{name}: {refused}"
        );
        assert!(!database_exists(&mut admin(), name).unwrap());
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ready_clones(admin: &mut postgres::Client, key: &str) -> Vec<String> {
    admin
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)
                AND shobj_description(oid, 'pg_database') = $2 ORDER BY oid",
            &[&format!("ores_tp_{key}_"), &pool::READY_COMMENT],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn pool_clones(admin: &mut postgres::Client, key: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)",
            &[&format!("ores_tp_{key}_")],
        )
        .unwrap()
        .get(0)
}

/// Finding 4: the test DDL user could open `ores_tpl_<key>` (its group owned it) and
/// plant rows every later clone carried, and could use ready clones before they were
/// claimed. Finding 7: half-made clones of exited processes counted toward the pool,
/// which then never refilled.
#[test]
fn templates_and_ready_clones_are_closed_to_test_roles_and_the_pool_refills() {
    pool::set_pool_size(2);
    let (_dir, m) = unique_manifest("probe");
    let first = TestDatabase::with_manifest(&m).unwrap();
    let key = first.env().strip_prefix("t_").unwrap().to_string();
    let template = format!("ores_tpl_{key}");
    let mut admin = admin();
    let owner: String = admin
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&template],
        )
        .unwrap()
        .get(0);
    assert!(
        !owner.starts_with("ores_"),
        "{template} is owned by {owner}"
    );
    let mut ddl = first.ddl_user().unwrap();
    let opened = ddl.batch_execute(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        quote_ident(&template)
    ));
    assert!(opened.is_err(), "the DDL user opened {template}");

    wait_for("a ready clone", || {
        !ready_clones(&mut admin, &key).is_empty()
    });
    let clone = ready_clones(&mut admin, &key).remove(0);
    let altered = ddl.batch_execute(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        quote_ident(&clone)
    ));
    assert!(altered.is_err(), "the DDL user opened ready clone {clone}");
    let entered = first
        .pg_config("ddl_user")
        .dbname(&clone)
        .connect(postgres::NoTls);
    assert!(
        entered.is_err(),
        "the DDL user connected to ready clone {clone}"
    );

    // Half-made clones, as processes that exited mid-refill leave them (closed, not
    // marked ready), more of them than the pool holds.
    let dead = Owner {
        host: "dead".into(),
        pid: 1,
        start: 1,
    };
    let half: Vec<String> = (0..3)
        .map(|n| format!("ores_tp_{key}_{}_{n}", dead.tag()))
        .collect();
    for name in &half {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {} ALLOW_CONNECTIONS false",
                quote_ident(name),
                quote_ident(&template)
            ))
            .unwrap();
    }
    // Claims empty the pool; the refill after each must drop the half-made ones and
    // make ready ones again.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TestDatabase::with_manifest(&m).unwrap());
        wait_for("the pool to refill", || {
            ready_clones(&mut admin, &key).len() >= 2
        });
    }
    for name in &half {
        assert!(!database_exists(&mut admin, name).unwrap(), "{name} left");
    }
    assert_eq!(pool_clones(&mut admin, &key), 2);
    // A claimed clone is the test's, open to its roles.
    let mut c = held[3].ddl_user().unwrap();
    c.batch_execute("INSERT INTO ores_iam_widgets_tbl VALUES (1, 'x')")
        .unwrap();
}

/// Finding 5: a test process in another pid namespace whose anchor session was lost
/// had its live databases dropped by another process's sweep. Such a database now
/// stays while its lease is fresh, and goes once the lease is old.
#[test]
fn a_sweep_keeps_a_foreign_owners_databases_while_their_lease_is_fresh() {
    let foreign = Owner {
        host: if host_tag() == "beef" { "feed" } else { "beef" }.into(),
        pid: 7,
        start: 7,
    };
    let key = format!("{:012x}", std::process::id() as u64 * 7919 + 1);
    let name = test_db_name(&key, &foreign, 1);
    let mut admin = admin();
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
        .unwrap();
    admin
        .batch_execute(&template::renew_leases_sql(std::slice::from_ref(&name)))
        .unwrap();
    let kept = template::remove_orphans(&mut admin, &[], template::lease()).unwrap();
    let alive = database_exists(&mut admin, &name).unwrap();
    // The owner has been silent for longer than the lease.
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS '{}{}'",
            quote_ident(&name),
            template::LEASE_COMMENT,
            0
        ))
        .unwrap();
    let removed = template::remove_orphans(&mut admin, &[], template::lease()).unwrap();
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)));
    assert!(alive && !kept.contains(&name), "a live lease was swept");
    assert!(removed.contains(&name), "{removed:?}");
}

/// Finding 5, the lost anchor: this process's anchor is terminated; the next use of
/// the harness makes it again, so other processes see this one alive.
#[test]
fn a_lost_anchor_session_is_made_again() {
    let db = TestDatabase::new().unwrap();
    let tag = Owner::current().tag();
    let app = format!("{ANCHOR_APP}{tag}");
    let mut admin = admin();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap();
    let anchors = |admin: &mut postgres::Client| -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0)
    };
    wait_for("the anchor to go", || anchors(&mut admin) == 0);
    // A key this process has not used yet goes through the anchor.
    let (_dir, m) = unique_manifest("anchor");
    let other = TestDatabase::with_manifest(&m).unwrap();
    assert_eq!(anchors(&mut admin), 1);
    let live: Vec<String> = vec![tag];
    let removed = template::remove_orphans(&mut admin, &live, template::lease()).unwrap();
    assert!(!removed.iter().any(|n| n == db.name() || n == other.name()));
}

/// Finding 9: `env configure` deleted a pre-made `.env.<pid>.tmp` it had not created,
/// and knew only the compiled registry. Someone else's file is left as it was, and
/// `--sql-dir` writes the login roles of that tree (its `synthetic` service).
#[test]
fn env_configure_removes_nothing_it_did_not_create_and_writes_the_trees_roles() {
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join(format!(".env.{}.tmp", std::process::id()));
    std::fs::write(&planted, "someone else's").unwrap();
    ores_sql::config::configure::write_env_file(dir.path(), "cfg", false).unwrap();
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "someone else's");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/entry_tree");
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_compass"))
        .args(["env", "configure", "-e", "cfg", "--sql-dir", tree])
        .current_dir(other.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(other.path().join(".env")).unwrap();
    assert!(
        text.contains("ORES_DB_SYNTHETIC_SERVICE_PASSWORD="),
        "{text}"
    );
    assert!(
        !text.contains("ORES_DB_TRADING_SERVICE_PASSWORD="),
        "{text}"
    );
}
