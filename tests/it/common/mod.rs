//! Helpers shared by the integration tests: fixture trees, a fresh clone of the
//! built schema, service connections scoped to a tenant, and the registry's view of
//! who may do what.
#![allow(dead_code)]

use ores_sql::server::admin::connect_admin_to;
use ores_sql::testing::TestDatabase;
use ores_sql::tree::registry::{self, Service};
use postgres::Client;

pub use ores_sql::testing::SYSTEM_TENANT_ID as SYSTEM_TENANT;

/// A temporary SQL tree: `(path under the root, contents)` for each file.
pub fn tree<B: AsRef<[u8]>>(files: &[(&str, B)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, body) in files {
        write_script(dir.path(), path, body);
    }
    dir
}

/// A fixture tree of `tests/fixtures` as a manifest.
pub fn fixture(name: &str) -> ores_sql::Manifest {
    ores_sql::Manifest::from_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture manifest")
}

/// A fresh database with the compiled-in schema, cloned from the harness's template
/// (these tests need a database, not a build).
pub fn built() -> TestDatabase {
    TestDatabase::new().expect("test database")
}

/// The superuser on the environment's database (bypasses row-level security).
pub fn admin(env: &TestDatabase) -> Client {
    connect_admin_to(env.config(), env.name()).expect("admin connection")
}

/// A connection as `ores_<env>_<service>_service`, with `ores.tenant_id` set.
pub fn service(env: &TestDatabase, name: &str, tenant: Option<&str>) -> Client {
    match tenant {
        Some(t) => env.tenant_session(name, t).expect("tenant session"),
        None => {
            let mut client = env.service(name).expect("service session");
            client
                .batch_execute(&format!("SET ores.service = '{name}'"))
                .unwrap();
            client
        }
    }
}

pub fn set_tenant(client: &mut Client, tenant: &str) {
    client
        .batch_execute(&format!("SET ores.tenant_id = '{tenant}'"))
        .unwrap();
}

/// Registers a tenant the way the IAM service does (from the system tenant) and
/// returns its id.
pub fn create_tenant(env: &TestDatabase, code: &str) -> String {
    let mut iam = service(env, "iam", Some(SYSTEM_TENANT));
    iam.query_one(
        "INSERT INTO ores_iam_tenants_tbl (code, name, type_code)
         VALUES ($1, $1, 'test') RETURNING tenant_id::text",
        &[&code],
    )
    .expect("create tenant")
    .get(0)
}

/// Inserts a party for the connection's tenant and returns its id.
pub fn insert_party(client: &mut Client, short_code: &str, name: &str) -> String {
    client
        .query_one(
            "INSERT INTO ores_refdata_parties_tbl (short_code, name, party_type_code)
             VALUES ($1, $2, 'bank') RETURNING party_id::text",
            &[&short_code, &name],
        )
        .expect("insert party")
        .get(0)
}

pub fn count(client: &mut Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// The first column of every row `sql` returns, as text.
pub fn texts(client: &mut Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The SQLSTATE of a failed statement, panicking if it succeeded.
pub fn sqlstate<T: std::fmt::Debug>(result: Result<T, postgres::Error>) -> String {
    match result {
        Ok(v) => panic!("expected PostgreSQL to refuse, but it returned {v:?}"),
        Err(e) => e
            .code()
            .map(|c| c.code().to_string())
            .unwrap_or_else(|| panic!("not a server error: {e}")),
    }
}

pub fn services() -> &'static [Service] {
    registry::SERVICES
}

/// Every table of `public` (ours, not an extension's, and not the runner's own
/// record of applied scripts) with its rows as JSON, in a stable order: what two
/// builds of one tree must agree on.
pub fn table_contents(
    config: &ores_sql::Config,
    database: &str,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut client = ores_sql::server::admin::connect_admin_to(config, database).expect("connect");
    let tables: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                AND c.relname <> 'ores_database_applied_scripts_tbl'
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.objid = c.oid AND d.deptype = 'e')
              ORDER BY 1",
            &[],
        )
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let rows = client
                .query(
                    &format!("SELECT row_to_json(t)::text FROM \"{t}\" t ORDER BY 1"),
                    &[],
                )
                .expect("rows")
                .iter()
                .map(|r| r.get(0))
                .collect();
            (t, rows)
        })
        .collect()
}

/// [`table_contents`] without what differs between any two builds of one tree: the
/// columns holding the time of the build (timestamps) and ids drawn at random.
#[allow(dead_code)]
pub fn stable_contents(
    config: &ores_sql::Config,
    database: &str,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut client = ores_sql::server::admin::connect_admin_to(config, database).expect("connect");
    let volatile: Vec<(String, String)> = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
              WHERE table_schema = 'public'
                AND (data_type LIKE 'timestamp%'
                     OR (data_type = 'uuid' AND coalesce(column_default, '') LIKE '%random%'))",
            &[],
        )
        .expect("columns")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    table_contents(config, database)
        .into_iter()
        .map(|(t, rows)| {
            let drop: Vec<&str> = volatile
                .iter()
                .filter(|(vt, _)| *vt == t)
                .map(|(_, c)| c.as_str())
                .collect();
            let mut rows: Vec<String> = rows
                .into_iter()
                .map(|r| {
                    let mut v: serde_json::Value = serde_json::from_str(&r).expect("json");
                    if let Some(o) = v.as_object_mut() {
                        for c in &drop {
                            o.remove(*c);
                        }
                    }
                    v.to_string()
                })
                .collect();
            rows.sort();
            (t, rows)
        })
        .collect()
}

