//! The manifest rules, exercised through the same scanner `build.rs` uses.

use crate::common;

/// [`common::tree`] with byte contents, so scripts that are not UTF-8 can be written.
fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    common::tree(files)
}

use ores_sql::tree::scan::{ScanError, scan};
use ores_sql::{Manifest, Phase};
use std::path::Path;

fn scan_err(files: &[(&str, &[u8])]) -> ScanError {
    let dir = tree(files);
    scan(dir.path(), "sql").unwrap_err()
}

#[test]
fn orders_by_numeric_prefix_create_before_populate() {
    let dir = tree(&[
        ("populate/01_iam/010_iam_a.sql", b"select 1;"),
        ("create/10_dq/010_dq_x.sql", b"select 1;"),
        ("create/2_iam/020_iam_b.sql", b"select 1;"),
        ("create/2_iam/9_iam_a.sql", b"select 1;"),
        ("create/README.md", b"notes are ignored"),
    ]);
    let m = Manifest::from_dir(dir.path()).unwrap();
    let order: Vec<(Phase, &str)> = m
        .scripts()
        .iter()
        .map(|s| (s.phase, s.entity.as_ref()))
        .collect();
    assert_eq!(
        order,
        [
            (Phase::Create, "iam_a"),
            (Phase::Create, "iam_b"),
            (Phase::Create, "dq_x"),
            (Phase::Populate, "iam_a")
        ]
    );
    assert_eq!(m.scripts()[2].component, "dq");
    assert_eq!(m.entity_scripts("iam_a").len(), 2);
}

#[test]
fn same_numeric_prefix_is_ambiguous_and_named() {
    match scan_err(&[
        ("create/01_iam/010_iam_a.sql", b"select 1;"),
        ("create/01_iam/10_iam_b.sql", b"select 1;"),
    ]) {
        ScanError::AmbiguousOrder { first, second } => {
            assert!(first.ends_with("010_iam_a.sql") || second.ends_with("010_iam_a.sql"));
            assert!(first.ends_with("10_iam_b.sql") || second.ends_with("10_iam_b.sql"));
        }
        e => panic!("{e}"),
    }
}

#[test]
fn a_name_without_prefix_is_rejected() {
    let e = scan_err(&[("create/01_iam/iam_a.sql", b"select 1;")]);
    assert!(
        matches!(&e, ScanError::BadName { path, .. } if path == "sql/create/01_iam/iam_a.sql"),
        "{e}"
    );
    let e = scan_err(&[("create/01_iam/010_IAM.sql", b"select 1;")]);
    assert!(matches!(e, ScanError::BadName { .. }));
    let e = scan_err(&[("create/01_iam/010_iam.txt", b"select 1;")]);
    assert!(matches!(e, ScanError::BadName { .. }));
}

#[test]
fn an_empty_script_is_rejected_by_name() {
    let e = scan_err(&[("create/01_iam/010_iam_a.sql", b"  \n-- only a comment\n\n")]);
    assert_eq!(
        e,
        ScanError::Empty {
            path: "sql/create/01_iam/010_iam_a.sql".into()
        }
    );
}

#[test]
fn a_non_utf8_script_is_rejected_by_name() {
    let e = scan_err(&[("create/01_iam/010_iam_a.sql", b"select '\xff\xfe';")]);
    assert_eq!(
        e,
        ScanError::NotUtf8 {
            path: "sql/create/01_iam/010_iam_a.sql".into()
        }
    );
    assert!(e.to_string().contains("010_iam_a.sql"));
}

#[test]
fn two_scripts_for_one_entity_in_a_phase_are_rejected() {
    let e = scan_err(&[
        ("create/01_iam/010_iam_a.sql", b"select 1;"),
        ("create/02_dq/010_iam_a.sql", b"select 1;"),
    ]);
    assert!(matches!(e, ScanError::DuplicateEntity { .. }), "{e}");
}

#[test]
fn crlf_checkouts_hash_the_same() {
    let lf = tree(&[("create/01_iam/010_iam_a.sql", b"select 1;\nselect 2;\n")]);
    let crlf = tree(&[("create/01_iam/010_iam_a.sql", b"select 1;\r\nselect 2;\r\n")]);
    let a = Manifest::from_dir(lf.path()).unwrap();
    let b = Manifest::from_dir(crlf.path()).unwrap();
    assert_eq!(a.scripts()[0].sha256, b.scripts()[0].sha256);
    assert_eq!(a.schema_hash(), b.schema_hash());
}

#[test]
fn the_schema_hash_changes_with_content_and_order() {
    let base = tree(&[
        ("create/01_iam/010_iam_a.sql", b"select 1;"),
        ("create/01_iam/020_iam_b.sql", b"select 2;"),
    ]);
    let edited = tree(&[
        ("create/01_iam/010_iam_a.sql", b"select 1; "),
        ("create/01_iam/020_iam_b.sql", b"select 2;"),
    ]);
    let swapped = tree(&[
        ("create/01_iam/020_iam_a.sql", b"select 1;"),
        ("create/01_iam/010_iam_b.sql", b"select 2;"),
    ]);
    let h = |d: &tempfile::TempDir| {
        Manifest::from_dir(d.path())
            .unwrap()
            .schema_hash()
            .to_string()
    };
    assert_ne!(h(&base), h(&edited));
    assert_ne!(h(&base), h(&swapped));
}

#[test]
fn the_compiled_manifest_matches_the_sql_tree() {
    let on_disk = Manifest::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sql")).unwrap();
    let compiled = Manifest::compiled();
    assert_eq!(on_disk.scripts().len(), compiled.scripts().len());
    for (a, b) in on_disk.scripts().iter().zip(compiled.scripts()) {
        assert_eq!(a.sha256, b.sha256, "{}", b.path);
        assert!(a.path.ends_with(b.path.trim_start_matches("sql")));
    }
    // The scanner labels paths with the directory given; build.rs uses "sql".
    assert!(compiled.scripts()[0].path.starts_with("sql/create/"));
    assert_eq!(compiled.schema_hash(), on_disk.schema_hash());
}
