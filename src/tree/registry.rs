//! The service registry: which domain service owns which tables and what else it may read.
//!
//! This is the single place that decides per-service privileges; grants, validation
//! and documentation are all derived from it. A component is the `<component>` part of
//! `ores_<component>_<entity_plural>_tbl`.
//!
//! `build.rs` compiles this file too (through `#[path]`), to check that every script
//! sits in a known component folder: keep it free of `crate::` imports and
//! dependencies beyond `std`.

/// One domain service and the components it owns or may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Service name; its login role is `ores_<env>_<name>_service`.
    pub name: &'static str,
    /// Components whose tables it may SELECT, INSERT, UPDATE and DELETE.
    pub owns: &'static [&'static str],
    /// What it may only SELECT: a component (`dq`: all its tables) or one table by
    /// its entity key (`iam_tenants`: `ores_iam_tenants_tbl`).
    pub reads: &'static [&'static str],
}

impl Service {
    /// The login role of this service in environment `env`.
    pub fn role(&self, env: &str) -> String {
        format!("ores_{env}_{}_service", self.name)
    }

    /// Whether it may SELECT `table` without owning it: its component, or the table
    /// itself, is in `reads`.
    pub fn reads_table(&self, table: &str) -> bool {
        let Some(entity) = table
            .strip_prefix("ores_")
            .and_then(|t| t.strip_suffix("_tbl"))
        else {
            return false;
        };
        let component = component_of_table(table);
        self.reads
            .iter()
            .any(|r| entity == *r || component == Some(*r))
    }

    /// The configuration key suffix of its password (`ORES_DB_<SUFFIX>_PASSWORD`).
    pub fn password_key(&self) -> String {
        format!("{}_service", self.name)
    }
}

/// The IAM tables every other service may read: the tenants (each versioned row is
/// checked against them) and their lookups. Accounts, sessions and login events (the
/// password hashes among them) stay the IAM service's alone.
const IAM_SHARED: &[&str] = &["iam_tenants", "iam_tenant_types", "iam_tenant_statuses"];

/// [`IAM_SHARED`] plus the change reasons every versioned row is checked against.
const IAM_SHARED_AND_DQ: &[&str] = &[
    "iam_tenants",
    "iam_tenant_types",
    "iam_tenant_statuses",
    "dq",
];

/// Every domain service. Each component with tables is owned by exactly one service,
/// except those in [`PROVISIONER_COMPONENTS`].
pub const SERVICES: &[Service] = &[
    Service {
        name: "iam",
        owns: &["iam"],
        reads: &["dq", "variability"],
    },
    Service {
        name: "dq",
        owns: &["dq"],
        reads: IAM_SHARED,
    },
    Service {
        name: "refdata",
        owns: &["refdata"],
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
        ],
    },
    Service {
        name: "trading",
        owns: &["trading"],
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
            "refdata",
        ],
    },
    Service {
        name: "variability",
        owns: &["variability"],
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
        ],
    },
    Service {
        name: "telemetry",
        owns: &["telemetry"],
        reads: IAM_SHARED,
    },
    Service {
        name: "assets",
        owns: &["assets"],
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
        ],
    },
    Service {
        name: "workspace",
        owns: &["workspace"],
        // A workspace's reporting currency is a refdata lookup.
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
            "refdata",
        ],
    },
    Service {
        name: "scheduler",
        owns: &["scheduler"],
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
        ],
    },
    Service {
        name: "marketdata",
        owns: &["marketdata"],
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
            "refdata",
        ],
    },
    Service {
        name: "ore",
        owns: &["ore"],
        // The engine values trades on market data.
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
            "refdata",
            "trading",
            "marketdata",
        ],
    },
    Service {
        name: "compute",
        owns: &["compute"],
        // A batch runs one of ORE's run configurations (a lookup).
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
            "ore",
        ],
    },
    Service {
        name: "analytics",
        owns: &["analytics"],
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
            "marketdata",
        ],
    },
    Service {
        name: "reporting",
        owns: &["reporting"],
        // Reports show trades, their reference data and the risk measures' settings.
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
            "refdata",
            "trading",
            "analytics",
        ],
    },
    Service {
        name: "synthetic",
        owns: &["synthetic"],
        // It generates data shaped like refdata and trading rows, so it reads them.
        // (Upstream also lets it write refdata; here each component has one writer.)
        reads: &[
            "iam_tenants",
            "iam_tenant_types",
            "iam_tenant_statuses",
            "dq",
            "refdata",
            "trading",
        ],
    },
    Service {
        name: "workflow",
        owns: &["workflow"],
        reads: IAM_SHARED_AND_DQ,
    },
];

/// Components written only by the provisioning tool itself (the build record).
/// Every service may read them, so a service can run the start-up drift check.
pub const PROVISIONER_COMPONENTS: &[&str] = &["database"];

/// Components that hold functions only, never tables.
pub const FUNCTION_COMPONENTS: &[&str] = &["utility"];

/// Looks a service up by name.
pub fn service(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name == name)
}

/// Every component a script folder may be named after.
pub fn known_components() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = FUNCTION_COMPONENTS.to_vec();
    for s in SERVICES {
        all.extend(s.owns.iter().copied());
    }
    all.extend(PROVISIONER_COMPONENTS.iter().copied());
    all
}

/// The component of a table named `ores_<component>_..._tbl`, if it is a known one.
pub fn component_of_table(table: &str) -> Option<&'static str> {
    let rest = table.strip_prefix("ores_")?;
    known_components()
        .into_iter()
        .filter(|c| rest.starts_with(&format!("{c}_")))
        .max_by_key(|c| c.len())
}

/// The service that owns a component's tables, if any.
pub fn owner_of(component: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.owns.contains(&component))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_has_at_most_one_owner() {
        for c in known_components() {
            let owners = SERVICES.iter().filter(|s| s.owns.contains(&c)).count();
            assert!(owners <= 1, "{c} owned by {owners} services");
        }
    }

    #[test]
    fn reads_name_known_components_and_never_overlap_owns() {
        let known = known_components();
        for s in SERVICES {
            for r in s.reads {
                let component = component_of_table(&format!("ores_{r}_tbl"));
                assert!(
                    known.contains(r) || component.is_some(),
                    "{} reads unknown {r}",
                    s.name
                );
                let c = component.unwrap_or(r);
                assert!(!s.owns.contains(&c), "{} both owns and reads {r}", s.name);
            }
        }
    }

    #[test]
    fn reads_by_table_cover_that_table_only() {
        let trading = service("trading").unwrap();
        assert!(trading.reads_table("ores_iam_tenants_tbl"));
        assert!(trading.reads_table("ores_dq_change_reasons_tbl"));
        assert!(!trading.reads_table("ores_iam_accounts_tbl"));
        assert!(!trading.reads_table("ores_iam_tenants_extra_tbl"));
        assert!(!trading.reads_table("ores_trading_trades_tbl"));
    }

    #[test]
    fn table_components_resolve() {
        assert_eq!(component_of_table("ores_iam_tenants_tbl"), Some("iam"));
        assert_eq!(
            component_of_table("ores_database_builds_tbl"),
            Some("database")
        );
        assert_eq!(component_of_table("ores_unknown_x_tbl"), None);
    }
}
