//! The psql subset as ores-sql interprets it, checked against psql itself: the same
//! fixture tree goes through `ores_sql::tree::psql::expand` into one database and
//! through `psql -X -1 -v ON_ERROR_STOP=1` into another, and both must hold the
//! same tables with the same rows.

use crate::common;

use ores_sql::config::Config;
use ores_sql::server::admin::{connect_admin, connect_admin_to};
use ores_sql::testing::unique_label;
use ores_sql::tree::psql::{Action, Step, expand_with};
use postgres::SimpleQueryMessage;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

const SECRET: &str = "pa'ss\\word";

/// Databases made for this test, dropped however the test ends.
struct Scratch {
    config: Config,
    names: Vec<String>,
}

impl Scratch {
    fn database(&mut self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", unique_label("psq"));
        let mut admin = connect_admin(&self.config).expect("admin");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create database");
        self.names.push(name.clone());
        name
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(mut admin) = connect_admin(&self.config) {
            for name in &self.names {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

/// The result, or a panic naming the step's file and line.
fn at<T>(step: &Step, result: Result<T, postgres::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}:{}: {e:?}", step.path, step.line))
}

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/psql_subset"
    ))
}

/// Every table of `public` with its rows as JSON, in a stable order.

#[test]
fn fixture_builds_as_psql_builds_it() {
    let config = Config::load().expect("config");
    let mut scratch = Scratch {
        config: config.clone(),
        names: Vec::new(),
    };
    let ours = scratch.database("ours");
    let theirs = scratch.database("psql");
    let vars: BTreeMap<String, String> = [("use_flags".to_string(), "on".to_string())].into();

    let mut client = connect_admin_to(&config, &ours).expect("connect");
    let mut tx = client.transaction().expect("begin");
    // Each step runs as the expander reaches it, so a \gset sets its variables before
    // the statements after it are expanded.
    let mut sink = |step: &Step| {
        match &step.action {
            Action::Sql(sql) => at(step, tx.batch_execute(sql)),
            Action::Copy {
                statement, data, ..
            } => {
                let mut writer = at(step, tx.copy_in(statement.as_str()));
                writer.write_all(data.as_bytes()).expect("send copy data");
                at(step, writer.finish().map(drop));
            }
            Action::Gset { query, prefix } => {
                assert!(prefix.is_empty() || prefix == "pre_", "{prefix}");
                let rows = at(step, tx.simple_query(query));
                let row = rows
                    .iter()
                    .find_map(|m| match m {
                        SimpleQueryMessage::Row(r) => Some(r),
                        _ => None,
                    })
                    .expect("one row");
                let values = row
                    .columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), row.get(i).map(str::to_string)))
                    .collect();
                return Ok(Some(values));
            }
            Action::Echo(_) => {}
        }
        Ok(None)
    };
    let read = |rel: &Path| std::fs::read_to_string(fixture().join(rel)).map_err(|e| e.to_string());
    let lookup = |name: &str| (name == "ORES_PSQL_FIXTURE_SECRET").then(|| SECRET.to_string());
    let expansion = expand_with(&read, &["setup.sql"], vars, &lookup, Some(&mut sink))
        .expect("fixture expands");
    assert_eq!(
        expansion.files,
        [
            "setup.sql",
            "create/create_all.sql",
            "create/core/010_party.sql",
            "create/core/020_note.sql",
            "populate/populate_all.sql"
        ]
    );
    assert!(
        !expansion.variables.contains_key("gone"),
        "a NULL from \\gset leaves the variable unset"
    );
    tx.commit().expect("commit");

    let mut psql = Command::new("psql");
    psql.current_dir(fixture())
        .args([
            "-X",
            "-q",
            "-1",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "use_flags=on",
        ])
        .args(["-h", &config.host, "-p", &config.port.to_string()])
        .args(["-U", &config.admin_user, "-d", &theirs, "-f", "setup.sql"])
        .env("ORES_PSQL_FIXTURE_SECRET", SECRET);
    if let Some(pw) = &config.admin_password {
        psql.env("PGPASSWORD", pw.expose());
    }
    let out = psql.output().expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let built = common::table_contents(&config, &ours);
    assert_eq!(
        built.keys().collect::<Vec<_>>(),
        ["fx_flags", "fx_note", "fx_party"]
    );
    assert_eq!(built["fx_note"].len(), 5, "{built:?}");
    assert!(
        built["fx_note"]
            .iter()
            .any(|r| r.contains("parties: 3 last fx p")),
        "{built:?}"
    );
    assert_eq!(built["fx_party"].len(), 5, "{built:?}");
    assert_eq!(expansion.data_files, ["populate/fx_party.csv"]);
    assert_eq!(built, common::table_contents(&config, &theirs));
}
