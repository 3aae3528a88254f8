//! The lifecycle with an administrator that is not a superuser but has CREATEDB and
//! CREATEROLE, as managed PostgreSQL services give, on the run's private test
//! cluster (where the tests may create and drop such a login freely).

use crate::common;

use common::fixture;

use ores_sql::lifecycle::entity::recreate_entity_with;
use ores_sql::lifecycle::reset::reset_system;
use ores_sql::server::admin::{connect_admin, connect_admin_to};
use ores_sql::server::roles::roles_for;
use ores_sql::testing::{EmbeddedCluster, unique_label};
use ores_sql::{Config, Error, RunOptions};

/// An environment on the private cluster, and a login of its own that is not a
/// superuser; both removed on drop (as the cluster's superuser).
struct Managed {
    /// The cluster's superuser, aimed at the environment.
    su: Config,
    /// The same environment through the managed login.
    config: Config,
    /// What every run takes: ending other sessions, as a test environment's runs do.
    options: RunOptions,
    admin: String,
}

impl Managed {
    fn new(prefix: &str) -> Managed {
        Managed::with_attributes(prefix, "CREATEDB CREATEROLE INHERIT")
    }

    fn with_attributes(prefix: &str, attributes: &str) -> Managed {
        let cluster = EmbeddedCluster::for_this_run().expect("private test cluster");
        let base = cluster.config(Config::load().expect("configuration"));
        let env = unique_label(prefix);
        let su = base.with_env(&env).unwrap();
        // Not named like an environment's role, so no sweep mistakes it for one.
        let admin = format!("mgd_{env}");
        connect_admin(&su)
            .unwrap()
            .batch_execute(&format!(
                "CREATE ROLE \"{admin}\" LOGIN NOSUPERUSER {attributes}"
            ))
            .unwrap();
        let mut config = su.clone();
        config.admin_user = admin.clone();
        Managed {
            su,
            config,
            options: RunOptions::new().kill(true),
            admin,
        }
    }

    fn env(&self) -> &str {
        &self.su.env
    }