/// Every sequence of `public` with its last value (`None` before its first use):
/// ids two builds hand out must agree too.
#[allow(dead_code)]
pub fn sequence_values(config: &ores_sql::Config, database: &str) -> Vec<(String, Option<i64>)> {
    ores_sql::server::admin::connect_admin_to(config, database)
        .expect("connect")
        .query(
            "SELECT sequencename::text, last_value FROM pg_sequences
              WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .expect("sequences")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Which of `names` exist as roles, by name.
pub fn existing_roles(config: &ores_sql::Config, names: &[String]) -> Vec<String> {
    ores_sql::server::admin::connect_admin(config)
        .expect("admin connection")
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1",
            &[&names],
        )
        .expect("roles")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Every public table with its row count, as the superuser sees it.
pub fn row_counts(config: &ores_sql::Config, database: &str) -> Vec<(String, i64)> {
    let mut db = ores_sql::server::admin::connect_admin_to(config, database).unwrap();
    let tables: Vec<String> = db
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let n: i64 = db
                .query_one(&format!("SELECT count(*) FROM \"{t}\""), &[])
                .unwrap()
                .get(0);
            (t, n)
        })
        .collect()
}

/// `pg_dump --schema-only` of `database`, without its random `\restrict` key.
pub fn schema_dump(config: &ores_sql::Config, database: &str) -> String {
    let out = std::process::Command::new("pg_dump")
        .args(["--schema-only", "--no-owner"])
        .env("PGHOST", &config.host)
        .env("PGPORT", config.port.to_string())
        .env("PGUSER", &config.admin_user)
        .env("PGDATABASE", database)
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pg_dump brackets its output with a random \restrict key; the rest is the schema.
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails unless two `schema_dump`s are equal, naming the first line that differs
/// (a whole dump of a large schema would drown the report).
pub fn assert_same_schema(left: &str, right: &str, what: &str) {
    if left == right {
        return;
    }
    let (l, r) = (
        left.lines().collect::<Vec<_>>(),
        right.lines().collect::<Vec<_>>(),
    );
    let at = (0..l.len().max(r.len()))
        .find(|&i| l.get(i) != r.get(i))
        .unwrap_or(0);
    panic!(
        "{what}: pg_dump --schema-only differs first at line {}: {:?} against {:?}",
        at + 1,
        l.get(at).unwrap_or(&"<end>"),
        r.get(at).unwrap_or(&"<end>")
    );
}

/// A database to build and how: a configuration with the options of its runs. It
/// reads as its configuration (`run.database`, `&run` where a `&Config` is asked).
#[allow(dead_code)]
pub struct Run {
    pub config: ores_sql::Config,
    pub options: ores_sql::RunOptions,
}

impl std::ops::Deref for Run {
    type Target = ores_sql::Config;
    fn deref(&self) -> &ores_sql::Config {
        &self.config
    }
}

#[allow(dead_code)]
impl Run {
    /// Recreates its database from `manifest` with its options.
    pub fn recreate(
        &self,
        manifest: &ores_sql::Manifest,
    ) -> ores_sql::Result<ores_sql::BuildReport> {
        ores_sql::recreate_with(&self.config, manifest, &self.options)
    }
}

/// Two full builds of one environment side by side: in one transaction into its own
/// database, and on `workers` connections into `<database>_p`, which the guard drops.
/// Both take `options` with a rebuild forced.
pub fn sequential_and_parallel(
    config: &ores_sql::Config,
    options: &ores_sql::RunOptions,
    workers: usize,
) -> (Run, Run, DropOnExit) {
    let options = options.clone().rebuild(true);
    let sequential = Run {
        config: config.clone(),
        options: options.clone().workers(1),
    };
    let parallel = Run {
        config: config
            .clone()
            .with_database(&format!("{}_p", config.database))
            .unwrap(),
        options: options.workers(workers),
    };
    let guard = DropOnExit(parallel.config.clone());
    (sequential, parallel, guard)
}

/// Builds `manifest` both ways (see [`sequential_and_parallel`]) and checks that each
/// build took the path asked for.
pub fn build_both(sequential: &Run, parallel: &Run, manifest: &ores_sql::Manifest) {
    use ores_sql::lifecycle::version::BuildPath;
    let path = |r: &Run| r.recreate(manifest).unwrap().path;
    assert_eq!(path(sequential), BuildPath::Full);
    assert_eq!(path(parallel), BuildPath::Parallel);
}

/// Writes `body` at `path` under `root`, making the folders on the way.
pub fn write_script(root: &std::path::Path, path: &str, body: impl AsRef<[u8]>) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().expect("a file under the root")).unwrap();
    std::fs::write(p, body).unwrap();
}

/// The applied-scripts rows of `database`: version, name and checksum, in order.
pub fn applied_scripts(config: &ores_sql::Config, database: &str) -> Vec<(i32, String, String)> {
    connect_admin_to(config, database)
        .unwrap()
        .query(
            &format!(
                "SELECT version, name::text, checksum::text FROM {} ORDER BY 1",
                ores_sql::APPLIED_SCRIPTS_TABLE
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Drops the second database of the test's environment whatever happens, so the
/// environment's teardown can drop its roles.
pub struct DropOnExit(pub ores_sql::Config);

impl Drop for DropOnExit {
    fn drop(&mut self) {
        let _ = ores_sql::lifecycle::drop::drop_named(&self.0, &self.0.database, true);
    }
}

/// Whether `path` built from the SQL: in one transaction or on several connections,
/// whichever the machine's cores chose.
pub fn from_sql(path: ores_sql::lifecycle::version::BuildPath) -> bool {
    use ores_sql::lifecycle::version::BuildPath;
    matches!(path, BuildPath::Full | BuildPath::Parallel)
}
