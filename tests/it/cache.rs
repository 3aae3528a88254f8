//! Cached rebuilds: recreate clones the environment's template when nothing that
//! shapes the database changed, builds in full when anything did, and never lets the
//! template be reached.

use crate::common;

use ores_sql::lifecycle::cache::{spare_name, template_name};
use ores_sql::lifecycle::retire::wait_for_background;
use ores_sql::lifecycle::version::{BuildPath, build_info};
use ores_sql::server::admin::{connect_admin, connect_admin_to, database_exists};
use ores_sql::server::roles::roles_for;
use ores_sql::testing::ScratchEnv;
use ores_sql::{Config, Error, Manifest};
use std::path::{Path, PathBuf};

/// Every public table but the build record with its row count.
fn contents(config: &Config) -> Vec<(String, i64)> {
    let mut counts = common::row_counts(config, &config.database);
    counts.retain(|(t, _)| t != "ores_database_builds_tbl");
    counts
}

/// A copy of the repository's `sql/` tree that a test may change.
fn sql_tree() -> (tempfile::TempDir, PathBuf) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sql");
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sql"), &root);
    (dir, root)
}

fn recorded_path(config: &Config) -> Option<String> {
    let mut db = connect_admin_to(config, &config.database).unwrap();
    build_info(&mut db)
        .unwrap()
        .expect("build record")
        .build_path
}

/// Which of the environment's roles may connect to `database`.
fn who_may_connect(config: &Config, database: &str) -> Vec<String> {
    let names: Vec<String> = roles_for(&config.env).into_iter().map(|r| r.name).collect();
    connect_admin(config)
        .unwrap()
        .query(
            "SELECT rolname::text FROM pg_roles
              WHERE rolname = ANY($1) AND has_database_privilege(oid, $2, 'CONNECT')
              ORDER BY 1",
            &[&names, &database],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn an_unchanged_recreate_clones_the_template_which_nobody_can_reach() {
    let env = ScratchEnv::new("ca").unwrap();
    let first =
        ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    assert!(common::from_sql(first.path));
    assert!(matches!(
        recorded_path(&env.config).as_deref(),
        Some("full" | "parallel")
    ));
    let built = contents(&env.config);
    let access = who_may_connect(&env.config, &env.config.database);
    assert!(!access.is_empty());

    let template = template_name(&env.config.database);
    let mut admin = connect_admin(&env.config).unwrap();
    assert!(database_exists(&mut admin, &template).unwrap());
    // Closed, owned by a superuser, not a template anyone else may clone, and no role
    // of the environment holds CONNECT on it.
    let (closed, superuser_owned, is_template): (bool, bool, bool) = admin
        .query_one(
            "SELECT NOT datallowconn, r.rolsuper, datistemplate
               FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE datname = $1",
            &[&template],
        )
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    assert!(closed && superuser_owned && !is_template);
    assert!(who_may_connect(&env.config, &template).is_empty());
    assert!(connect_admin_to(&env.config, &template).is_err());
    let ddl = roles_for(&env.config.env)
        .into_iter()
        .find(|r| r.suffix == "ddl_user")
        .unwrap();
    let mut as_ddl = env.config.role_pg_config(&ddl.name, None);
    as_ddl.dbname(&template);
    assert!(as_ddl.connect(postgres::NoTls).is_err());
    // Naming the template is refused by every command.
    let aimed = env.config.clone().with_database(&template).unwrap();
    assert!(matches!(
        ores_sql::recreate_with(&aimed, Manifest::compiled(), &env.options),
        Err(Error::Protected { .. })
    ));

    // Something done to the live database after its build must not survive a
    // cached recreate: the copy comes from the build, not from the live database.
    connect_admin_to(&env.config, &env.config.database)
        .unwrap()
        .batch_execute("CREATE TABLE ores_iam_scribble_tbl (x int)")
        .unwrap();
    let second =
        ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    assert_eq!(second.path, BuildPath::Cached);
    assert!(second.replaced);
    assert_eq!(second.schema_hash, first.schema_hash);
    assert_eq!(recorded_path(&env.config).as_deref(), Some("cached"));
    assert_eq!(contents(&env.config), built);
    assert_eq!(
        who_may_connect(&env.config, &env.config.database),
        access,
        "database privileges are per copy and must be given again"
    );
    // A service logs in and reads what it is granted, as after a full build.
    let iam = roles_for(&env.config.env)
        .into_iter()
        .find(|r| r.suffix == "iam_service")
        .unwrap();
    let mut svc = env
        .config
        .role_pg_config(&iam.name, None)
        .connect(postgres::NoTls)
        .unwrap();
    svc.simple_query("SELECT count(*) FROM ores_database_builds_tbl")
        .unwrap();
    // The engine's record too: services read it (the drift check), never write it.
    svc.simple_query("SELECT schema_hash FROM ores_sql.builds")
        .unwrap();
    let denied = svc.simple_query("DELETE FROM ores_sql.builds").unwrap_err();
    assert_eq!(
        denied.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
}

#[test]
fn a_changed_script_invalidates_the_template() {
    let env = ScratchEnv::new("cs").unwrap();
    let (_dir, root) = sql_tree();
    let tree = Manifest::from_dir(&root).unwrap();
    assert!(common::from_sql(
        ores_sql::recreate_with(&env.config, &tree, &env.options)
            .unwrap()
            .path
    ));
    assert_eq!(
        ores_sql::recreate_with(&env.config, &tree, &env.options)
            .unwrap()
            .path,
        BuildPath::Cached
    );

    // A new table in an existing component: the template lacks it.
    let script = root.join("create/02_iam/990_iam_extras.sql");
    std::fs::write(
        &script,
        "CREATE TABLE ores_iam_extras_tbl (id integer PRIMARY KEY);\n",
    )
    .unwrap();
    let changed = Manifest::from_dir(&root).unwrap();
    let report = ores_sql::recreate_with(&env.config, &changed, &env.options).unwrap();
    // Built from the SQL, or from the last build with the new table applied: never
    // the template as it was.
    assert_ne!(report.path, BuildPath::Cached);
    assert_eq!(report.schema_hash, changed.schema_hash());
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    db.simple_query("SELECT * FROM ores_iam_extras_tbl")
        .unwrap();
    drop(db);
    assert_eq!(
        ores_sql::recreate_with(&env.config, &changed, &env.options)
            .unwrap()
            .path,
        BuildPath::Cached
    );
    // Back to the first tree: the template is of the changed one.
    assert!(common::from_sql(
        ores_sql::recreate_with(&env.config, &tree, &env.options)
            .unwrap()
            .path
    ));
}

#[test]
fn a_recreated_role_invalidates_the_template() {
    let env = ScratchEnv::new("cr").unwrap();
    ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    assert_eq!(
        ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options,)
            .unwrap()
            .path,
        BuildPath::Cached
    );
    // A login role holds nothing in the databases, so it can be dropped; recreate
    // makes it again under the same name with another identity.
    let role = roles_for(&env.config.env)
        .into_iter()
        .find(|r| r.suffix == "readonly_user")
        .unwrap()
        .name;
    connect_admin(&env.config)
        .unwrap()
        .batch_execute(&format!("DROP ROLE \"{role}\""))
        .unwrap();
    assert!(common::from_sql(
        ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options,)
            .unwrap()
            .path
    ));
    assert_eq!(
        ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options,)
            .unwrap()
            .path,
        BuildPath::Cached
    );
}