    /// Roles the managed login is a member of.
    fn memberships(&self) -> Vec<String> {
        connect_admin(&self.su)
            .unwrap()
            .query(
                "SELECT r.rolname::text FROM pg_auth_members m
                   JOIN pg_roles r ON r.oid = m.roleid
                  WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)
                  ORDER BY 1",
                &[&self.admin],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The environment's roles that exist, and databases named after it.
    fn leftovers(&self) -> (Vec<String>, Vec<String>) {
        let names: Vec<String> = roles_for(self.env()).into_iter().map(|r| r.name).collect();
        let roles = common::existing_roles(&self.su, &names);
        let mut c = connect_admin(&self.su).unwrap();
        let dbs = c
            .query(
                "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
                &[&self.su.database],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        (roles, dbs)
    }

    /// A superuser session on the environment's database.
    fn db(&self) -> postgres::Client {
        connect_admin_to(&self.su, &self.su.database).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.db().query_one(sql, &[]).unwrap().get(0)
    }

    /// A session as one of the environment's login roles (the cluster trusts it).
    fn login(&self, suffix: &str, database: &str) -> postgres::Client {
        self.su
            .role_pg_config(&format!("ores_{}_{suffix}", self.env()), None)
            .dbname(database)
            .connect(postgres::NoTls)
            .unwrap()
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        if let Err(e) = ores_sql::teardown_with(&self.su, &self.options) {
            eprintln!("warning: could not tear down {}: {e}", self.su.env);
        }
        if let Ok(mut c) = connect_admin(&self.su) {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", self.admin));
        }
    }
}

fn owner_of(m: &Managed) -> String {
    format!("ores_{}_owner", m.env())
}

#[test]
fn recreate_twice_then_teardown_as_a_managed_admin_leaves_nothing() {
    let m = Managed::new("mgr");
    let first =
        ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &m.options).unwrap();
    assert!(!first.replaced);
    let owner = owner_of(&m);
    let mut db = m.db();
    let db_owner: String = db
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(db_owner, owner);
    // The trusted extensions belong to the database's owner, not to the login.
    let extensions: Vec<(String, String)> = db
        .query(
            "SELECT extname::text, pg_get_userbyid(extowner)::text FROM pg_extension
              WHERE extname <> 'plpgsql' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: Vec<(String, String)> = ["btree_gist", "pg_trgm", "pgcrypto"]
        .iter()
        .map(|e| (e.to_string(), owner.clone()))
        .collect();
    assert_eq!(extensions, expected);
    drop(db);

    // The swap path, with a service connected that must be turned out: the login
    // needs that service's rights for it, and must give them back afterwards.
    let mut service = m.login("iam_service", &m.su.database);
    service.batch_execute("SELECT 1").unwrap();
    let second =
        ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &m.options).unwrap();
    assert!(second.replaced);
    assert!(
        service.batch_execute("SELECT 1").is_err(),
        "the service session survived the swap"
    );
    assert_eq!(m.memberships(), vec![owner.clone()]);

    // The login owns nothing in the database but the engine's build record (made
    // before the tree's scripts, so the tree can attach nothing to it): everything
    // else is the owner group's.
    let owned_by_admin = m.count(&format!(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = '{a}'::regrole
                    -- the record table's TOAST table and its index go with it
                    AND relnamespace NOT IN ('ores_sql'::regnamespace, 'pg_toast'::regnamespace))
              + (SELECT count(*) FROM pg_proc WHERE proowner = '{a}'::regrole)
              + (SELECT count(*) FROM pg_type WHERE typowner = '{a}'::regrole
                    AND typnamespace <> 'ores_sql'::regnamespace)
              + (SELECT count(*) FROM pg_namespace WHERE nspowner = '{a}'::regrole
                    AND nspname <> 'ores_sql')
              + (SELECT count(*) FROM pg_extension WHERE extowner = '{a}'::regrole)",
        a = m.admin
    ));
    assert_eq!(owned_by_admin, 0);
    assert_eq!(
        m.count(&format!(
            "SELECT count(*) FROM pg_class WHERE oid = 'ores_sql.builds'::regclass
                AND relowner = '{}'::regrole",
            m.admin
        )),
        1
    );
    let attributes: (bool, bool, bool, bool) = connect_admin(&m.su)
        .unwrap()
        .query_one(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = $1",
            &[&m.admin],
        )
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .unwrap();
    assert_eq!(attributes, (false, true, true, false));

    let report = ores_sql::teardown_with(&m.config, &m.options).unwrap();
    assert!(report.database_dropped);
    assert_eq!(m.leftovers(), (vec![], vec![]));
    assert!(m.memberships().is_empty());
    // Nothing anywhere depends on the login: it can be dropped as it is.
    connect_admin(&m.su)
        .unwrap()
        .batch_execute(&format!("DROP ROLE \"{}\"", m.admin))
        .unwrap();
}

#[test]
fn setup_as_a_managed_admin_builds_once_and_refuses_a_second_time() {
    let m = Managed::new("mgs");
    let report =
        ores_sql::setup_with(&m.config, ores_sql::Manifest::compiled(), &m.options).unwrap();
    assert!(!report.replaced);
    assert!(m.count("SELECT count(*) FROM ores_database_builds_tbl") >= 1);
    match ores_sql::setup_with(&m.config, ores_sql::Manifest::compiled(), &m.options) {
        Err(Error::AlreadyExists(db)) => assert_eq!(db, m.su.database),
        other => panic!("second setup: {other:?}"),
    }
    // A drop of the database by name, as `compass db drop` does it.
    assert!(ores_sql::lifecycle::drop::drop_named(&m.config, &m.su.database, false).unwrap());
    let (roles, dbs) = m.leftovers();
    assert_eq!(roles.len(), roles_for(m.env()).len());
    assert!(dbs.is_empty(), "{dbs:?}");
}

#[test]
fn an_untrusted_extension_is_refused_before_anything_is_made() {
    let m = Managed::new("mgx");
    let mut config = m.config.clone();
    config.extensions.push("dblink".into());
    let err =
        ores_sql::recreate_with(&config, ores_sql::Manifest::compiled(), &m.options).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::AdminPrivilege { .. }), "{err:?}");
    assert!(text.contains("dblink"), "{text}");
    assert!(text.contains("SUPERUSER"), "{text}");
    assert!(text.contains(&m.admin), "{text}");
    assert_eq!(m.leftovers(), (vec![], vec![]));
    assert!(m.memberships().is_empty());

    // The same configuration is fine for a superuser: the refusal is about rights.
    let mut su = m.su.clone();
    su.extensions.push("dblink".into());
    ores_sql::recreate_with(&su, ores_sql::Manifest::compiled(), &m.options).unwrap();
}

