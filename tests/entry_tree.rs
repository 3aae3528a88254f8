//! Another team's tree: psql entry scripts named in its `ores-sql.toml`, component
//! folders without numeric prefixes, drop scripts, a shell helper and notes beside
//! the SQL (tests/fixtures/entry_tree, written for these tests).
//!
//! The manifest is the include closure of the entry script; the build runs through
//! `ores_sql::recreate_with` with the roles and grants of the tree's own registry,
//! and the result is compared with what `psql -X -1 -v ON_ERROR_STOP=1` makes of the
//! same tree.

use ores_sql::tree::scan::sha256_hex;
use ores_sql::{Error, Manifest};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/entry_tree")
}

/// A copy of the fixture tree to change, with `edits` (path, new text) applied.
fn copy_with(edits: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fixture();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.expect("walk fixture");
        let rel = entry.path().strip_prefix(&src).expect("inside");
        let to = dir.path().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &to).expect("copy");
        }
    }
    for (path, text) in edits {
        let to = dir.path().join(path);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::write(to, text).expect("write");
    }
    dir
}

#[test]
fn the_manifest_is_the_include_closure_in_psql_order() {
    let m = Manifest::from_dir(&fixture()).expect("fixture reads");
    assert!(m.entry_mode());
    let label = fixture().display().to_string();
    let paths: Vec<String> = m
        .scripts()
        .iter()
        .map(|s| {
            s.path
                .strip_prefix(&format!("{label}/"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        paths,
        [
            "setup_schema.sql",
            "create/create_all.sql",
            "create/utility/utility_create.sql",
            "create/iam/iam_create.sql",
            "create/iam/iam_tenants_create.sql",
            "create/iam/iam_accounts_create.sql",
            "create/refdata/refdata_create.sql",
            "create/synthetic/synthetic_create.sql",
            "populate/populate_all.sql",
            "populate/iam/iam_populate.sql",
            "populate/refdata/refdata_populate.sql",
            "populate/synthetic/synthetic_populate.sql",
        ]
    );
    let data: Vec<&str> = m.data_files().iter().map(|s| s.path.as_ref()).collect();
    assert_eq!(
        data,
        [format!("{label}/populate/refdata/currencies.csv").as_str()]
    );
    // Old and drop scripts are not built and do not fail the build; the shell helper
    // and the notes are not even looked at.
    assert_eq!(
        m.unreached(),
        ["create/legacy/old_create.sql", "drop/drop_all.sql"]
    );
    for s in m.scripts().iter().chain(m.data_files()) {
        let on_disk = std::fs::read_to_string(s.path.as_ref()).expect("read");
        assert_eq!(s.sha256, sha256_hex(on_disk.as_bytes()), "{}", s.path);
    }
}

#[test]
fn the_schema_hash_covers_every_reached_file_and_nothing_else() {
    let base = Manifest::from_dir(copy_with(&[]).path()).unwrap();
    let hash = |edits: &[(&str, &str)]| {
        Manifest::from_dir(copy_with(edits).path())
            .unwrap()
            .schema_hash()
            .to_string()
    };
    let included = std::fs::read_to_string(fixture().join("create/iam/iam_create.sql")).unwrap();
    assert_eq!(
        hash(&[("create/iam/iam_create.sql", &included.replace('\n', "\r\n"))]),
        base.schema_hash(),
        "line endings are normalised"
    );
    assert_ne!(
        hash(&[(
            "create/iam/iam_create.sql",
            &format!("{included}-- changed\n")
        )]),
        base.schema_hash(),
        "an included file is covered"
    );
    assert_ne!(
        hash(&[("populate/refdata/currencies.csv", "code,name\nEUR,Euro\n")]),
        base.schema_hash(),
        "a \\copy data file is covered"
    );
    assert_eq!(
        hash(&[
            ("drop/drop_all.sql", "drop everything;"),
            ("recreate_database.sh", "#!/bin/sh\n")
        ]),
        base.schema_hash(),
        "unreached files are not"
    );
}

/// The refusal reading the tree with `edits` applied.
fn refused(edits: &[(&str, &str)]) -> (String, String) {
    let dir = copy_with(edits);
    match Manifest::from_dir(dir.path()) {
        Err(Error::Psql(e)) => {
            let prefix = format!("{}/", dir.path().display());
            let path = e.path.strip_prefix(&prefix).unwrap_or(&e.path).to_string();
            (format!("{path}:{}", e.line), e.message)
        }
        Err(other) => panic!("{edits:?}: not a psql refusal: {other}"),
        Ok(_) => panic!("{edits:?}: accepted"),
    }
}

#[test]
fn broken_trees_are_refused_naming_file_and_line() {
    let all = "\\ir utility/utility_create.sql\n\\ir iam/iam_create.sql\n";
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 8] = [
        (
            &[(
                "create/create_all.sql",
                &format!("{all}\\ir missing/gone.sql\n"),
            )],
            "create/create_all.sql:3",
            "cannot read create/missing/gone.sql",
        ),
        (
            &[("create/iam/iam_create.sql", "\\ir ../create_all.sql\n")],
            "create/iam/iam_create.sql:1",
            "include cycle",
        ),
        (
            &[("create/create_all.sql", "\n\\ir ../../outside.sql\n")],
            "create/create_all.sql:2",
            "leaves sql/",
        ),
        (
            &[("create/create_all.sql", "select :nobody_set_this;\n")],
            "create/create_all.sql:1",
            "undefined variable :nobody_set_this",
        ),
        (
            &[("create/create_all.sql", "select 1;\n\\gexec\n")],
            "create/create_all.sql:2",
            "unsupported psql meta-command \\gexec",
        ),
        (
            &[("create/create_all.sql", "\\set x `ls /`\n")],
            "create/create_all.sql:1",
            "backtick command `ls /` refused",
        ),
        (
            &[(
                "populate/refdata/refdata_populate.sql",
                "\\copy t from '../../../etc/passwd'\n",
            )],
            "populate/refdata/refdata_populate.sql:1",
            "leaves sql/",
        ),
        (
            &[("create/create_all.sql", "\\if true\nselect 1;\n")],
            "create/create_all.sql:2",
            "missing \\endif",
        ),
    ];
    for (edits, at, message) in cases {
        let (where_, what) = refused(edits);
        assert_eq!(where_, at, "{edits:?}: {what}");
        assert!(what.contains(message), "{edits:?}: {what}");
    }
}

