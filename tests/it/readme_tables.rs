//! The README's list of domains and tables is generated from the compiled-in
//! manifest; this test fails (printing the new text) when it is stale. The role
//! table is checked against the login users and the service registry.
//!
//! Regenerate with `UPDATE_README=1 cargo nextest run readme_tables::`.

use ores_sql::{Manifest, Phase};
use std::path::Path;

const BEGIN: &str = "<!-- tables:begin -->";
const END: &str = "<!-- tables:end -->";

/// The first sentence of the comment block that opens a script.
fn summary(sql: &str) -> String {
    let text: Vec<&str> = sql
        .lines()
        .map(str::trim)
        .take_while(|l| l.starts_with("--"))
        .map(|l| l.trim_start_matches('-').trim())
        .collect();
    let text = text.join(" ");
    let end = text
        .match_indices(". ")
        .map(|(i, _)| i)
        .find(|&i| !text[..i].ends_with("e.g") && !text[..i].ends_with("i.e"))
        .map(|i| i + 1)
        .unwrap_or(text.len());
    text[..end].replace('|', "\\|")
}

fn kind(sql: &str) -> String {
    let kind = if sql.contains("ores_utility_versioned_insert_fn") {
        "versioned"
    } else if sql.contains("ores_utility_append_only_fn") {
        "append-only"
    } else {
        "mutable"
    };
    if !sql.contains("tenant_id") {
        format!("{kind}, not tenant-scoped")
    } else if sql.contains("_shared_read_pol") {
        format!("{kind}, shared")
    } else {
        kind.to_string()
    }
}

fn tables_section() -> String {
    let mut out = String::from("| component | table | kind | what it holds |\n|---|---|---|---|\n");
    for script in Manifest::compiled().scripts() {
        if script.phase != Phase::Create {
            continue;
        }
        for (i, _) in script.sql.match_indices("CREATE TABLE ") {
            let rest = &script.sql[i + "CREATE TABLE ".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push_str(&format!(
                "| {} | `{name}` | {} | {} |\n",
                script.component,
                kind(&script.sql),
                summary(&script.sql)
            ));
        }
    }
    out
}

#[test]
fn readme_lists_every_table_of_the_manifest() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md lacks the {BEGIN} / {END} markers");
    };
    let current = &readme[b + BEGIN.len()..e];
    let wanted = format!("\n{}", tables_section());
    if current == wanted {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{BEGIN}{wanted}{}", &readme[..b], &readme[e..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's table list is stale; regenerate it with \
         `UPDATE_README=1 cargo nextest run readme_tables::`. New text:\n{wanted}"
    );
}

/// The README's role table names every login user and every service of the
/// registry, and no login user that does not exist.
#[test]
fn readme_role_table_names_every_login_user_and_service() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find("\n## Roles\n").expect("a Roles section");
    let end = readme[start + 1..]
        .find("\n## ")
        .map(|i| start + 1 + i)
        .unwrap();
    let section = &readme[start..end];
    let table: Vec<&str> = section.lines().filter(|l| l.starts_with('|')).collect();
    let login_users = ores_sql::tree::registry::Registry::compiled().login_users;
    let users: Vec<String> = login_users.iter().map(|u| u.suffix()).collect();
    for (suffix, group) in login_users.iter().map(|u| (u.suffix(), u.group)) {
        let row = table
            .iter()
            .find(|l| l.contains(&format!("`ores_E_{suffix}`")))
            .unwrap_or_else(|| panic!("README's role table lacks ores_E_{suffix}"));
        assert!(
            row.contains(&format!("`{group}`")),
            "README says {suffix} is not in {group}: {row}"
        );
    }
    for mentioned in section.match_indices("`ores_E_") {
        let name: String = section[mentioned.0 + "`ores_E_".len()..]
            .chars()
            .take_while(|c| *c != '`')
            .collect();
        if name.ends_with("_user") {
            assert!(users.contains(&name), "README names unknown user {name}");
        }
    }
    let services_row = table
        .iter()
        .find(|l| l.contains("`ores_E_<service>_service`"))
        .expect("a service row");
    for s in ores_sql::tree::registry::SERVICES {
        assert!(
            services_row.contains(&format!("`{}`", s.name)),
            "README's role table lacks service {}",
            s.name
        );
    }
}
