//! `compass db diff` and `db plan` from the command line: exit 0 without drift, 1
//! with, 2 on error; `--json` in the shape docs/json.md documents; and the summary
//! `db recreate` gives before it asks (logged at info level with `-y`).

#![cfg(feature = "cli")]

use crate::cli_support;

use cli_support::{Cli, stderr, stdout};
use serde_json::Value;

#[test]
fn diff_exits_0_1_2_and_plan_and_recreate_say_what_is_lost() {
    let cli = Cli::new("jdf");
    cli.build();
    let out = cli.compass().args(["db", "diff"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("no drift"), "{}", stdout(&out));

    cli.db()
        .batch_execute(
            "CREATE INDEX parties_hand_idx ON ores_refdata_parties_tbl (lei);
             INSERT INTO ores_iam_tenants_tbl (code, name, type_code) VALUES ('handmade', 'h', 'test')",
        )
        .unwrap();
    let out = cli
        .compass()
        .args(["db", "diff", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["drift"], true);
    assert_eq!(
        v["objects"],
        serde_json::json!([{
            "kind": "index", "name": "parties_hand_idx", "table": "ores_refdata_parties_tbl",
            "change": "added",
            "detail": "definition: CREATE INDEX parties_hand_idx ON public.ores_refdata_parties_tbl USING btree (lei)"
        }])
    );
    let text = stdout(&cli.compass().args(["db", "diff"]).output().unwrap());
    assert!(
        text.contains("ores_refdata_parties_tbl\n    added    index parties_hand_idx"),
        "{text}"
    );

    let out = cli
        .compass()
        .args(["db", "plan", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["path"], "cached");
    assert_eq!(v["objects"].as_array().unwrap().len(), 1, "{v}");
    let tenants = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "ores_iam_tenants_tbl")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(tenants["added"], 1, "{v}");

    // The recreate says what it throws away before it goes ahead.
    let out = cli
        .compass()
        .args(["-v", "db", "recreate", "-y", "-k"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("recreate ") && log.contains("parties_hand_idx"),
        "{log}"
    );
    assert!(log.contains("ores_iam_tenants_tbl: 1 added"), "{log}");
    let out = cli.compass().args(["db", "diff"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // An error is 2, not 1 (which means drift).
    let out = cli
        .compass()
        .args(["db", "diff", "-D", "ores_no_such_database_here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}