#[test]
fn a_login_without_createrole_is_refused_before_anything_is_made() {
    let m = Managed::with_attributes("mgc", "CREATEDB INHERIT");
    let err =
        ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &m.options).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::AdminPrivilege { .. }), "{err:?}");
    assert!(text.contains("CREATEROLE"), "{text}");
    assert!(!text.contains("CREATEDB and"), "{text}");
    assert_eq!(m.leftovers(), (vec![], vec![]));
}

#[test]
fn entity_counts_and_checks_every_tenants_rows_as_a_managed_admin() {
    let m = Managed::new("mge");
    let schema = fixture("entity_cli");
    ores_sql::recreate_with(&m.config, &schema, &m.options).unwrap();
    let types = "ores_iam_tenant_types_tbl";
    let tenants = "ores_iam_tenants_tbl";
    // A tenant the forced policy hides from a session that chose no tenant, of a
    // type the populate script does not bring back.
    m.db()
        .batch_execute(&format!(
            "INSERT INTO {types} (code, name) VALUES ('extra', 'Extra');
             INSERT INTO {tenants} (code, type_code) VALUES ('acme', 'extra');"
        ))
        .unwrap();
    let all_tenants = m.count(&format!("SELECT count(*) FROM {tenants}"));
    assert_eq!(all_tenants, 2);

    match recreate_entity_with(&m.config, &schema, "iam_tenants", false) {
        Err(Error::EntityHasRows { rows, .. }) => {
            assert_eq!(rows, vec![(tenants.to_string(), all_tenants)]);
        }
        other => panic!("recreating a table with rows: {other:?}"),
    }

    let err = recreate_entity_with(&m.config, &schema, "iam_tenant_types", true).unwrap_err();
    assert!(err.to_string().contains("restoring foreign key"), "{err}");
    assert_eq!(m.count(&format!("SELECT count(*) FROM {tenants}")), 2);
    let forced = m.count(&format!(
        "SELECT count(*) FROM pg_class WHERE relname IN ('{types}', '{tenants}') AND relforcerowsecurity"
    ));
    assert_eq!(
        forced, 1,
        "only the tenants table forces RLS in the fixture"
    );

    // Once nothing refers to the missing type, it goes through, and FORCE stays.
    m.db()
        .batch_execute(&format!("DELETE FROM {tenants} WHERE code = 'acme'"))
        .unwrap();
    let report = recreate_entity_with(&m.config, &schema, "iam_tenant_types", true).unwrap();
    assert_eq!(report.foreign_keys_restored.len(), 1, "{report:?}");
    let forced: bool = m
        .db()
        .query_one(
            &format!("SELECT relforcerowsecurity FROM pg_class WHERE relname = '{tenants}'"),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(forced);
    assert_eq!(m.memberships(), vec![owner_of(&m)]);
}

#[test]
fn reset_and_validate_work_as_a_managed_admin() {
    let m = Managed::new("mgv");
    ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &m.options).unwrap();
    let mut iam = m.login("iam_service", &m.su.database);
    iam.batch_execute(
        "SET ores.service = 'iam';
         SET ores.tenant_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
         INSERT INTO ores_iam_tenants_tbl (code, name, type_code) VALUES ('acme', 'acme', 'test');",
    )
    .unwrap();
    drop(iam);
    let current = "SELECT count(*) FROM ores_iam_tenants_tbl WHERE valid_to = ores_utility_infinity_timestamp_fn()";
    assert_eq!(m.count(current), 2);
    reset_system(&m.config).unwrap();
    assert_eq!(m.count(current), 1, "the reset left a tenant behind");

    let managed = ores_sql::validate::run(&m.config).unwrap();
    let superuser = ores_sql::validate::run(&m.su).unwrap();
    let rules = |r: &ores_sql::validate::Report| {
        r.violations
            .iter()
            .map(|v| format!("{:?} {}", v.rule, v.object))
            .collect::<Vec<_>>()
    };
    assert_eq!(rules(&managed), rules(&superuser));
    assert!(superuser.plpgsql_checked > 0);
    assert_eq!(managed.plpgsql_checked, 0);
    let skipped: Vec<&str> = managed.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].contains("superuser"), "{skipped:?}");
    assert!(skipped[0].contains(&m.admin), "{skipped:?}");
}

