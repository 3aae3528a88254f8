//! The lifecycle with an administrator that is not a superuser (CREATEDB, CREATEROLE), as
//! managed PostgreSQL services give, on the run's private test cluster.

use ores_sql::Config;
use ores_sql::testing::{EmbeddedCluster, unique_label};

#[test]
fn probe() {
    let t = std::time::Instant::now();
    let cluster = EmbeddedCluster::for_this_run().unwrap();
    eprintln!("cluster in {:?}", t.elapsed());
    let su = cluster.config(Config::load().unwrap());
    let admin = unique_label("adm").replace("__", "_x_");
    let mut c = ores_sql::server::admin::connect_admin(&su).unwrap();
    c.batch_execute(&format!("CREATE ROLE \"{admin}\" LOGIN CREATEDB CREATEROLE")).unwrap();
    let mut cfg = su.clone().with_env(&unique_label("mg")).unwrap();
    cfg.admin_user = admin.clone();
    let r = ores_sql::recreate(&cfg);
    eprintln!("recreate: {r:?}");
    let r = ores_sql::recreate(&cfg);
    eprintln!("recreate2: {r:?}");
    let r = ores_sql::teardown(&cfg);
    eprintln!("teardown: {r:?}");
    let mut sucfg = cfg.clone();
    sucfg.admin_user = "postgres".into();
    let r = ores_sql::teardown(&sucfg);
    eprintln!("su teardown: {r:?}");
    c.batch_execute(&format!("DROP ROLE \"{admin}\"")).unwrap();
}
