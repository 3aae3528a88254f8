//! The triggers read other components' tables (lookups, the tenant registry, the
//! change reasons) as the writing service, so the registry must let that service
//! read them. Checked statically from the compiled-in scripts, no server needed.

use ores_sql::tree::registry::{component_of_table, owner_of};
use ores_sql::{Manifest, Phase};

#[test]
fn every_service_can_read_what_its_triggers_look_up() {
    let mut checked = 0;
    for script in Manifest::compiled().scripts() {
        if script.phase != Phase::Create {
            continue;
        }
        let Some(owner) = owner_of(&script.component) else {
            continue;
        };
        let mut needed: Vec<String> = Vec::new();
        if script.sql.contains("ores_utility_versioned_insert_fn(") {
            // Every versioned insert checks the tenant and the change reason.
            needed.push("ores_iam_tenants_tbl".into());
            needed.push("ores_dq_change_reasons_tbl".into());
        }
        for (i, _) in script.sql.match_indices("=ores_") {
            let name: String = script.sql[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.ends_with("_tbl") {
                needed.push(name);
            }
        }
        for table in needed {
            let component = component_of_table(&table)
                .unwrap_or_else(|| panic!("{}: unknown component of {table}", script.path));
            assert!(
                owner.owns.contains(&component) || owner.reads_table(&table),
                "{}: the {} service writes it but may not read {table}; add {component:?} to its reads",
                script.path,
                owner.name
            );
            checked += 1;
        }
    }
    assert!(
        checked > 50,
        "only {checked} lookups found; did the trigger syntax change?"
    );
}