#[test]
fn sessions_the_managed_admin_cannot_end_are_refused_before_anything_changes() {
    let m = Managed::new("mgk");
    let config = m.config.clone();
    ores_sql::recreate_with(&config, ores_sql::Manifest::compiled(), &m.options).unwrap();
    // A superuser's session: no login but a superuser may end it.
    let mut other = m.db();
    other.batch_execute("SELECT 1").unwrap();

    // Without terminating, the session is seen (its details are not shown to this
    // login) and refused as for a superuser.
    let polite = m.options.clone().kill(false);
    match ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &polite) {
        Err(Error::ActiveConnections { sessions, .. }) => assert_eq!(sessions.len(), 1),
        other => panic!("recreate with a session open: {other:?}"),
    }
    let err =
        ores_sql::recreate_with(&config, ores_sql::Manifest::compiled(), &m.options).unwrap_err();
    assert!(matches!(err, Error::AdminPrivilege { .. }), "{err:?}");
    assert!(err.to_string().contains("postgres"), "{err}");
    let err = ores_sql::teardown_with(&config, &m.options).unwrap_err();
    assert!(matches!(err, Error::AdminPrivilege { .. }), "{err:?}");

    other.batch_execute("SELECT 1").unwrap();
    let (roles, dbs) = m.leftovers();
    assert_eq!(roles.len(), roles_for(m.env()).len());
    let db = m.su.database.clone();
    assert_eq!(dbs, vec![db.clone(), format!("{db}__template")]);
    let open: bool = other
        .query_one(
            "SELECT datallowconn FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(open);
    assert_eq!(m.memberships(), vec![owner_of(&m)]);
}

/// The report: `compass db recreate -y` as such a login, and the commands
/// that follow it, through the binary.
#[cfg(feature = "cli")]
#[test]
fn compass_commands_work_as_a_managed_admin() {
    use predicates::prelude::*;
    let m = Managed::new("mgb");
    let dotenv = tempfile::NamedTempFile::new().unwrap();
    let compass = || {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_compass"));
        cmd.env("ORES_DOTENV", dotenv.path())
            .env("PGHOST", &m.config.host)
            .env("PGPORT", m.config.port.to_string())
            .env("PGUSER", &m.admin)
            .env("PGDATABASE", &m.config.admin_database)
            .env("ORES_ENV", m.env())
            .env_remove("PGPASSWORD")
            .env_remove("ORES_DB_NAME")
            .env_remove("ORES_DB_EXTENSIONS")
            .env_remove("RUST_LOG")
            .env_remove("ORES_PSQL");
        cmd
    };
    let database = m.su.database.as_str();
    compass().args(["db", "recreate", "-y"]).assert().success();
    compass().args(["db", "recreate", "-y"]).assert().success();
    compass()
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains(database));
    compass().args(["db", "version"]).assert().success();
    compass()
        .args(["db", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(database));
    compass()
        .args(["db", "roles"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("ores_{}_owner", m.env())));
    compass().args(["db", "connections"]).assert().success();
    compass()
        .args(["db", "validate"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "SKIPPED P001: plpgsql_check is not a trusted extension, so only a superuser may install it, and the administrative login {} is not one",
            m.admin
        )));
    compass()
        .args(["db", "reset-system", "-y"])
        .assert()
        .success();
    compass()
        .args([
            "db",
            "recreate-entity",
            "refdata_currencies",
            "--force",
            "-y",
        ])
        .assert()
        .success();
    // Another service's session is turned out by --kill.
    let mut service = m.login("refdata_service", database);
    service.batch_execute("SELECT 1").unwrap();
    compass()
        .args(["db", "connections", "--kill", "-y"])
        .assert()
        .success();
    assert!(service.batch_execute("SELECT 1").is_err());
    // Roles dropped and made afresh, then everything removed.
    compass()
        .args(["env", "recreate", "-e", m.env(), "-y", "-k"])
        .assert()
        .success();
    assert_eq!(m.memberships(), vec![owner_of(&m)]);
    compass()
        .args(["env", "teardown", "-e", m.env(), "-y"])
        .assert()
        .success();
    assert_eq!(m.leftovers(), (vec![], vec![]));
    assert!(m.memberships().is_empty());
    compass().args(["db", "recreate", "-y"]).assert().success();
    compass().args(["db", "teardown", "-y"]).assert().success();
    assert_eq!(m.leftovers(), (vec![], vec![]));
    assert!(m.memberships().is_empty());
}

