//! `compass db docs`: the generated schema documentation says what the catalog of a
//! build holds (every table, column, policy and grant, and nothing else), its SVGs
//! are well-formed and draw every table, our own `docs/schema/` is current, and
//! `--check` tells a current folder from a stale one.
//!
//! Regenerate `docs/schema/` with `UPDATE_DOCS=1 cargo nextest run --all-features schema_docs::`.

use crate::cli_support::{Cli, stdout};
use ores_sql::Manifest;
use ores_sql::docs::{self, Docs};
use ores_sql::testing::TestDatabase;
use std::collections::BTreeSet;
use std::path::Path;

fn set(rows: Vec<postgres::Row>) -> BTreeSet<String> {
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<_, String>(i))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// What the docs' schema claims, as the same "a b c" strings the catalog gives.
fn claimed(d: &Docs, env: &str) -> [BTreeSet<String>; 4] {
    let mut out: [BTreeSet<String>; 4] = Default::default();
    for t in d.schema.components.iter().flat_map(|c| &c.tables) {
        out[0].insert(t.name.clone());
        for c in &t.columns {
            out[1].insert(format!("{} {} {}", t.name, c.name, c.data_type));
        }
        for p in &t.policies {
            out[2].insert(format!("{} {}", t.name, p.name));
        }
        for g in &t.grants {
            for p in &g.privileges {
                let role = g.role.replace("ores_E_", &format!("ores_{env}_"));
                out[3].insert(format!("{} {role} {p}", t.name));
            }
        }
    }
    out
}

fn catalog(client: &mut postgres::Client) -> [BTreeSet<String>; 4] {
    let q = |c: &mut postgres::Client, sql: &str| set(c.query(sql, &[]).unwrap());
    [
        q(
            client,
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        ),
        q(
            client,
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                AND a.attnum > 0 AND NOT a.attisdropped",
        ),
        q(
            client,
            "SELECT tablename::text, policyname::text FROM pg_policies WHERE schemaname = 'public'",
        ),
        q(
            client,
            "SELECT c.relname::text, coalesce(r.rolname::text, 'PUBLIC'), a.privilege_type::text
               FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
               LEFT JOIN pg_roles r ON r.oid = a.grantee
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'",
        ),
    ]
}