#[test]
fn rebuild_forces_a_full_build_and_teardown_removes_the_template() {
    let env = ScratchEnv::new("cb").unwrap();
    ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options).unwrap();
    let forced = env.options.clone().rebuild(true);
    assert!(common::from_sql(
        ores_sql::recreate_with(&env.config, Manifest::compiled(), &forced)
            .unwrap()
            .path
    ));
    assert!(matches!(
        recorded_path(&env.config).as_deref(),
        Some("full" | "parallel")
    ));
    // The forced build left a template of itself.
    assert_eq!(
        ores_sql::recreate_with(&env.config, ores_sql::Manifest::compiled(), &env.options,)
            .unwrap()
            .path,
        BuildPath::Cached
    );

    let template = template_name(&env.config.database);
    let mut admin = connect_admin(&env.config).unwrap();
    assert!(database_exists(&mut admin, &template).unwrap());
    // A second database of the environment, dropped by name: its template goes too.
    let other = format!("{}_b", env.config.database);
    let other_config = env.config.clone().with_database(&other).unwrap();
    ores_sql::recreate_with(&other_config, Manifest::compiled(), &env.options).unwrap();
    assert!(database_exists(&mut admin, &template_name(&other)).unwrap());
    ores_sql::lifecycle::drop::drop_named(&env.config, &other, true).unwrap();
    assert!(!database_exists(&mut admin, &template_name(&other)).unwrap());
    // A third whose database is gone another way: teardown still finds its template
    // (it holds objects of the environment's roles) and removes it with the roles.
    let third = format!("{}_c", env.config.database);
    let third_config = env.config.clone().with_database(&third).unwrap();
    ores_sql::recreate_with(&third_config, Manifest::compiled(), &env.options).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE \"{third}\""))
        .unwrap();
    ores_sql::teardown_with(&env.config, &env.options).unwrap();
    assert!(!database_exists(&mut admin, &template).unwrap());
    assert!(!database_exists(&mut admin, &template_name(&third)).unwrap());
    assert!(!database_exists(&mut admin, &env.config.database).unwrap());
}