#[test]
fn a_noinherit_login_is_refused_before_anything_is_made() {
    let m = Managed::with_attributes("mgn", "CREATEDB CREATEROLE NOINHERIT");
    let err =
        ores_sql::setup_with(&m.config, ores_sql::Manifest::compiled(), &m.options).unwrap_err();
    assert!(matches!(err, Error::AdminPrivilege { .. }), "{err:?}");
    assert!(err.to_string().contains("INHERIT"), "{err}");
    assert_eq!(m.leftovers(), (vec![], vec![]));
}

#[test]
fn a_managed_admin_recovers_an_interrupted_run_and_takes_back_what_one_left() {
    let m = Managed::new("mgi");
    ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &m.options).unwrap();
    let owner = owner_of(&m);
    let db = m.su.database.clone();
    // What a run killed at the wrong moment leaves: a half-built staging database,
    // the previous database under its retired name (the swap never finished), and
    // the login still a member of a service it was ending the sessions of.
    let service = format!("ores_{}_iam_service", m.env());
    let mut su = connect_admin(&m.su).unwrap();
    for sql in [
        format!("ALTER DATABASE \"{db}\" RENAME TO \"{db}__retired\""),
        format!("CREATE DATABASE \"{db}__staging\" OWNER \"{owner}\""),
        // Granted as the login itself, as signalling() does.
        format!(
            "SET ROLE \"{a}\"; GRANT \"{service}\" TO \"{a}\"; RESET ROLE",
            a = m.admin
        ),
    ] {
        su.batch_execute(&sql).unwrap();
    }
    drop(su);
    assert_eq!(m.memberships(), vec![service.clone(), owner.clone()]);

    let report =
        ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &m.options).unwrap();
    assert!(
        report.replaced,
        "the retired database was not put back first"
    );
    // No staging or retired copy is left; the cached template of the build is kept.
    assert_eq!(m.leftovers().1, vec![db.clone(), format!("{db}__template")]);
    assert_eq!(m.memberships(), vec![owner]);
}

#[test]
fn an_entry_tree_builds_as_a_managed_admin_and_ends_up_the_owner_groups() {
    let m = Managed::new("mge");
    let mut config = m.config.clone();
    config
        .passwords
        .insert("wt_user".into(), ores_sql::Secret::new("managed-wt"));
    ores_sql::recreate_with(&config, &fixture("entry_tree"), &m.options).unwrap();
    let owners: Vec<String> = connect_admin_to(&m.su, &m.su.database)
        .unwrap()
        .query(
            "SELECT DISTINCT pg_get_userbyid(c.relowner)::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(owners, vec![owner_of(&m)]);
    // The scripts ran as the tree's DDL user; the login did not keep that membership.
    assert_eq!(m.memberships(), vec![owner_of(&m)]);
}

#[test]
fn a_parallel_build_as_a_managed_admin_holds_what_the_one_transaction_build_holds() {
    // Each worker takes the owner group's role and clears its session after every
    // script, all of which a login without superuser may do.
    let m = Managed::new("mgp");
    let one = m.options.clone().workers(1);
    let full = ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &one).unwrap();
    assert_eq!(full.path.as_str(), "full");
    let sequential = common::row_counts(&m.su, &m.su.database);
    let parallel = m.options.clone().rebuild(true).workers(2);
    assert_eq!(
        ores_sql::recreate_with(&m.config, ores_sql::Manifest::compiled(), &parallel)
            .unwrap()
            .path
            .as_str(),
        "parallel"
    );
    assert!(sequential.iter().any(|(_, n)| *n > 0));
    assert_eq!(common::row_counts(&m.su, &m.su.database), sequential);
}