/// The text of every `<text>` and `<title>` of an SVG, which must parse as XML.
fn svg_text(name: &str, svg: &str) -> String {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg", "{name}");
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every table heads its section of its component's page, every column and policy
/// and grantee appears there, and the pages head no table the catalog lacks.
fn pages_name_everything(d: &Docs) {
    let mut headed = 0;
    for c in &d.schema.components {
        let page = &d.files[&format!("{}.md", c.name)];
        headed += page.matches("\n## `").count();
        for t in &c.tables {
            let start = page
                .find(&format!("\n## `{}`\n", t.name))
                .unwrap_or_else(|| panic!("{}.md lacks {}", c.name, t.name));
            let rest = &page[start + 4..];
            let section = &rest[..rest.find("\n## `").unwrap_or(rest.len())];
            for col in &t.columns {
                assert!(
                    section.contains(&format!("| `{}` |", col.name)),
                    "{} {}",
                    t.name,
                    col.name
                );
            }
            for p in &t.policies {
                assert!(
                    section.contains(&format!("| `{}` |", p.name)),
                    "{} {}",
                    t.name,
                    p.name
                );
            }
            for g in &t.grants {
                assert!(
                    section.contains(&format!("| `{}` |", g.role)),
                    "{} {}",
                    t.name,
                    g.role
                );
            }
            assert!(
                page.contains(&format!("    {} {{", t.name)),
                "mermaid lacks {}",
                t.name
            );
        }
        let svg = svg_text(c.name.as_str(), &d.files[&format!("svg/{}.svg", c.name)]);
        for t in &c.tables {
            assert!(
                svg.lines().any(|l| l == t.name),
                "svg/{}.svg lacks {}",
                c.name,
                t.name
            );
        }
    }
    let tables: usize = d.schema.components.iter().map(|c| c.tables.len()).sum();
    assert_eq!(
        headed, tables,
        "the pages head exactly the catalog's tables"
    );
    let overview = svg_text("overview", &d.files["svg/overview.svg"]);
    let access = svg_text("access", &d.files["svg/access.svg"]);
    for c in &d.schema.components {
        assert!(
            overview.lines().any(|l| l == c.name),
            "overview lacks {}",
            c.name
        );
        assert!(
            access.lines().any(|l| l == c.name),
            "access map lacks {}",
            c.name
        );
    }
    for s in &d.schema.services {
        assert!(access.lines().any(|l| l == s), "access map lacks {s}");
        assert!(
            d.files["access.md"].contains(&format!("| {s} |")),
            "access.md lacks {s}"
        );
    }
    for path in d.files.keys().filter(|p| p.ends_with(".svg")) {
        svg_text(path, &d.files[path]);
    }
}

#[test]
fn our_schema_docs_match_the_catalog_and_are_current() {
    let db = TestDatabase::new().unwrap();
    let mut client = db.admin().unwrap();
    let d = docs::from_database(&mut client, db.env(), Manifest::compiled()).unwrap();
    assert_eq!(
        claimed(&d, db.env()),
        catalog(&mut client),
        "docs and catalog differ"
    );
    pages_name_everything(&d);
    // Deterministic: reading the same build twice gives the same bytes.
    let again = docs::from_database(&mut client, db.env(), Manifest::compiled()).unwrap();
    assert_eq!(d.files, again.files);
    // The access map follows the registry: iam owns iam, dq reads only some of iam.
    let a = |s: &str, c: &str| {
        d.schema
            .access
            .iter()
            .find(|a| a.service == s && a.component == c)
            .unwrap()
            .clone()
    };
    assert_eq!(a("iam", "iam").access, "owns");
    assert_eq!(a("dq", "iam").access, "reads");
    assert!(a("dq", "iam").readable_tables < a("dq", "iam").tables);
    assert_eq!(a("iam", "trading").access, "none");

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        d.write(&dir).unwrap();
    }
    let stale = d.check(&dir).unwrap();
    assert!(
        stale.is_empty(),
        "docs/schema is stale ({stale:?}); regenerate with \
         `UPDATE_DOCS=1 cargo nextest run --all-features schema_docs::`"
    );
}

#[test]
fn db_docs_writes_a_foreign_tree_and_check_tells_current_from_stale() {
    let cli = Cli::new("dcs");
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/foreign_tree");
    let out = tempfile::tempdir().unwrap();
    let docs_cmd = |extra: &[&str]| {
        let mut c = cli.compass();
        c.args(["db", "docs", "--sql-dir"])
            .arg(&tree)
            .arg("--out")
            .arg(out.path())
            .args(extra);
        c.output().unwrap()
    };
    let written = docs_cmd(&[]);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let page = std::fs::read_to_string(out.path().join("sales.md")).unwrap();
    assert!(page.contains("## `sales_orders`"), "{page}");
    assert!(
        page.contains("sales_orders }o--|| sales_customers"),
        "{page}"
    );
    assert!(
        page.contains("| `sales_orders_tenant_policy` | ALL | permissive |"),
        "{page}"
    );
    let svg = std::fs::read_to_string(out.path().join("svg/sales.svg")).unwrap();
    let text = svg_text("sales", &svg);
    assert!(text.lines().any(|l| l == "sales_customers"), "{svg}");
    assert!(out.path().join("schema.json").is_file());
    // The scratch build is gone, and the environment's database was never made.
    let left: i64 = cli
        .admin()
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1",
            &[&format!("ores\\_{}\\_docs\\_%", cli.label())],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);

    let current = docs_cmd(&["--check"]);
    assert!(current.status.success(), "{}", stdout(&current));

    std::fs::write(out.path().join("sales.md"), "edited by hand\n").unwrap();
    std::fs::write(out.path().join("gone.md"), "a removed component\n").unwrap();
    std::fs::remove_file(out.path().join("svg/access.svg")).unwrap();
    let stale = docs_cmd(&["--check"]);
    assert_eq!(stale.status.code(), Some(1), "{}", stdout(&stale));
    let text = stdout(&stale);
    for f in ["sales.md", "gone.md", "svg/access.svg"] {
        assert!(
            text.contains(&format!("differs: {}", out.path().join(f).display())),
            "{text}"
        );
    }
    assert!(!text.contains("README.md"), "{text}");
    assert!(text.contains("3 of the files"), "{text}");
}