#[test]
fn failures_keep_the_previous_database() {
    let env = ScratchEnv::new("cf").unwrap();
    let (_dir, root) = sql_tree();
    let tree = Manifest::from_dir(&root).unwrap();
    ores_sql::recreate_with(&env.config, &tree, &env.options).unwrap();
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    db.batch_execute("CREATE TABLE ores_iam_marker_tbl (x int)")
        .unwrap();

    // A cached recreate refused for a connected session changes nothing, and the
    // template stays usable.
    let polite = env.options.clone().kill(false);
    assert!(matches!(
        ores_sql::recreate_with(&env.config, &tree, &polite),
        Err(Error::ActiveConnections { .. })
    ));
    db.simple_query("SELECT * FROM ores_iam_marker_tbl")
        .unwrap();
    drop(db);

    // A broken script: the full build fails, the previous database stays.
    std::fs::write(
        root.join("create/02_iam/990_iam_broken.sql"),
        "SELECT 1;\nSELECT * FROM ores_iam_missing_tbl;\n",
    )
    .unwrap();
    let broken = Manifest::from_dir(&root).unwrap();
    match ores_sql::recreate_with(&env.config, &broken, &env.options) {
        Err(Error::Script(f)) => assert_eq!((f.sqlstate.as_str(), f.line), ("42P01", Some(2))),
        other => panic!("expected a script failure, got {other:?}"),
    }
    let mut db = connect_admin_to(&env.config, &env.config.database).unwrap();
    db.simple_query("SELECT * FROM ores_iam_marker_tbl")
        .unwrap();
    let mut admin = connect_admin(&env.config).unwrap();
    let staging = format!("{}__staging", env.config.database);
    assert!(!database_exists(&mut admin, &staging).unwrap());
    drop(db);
    // The template of the good tree was dropped as stale before the failed build, so
    // the next good recreate builds in full.
    std::fs::remove_file(root.join("create/02_iam/990_iam_broken.sql")).unwrap();
    assert!(common::from_sql(
        ores_sql::recreate_with(&env.config, &tree, &env.options)
            .unwrap()
            .path
    ));
}

