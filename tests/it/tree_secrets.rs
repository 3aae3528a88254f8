//! A value a tree reads through a backtick never reaches a log (issue 23, finding 4):
//! not the server's, with `log_statement = all` for the DDL login and with the
//! default error logging, and not the caller's report of a failing statement; on one
//! connection and two. A tree cannot read the administrator's credentials.
//!
//! On the run's private cluster, whose log file the test reads.

use crate::common;

use ores_sql::server::admin::{connect_admin, connect_admin_to};
use ores_sql::testing::{EmbeddedCluster, unique_label};
use ores_sql::{Config, Error, Manifest, RunOptions, Secret};

fn tree(populate: &str) -> tempfile::TempDir {
    common::tree(&[
        ("ores-sql.toml", "entry = [\"setup.sql\"]\n"),
        (
            "setup.sql",
            "\\ir create/kept.sql\n\\ir populate/kept.sql\n",
        ),
        (
            "create/kept.sql",
            "create table ores_iam_kept_tbl (what text not null, value text);\n",
        ),
        ("populate/kept.sql", populate),
    ])
}

/// Stores digests of the password (so the test sees it arrived intact), through a
/// statement and through `\gset`.
const GOOD: &str = "\\set pw `echo \"$ORES_DB_IAM_SERVICE_PASSWORD\"`\n\
insert into ores_iam_kept_tbl values ('statement', md5(:'pw'));\n\
select md5(:'pw') as digest \\gset\n\
insert into ores_iam_kept_tbl values ('gset', :'digest');\n";

fn kept(config: &Config) -> Vec<String> {
    let mut db = connect_admin_to(config, &config.database).unwrap();
    common::texts(
        &mut db,
        "SELECT what || '=' || coalesce(value, 'null') FROM ores_iam_kept_tbl ORDER BY what",
    )
}

#[test]
fn a_backtick_value_never_reaches_the_server_log_or_the_report() {
    let admin_password = format!("admin-{}", unique_label("pw"));
    // SAFETY: nextest runs each test in a process of its own, before other threads.
    unsafe { std::env::set_var("PGPASSWORD", &admin_password) };
    let cluster = EmbeddedCluster::for_this_run().expect("private test cluster");
    let base = cluster.config(Config::load().expect("configuration"));
    let mut config = base.with_env(&unique_label("sec")).unwrap();
    let options = RunOptions::new().kill(true).rebuild(true);
    // A quote, as psql's :'pw' doubles it, and a tab, as COPY escapes it.
    let secret = format!("pa'ss\tword-{}", unique_label("s"));
    config
        .passwords
        .insert("iam_service".into(), Secret::new(secret.clone()));
    let digest = format!("{:x}", md5_of(&secret));

    let good = tree(GOOD);
    let good = Manifest::from_dir(good.path()).unwrap();
    ores_sql::recreate_with(&config, &good, &options).unwrap();
    // Every statement of the DDL login's sessions is logged from here on.
    let ddl = format!("ores_{}_ddl_user", config.env);
    connect_admin(&config)
        .unwrap()
        .batch_execute(&format!("ALTER ROLE \"{ddl}\" SET log_statement = 'all'"))
        .unwrap();

    let expected = [format!("gset={digest}"), format!("statement={digest}")];
    let bad = tree(&format!(
        "{GOOD}insert into ores_iam_kept_tbl values ('bad', :'pw'::integer::text);\n"
    ));
    let bad = Manifest::from_dir(bad.path()).unwrap();
    for workers in [1, 2] {
        let options = options.clone().workers(workers);
        ores_sql::recreate_with(&config, &good, &options).unwrap();
        assert_eq!(kept(&config), expected, "{workers} worker(s)");
        match ores_sql::recreate_with(&config, &bad, &options) {
            Err(Error::Script(f)) => {
                let shown = Error::Script(f.clone()).to_string();
                assert_eq!(f.sqlstate, "22P02", "{shown}");
                assert_eq!(f.line, Some(5), "{shown}");
                assert!(shown.contains("<redacted>"), "{shown}");
                assert!(!shown.contains(&secret), "{shown}");
            }
            other => panic!("{workers} worker(s): expected a script failure, got {other:?}"),
        }
        assert_eq!(kept(&config), expected, "the previous database stays");
    }
    // The administrator's password (and anything but ORES_* settings) is not the
    // tree's to read: refused naming the file and line, before anything is built.
    for name in [
        "PGPASSWORD",
        "PGUSER",
        "HOME",
        "ORES_IAM_SERVICE_DB_PASSWORD",
    ] {
        let reads = tree(&format!(
            "\\set admin `echo \"${name}\"`\ninsert into ores_iam_kept_tbl values ('admin', :'admin');\n"
        ));
        match Manifest::from_dir(reads.path()) {
            Err(Error::Psql(e)) => {
                assert!(e.path.ends_with("populate/kept.sql") && e.line == 1, "{e}");
                assert!(e.message.contains("may not be read by a tree"), "{e}");
                assert!(!e.to_string().contains(&admin_password), "{e}");
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(kept(&config), expected);
    ores_sql::teardown_with(&config, &options).unwrap();

    let log = std::fs::read_to_string(cluster.dir().join("log")).unwrap();
    // The DDL login's statements were logged, and the failure too.
    assert!(
        log.contains("ores_hidden_values"),
        "log_statement = all was on"
    );
    assert!(
        log.contains("<redacted>"),
        "the failure was logged, redacted"
    );
    for form in [
        secret.clone(),
        secret.replace('\'', "''"),
        secret.replace('\t', "\\t"),
        admin_password,
    ] {
        let holding: Vec<&str> = log.lines().filter(|l| l.contains(&form)).collect();
        assert!(
            holding.is_empty(),
            "the server log holds {form:?}:\n{}",
            holding.join("\n")
        );
    }
}

/// MD5 as the server computes `md5(text)`, for the check that the value arrived.
fn md5_of(text: &str) -> impl std::fmt::LowerHex {
    struct Hex(String);
    impl std::fmt::LowerHex for Hex {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    let cluster = EmbeddedCluster::for_this_run().unwrap();
    let config = cluster.config(Config::load().unwrap());
    let digest: String = connect_admin(&config)
        .unwrap()
        .query_one("SELECT md5($1)", &[&text])
        .unwrap()
        .get(0);
    Hex(digest)
}