/// `database`'s OID (kept by a rename, new for every copy), if it exists.
fn oid_of(admin: &mut postgres::Client, database: &str) -> Option<u32> {
    admin
        .query_opt(
            "SELECT oid FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .unwrap()
        .map(|r| r.get(0))
}

/// The database's privileges with the environment's label masked, as text.
fn database_acl(config: &Config, database: &str) -> String {
    connect_admin(config)
        .unwrap()
        .query_one(
            "SELECT coalesce(datacl::text, '') FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .unwrap()
        .get(0)
}

#[test]
fn the_work_after_the_swap_keeps_a_spare_copy_that_the_next_cached_recreate_takes() {
    let env = ScratchEnv::new("cp").unwrap();
    let config = env.config.clone();
    let options = env.options.clone().retire_in_background(true);
    let db = config.database.clone();
    let spare = spare_name(&db);
    let template = template_name(&db);
    assert!(common::from_sql(
        ores_sql::recreate_with(&config, Manifest::compiled(), &options)
            .unwrap()
            .path
    ));
    wait_for_background();
    let built = contents(&config);
    let acl = database_acl(&config, &db);
    let mut admin = connect_admin(&config).unwrap();

    // Kept as the template is: closed, owned by a superuser, labelled with the
    // template's key, and nobody's to connect to or to name.
    let (closed, superuser_owned, label, template_label): (bool, bool, String, String) = admin
        .query_one(
            "SELECT NOT d.datallowconn, r.rolsuper, shobj_description(d.oid, 'pg_database'),
                    shobj_description((SELECT oid FROM pg_database WHERE datname = $2), 'pg_database')
               FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1",
            &[&spare, &template],
        )
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .unwrap();
    assert!(closed && superuser_owned);
    assert_eq!(label, template_label);
    assert!(who_may_connect(&config, &spare).is_empty());
    assert!(connect_admin_to(&config, &spare).is_err());
    let aimed = config.clone().with_database(&spare).unwrap();
    assert!(matches!(
        ores_sql::recreate_with(&aimed, Manifest::compiled(), &options),
        Err(Error::Protected { .. })
    ));

    // The next cached recreate renames that very copy into place (a rename keeps
    // the OID), with what a clone gets: the build's contents, the record, the
    // database privileges. What was done to the live database is gone.
    connect_admin_to(&config, &db)
        .unwrap()
        .batch_execute("CREATE TABLE ores_iam_scribble_tbl (x int)")
        .unwrap();
    let spare_oid = oid_of(&mut admin, &spare).expect("a spare after the first build");
    // Refused for a connected session: nothing changes, the spare stays for later.
    let live_oid = oid_of(&mut admin, &db);
    let session = connect_admin_to(&config, &db).unwrap();
    let polite = options.clone().kill(false);
    assert!(matches!(
        ores_sql::recreate_with(&config, Manifest::compiled(), &polite),
        Err(Error::ActiveConnections { .. })
    ));
    drop(session);
    assert_eq!(oid_of(&mut admin, &db), live_oid);
    assert_eq!(oid_of(&mut admin, &spare), Some(spare_oid));
    let second = ores_sql::recreate_with(&config, Manifest::compiled(), &options).unwrap();
    assert_eq!(second.path, BuildPath::Cached);
    assert_eq!(oid_of(&mut admin, &db), Some(spare_oid));
    assert_eq!(recorded_path(&config).as_deref(), Some("cached"));
    assert_eq!(contents(&config), built);
    assert_eq!(database_acl(&config, &db), acl);
    let owner: String = admin
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&db],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        owner,
        ores_sql::server::roles::role_name(&config.env, "owner")
    );
    // ... and the background work makes the next one.
    wait_for_background();
    let next = oid_of(&mut admin, &spare).expect("a new spare");
    assert_ne!(next, spare_oid);

    // A spare that no longer carries the key is not taken: the recreate clones the
    // template, and the stale copy is replaced.
    admin
        .batch_execute(&format!("COMMENT ON DATABASE \"{spare}\" IS 'stale'"))
        .unwrap();
    assert_eq!(
        ores_sql::recreate_with(&config, Manifest::compiled(), &options)
            .unwrap()
            .path,
        BuildPath::Cached
    );
    assert_ne!(oid_of(&mut admin, &db), Some(next));
    assert_eq!(contents(&config), built);
    wait_for_background();
    assert!(oid_of(&mut admin, &spare).is_some());

    // A rebuild sets the template and spare aside rather than dropping them on its
    // critical path; the work after the swap drops them and makes a spare of the new
    // template.
    let stale: Vec<String> = ["__stale__template", "__stale__spare"]
        .iter()
        .map(|s| format!("{db}{s}"))
        .collect();
    let old_template = oid_of(&mut admin, &template).unwrap();
    let forced = options.clone().rebuild(true);
    assert!(common::from_sql(
        ores_sql::recreate_with(&config, Manifest::compiled(), &forced)
            .unwrap()
            .path
    ));
    wait_for_background();
    for s in &stale {
        assert_eq!(oid_of(&mut admin, s), None, "{s} is left");
    }
    assert_ne!(oid_of(&mut admin, &template), Some(old_template));
    assert!(oid_of(&mut admin, &spare).is_some());
    assert_eq!(contents(&config), built);

    // Teardown removes it with the template.
    ores_sql::teardown_with(&config, &options).unwrap();
    assert_eq!(oid_of(&mut admin, &spare), None);
    assert_eq!(oid_of(&mut admin, &template), None);
}

/// The databases whose names start with `database`, itself included.
fn named_after(config: &Config, database: &str) -> Vec<String> {
    connect_admin(config)
        .unwrap()
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
            &[&database],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn a_database_name_of_the_longest_allowed_length_takes_every_working_copy() {
    use ores_sql::config::ident::{MAX_DB_LEN, MAX_IDENT_LEN};
    let mut env = ScratchEnv::new("cl").unwrap();
    let base = &env.config.database;
    let name = format!("{base}_{}", "l".repeat(MAX_DB_LEN - base.len() - 1));
    assert!(matches!(
        env.config.clone().with_database(&format!("{name}l")),
        Err(Error::InvalidIdentifier { .. })
    ));
    // The environment's teardown (on drop, however the test ends) takes this name.
    env.config = env.config.clone().with_database(&name).unwrap();
    env.options.retire_in_background = true;
    let (config, options) = (env.config.clone(), env.options.clone());

    assert!(common::from_sql(
        ores_sql::recreate_with(&config, Manifest::compiled(), &options)
            .unwrap()
            .path
    ));
    wait_for_background();
    assert_eq!(
        ores_sql::recreate_with(&config, Manifest::compiled(), &options)
            .unwrap()
            .path,
        BuildPath::Cached
    );
    wait_for_background();
    // A forced rebuild sets the template and its spare aside under the longest
    // names the library makes, then drops them.
    let forced = options.clone().rebuild(true);
    assert!(common::from_sql(
        ores_sql::recreate_with(&config, Manifest::compiled(), &forced)
            .unwrap()
            .path
    ));
    wait_for_background();
    let made = named_after(&config, &name);
    assert_eq!(
        made,
        vec![name.clone(), spare_name(&name), template_name(&name)]
    );
    assert!(made.iter().all(|n| n.len() <= MAX_IDENT_LEN), "{made:?}");
    assert_eq!(
        ores_sql::recreate_with(&config, Manifest::compiled(), &options)
            .unwrap()
            .path,
        BuildPath::Cached
    );

    ores_sql::teardown_with(&config, &options).unwrap();
    wait_for_background();
    assert_eq!(named_after(&config, &name), Vec::<String>::new());
}

/// An entry tree that keeps what its variable and two values read through
/// backticks (a login's password, another setting) were when it was built.
fn reading_tree(greeting: &str) -> tempfile::TempDir {
    common::tree(&[
        (
            "ores-sql.toml",
            format!("entry = [\"setup.sql\"]\n[variables]\ngreeting = \"{greeting}\"\n").as_str(),
        ),
        (
            "setup.sql",
            "create table ores_iam_kept_tbl (what text not null, value text);\n\
             \\set pw `echo \"$ORES_DB_IAM_SERVICE_PASSWORD\"`\n\
             \\set region `echo \"$ORES_TEST_CACHE_REGION\"`\n\
             insert into ores_iam_kept_tbl values ('greeting', :'greeting'), ('pw', md5(:'pw')), ('region', :'region');\n",
        ),
    ])
}

fn kept(config: &Config) -> Vec<String> {
    let mut db = connect_admin_to(config, &config.database).unwrap();
    common::texts(
        &mut db,
        "SELECT what || '=' || value FROM ores_iam_kept_tbl ORDER BY what",
    )
}

/// Each input of the result that is not a script (the tree's variables, a password
/// and another setting the tree reads) is in the cache key: changing any one builds
/// in full and the new value is what the database holds; nothing changed clones.
#[test]
fn every_input_the_tree_reads_is_in_the_cache_key() {
    // SAFETY: nextest runs each test in a process of its own, before other threads.
    unsafe { std::env::set_var("ORES_TEST_CACHE_REGION", "north") };
    let env = ScratchEnv::new("ck").expect("scratch env");
    let mut config = env.config.clone();
    config.passwords.insert(
        "iam_service".into(),
        ores_sql::Secret::new("first-password"),
    );
    let build = |config: &Config, greeting: &str| {
        let tree = reading_tree(greeting);
        let m = Manifest::from_dir(tree.path()).unwrap();
        let report = ores_sql::recreate_with(config, &m, &env.options).unwrap();
        report.path.as_str().to_string()
    };
    build(&config, "hello");
    assert_eq!(build(&config, "hello"), "cached", "nothing changed");
    let server = env.config.clone();
    let md5 = |s: &str| {
        let mut admin = connect_admin(&server).unwrap();
        common::texts(&mut admin, &format!("SELECT md5('{s}')"))[0].clone()
    };

    assert!(
        matches!(build(&config, "bonjour").as_str(), "full" | "parallel"),
        "a changed variable"
    );
    assert_eq!(
        kept(&config),
        [
            "greeting=bonjour",
            &format!("pw={}", md5("first-password")),
            "region=north"
        ]
    );
    assert_eq!(build(&config, "bonjour"), "cached");

    config.passwords.insert(
        "iam_service".into(),
        ores_sql::Secret::new("rotated-password"),
    );
    assert!(
        matches!(build(&config, "bonjour").as_str(), "full" | "parallel"),
        "a rotated password"
    );
    assert_eq!(kept(&config)[1], format!("pw={}", md5("rotated-password")));

    unsafe { std::env::set_var("ORES_TEST_CACHE_REGION", "south") };
    assert!(
        matches!(build(&config, "bonjour").as_str(), "full" | "parallel"),
        "another setting's value"
    );
    assert_eq!(kept(&config)[2], "region=south");
    assert_eq!(build(&config, "bonjour"), "cached");

    // The key shows no value, only digests.
    let template = template_name(&config.database);
    let mut admin = connect_admin(&config).unwrap();
    let label = common::texts(
        &mut admin,
        &format!(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '{template}'"
        ),
    );
    assert!(!label[0].contains("rotated-password") && !label[0].contains("south"));
}
