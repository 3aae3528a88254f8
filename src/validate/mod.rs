//! Schema validation: the conventions of `sql/README.md`, checked on the scripts and on
//! the database they build.
//!
//! Three layers, each rule with a stable id (docs/validation.md lists them all):
//! - static rules (`S…`), on the script text; `build.rs` runs the same code
//!   ([`crate::tree::lint`]), so a violation never even compiles;
//! - catalog rules (`C…`), on a built database's catalog;
//! - `plpgsql_check` (`P001`) over every PL/pgSQL function and trigger, inside a
//!   transaction that is rolled back, so the extension is never left behind.
//!
//! Every violation is reported, not just the first. Exceptions live in
//! `sql/validate-allow.txt` (compiled in), one `RULE OBJECT # reason` per line.
//!
//! ```no_run
//! let config = ores_sql::Config::load()?;
//! let report = ores_sql::validate::run(&config)?;
//! print!("{report}");
//! if !report.is_clean() {
//!     std::process::exit(1);
//! }
//! # Ok::<(), ores_sql::Error>(())
//! ```

use crate::config::Config;
use crate::error::{Error, PgContext, Result};
use crate::server::admin::{connect_admin_to, database_exists, server_major_version};
use crate::server::grants::{public_relations, service_grants_in};
use crate::server::roles::{existing_roles, role_name, roles_in};
use crate::tree::lint::{self, AllowEntry, StaticViolation};
use crate::tree::manifest::{COMPILED_ALLOW_LIST, Manifest};
use crate::tree::registry::{self, Registry};
use postgres::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

pub use crate::tree::lint::{Rule, RuleId};

/// Path of the allow-list, relative to the repository root.
pub const ALLOW_LIST_PATH: &str = "sql/validate-allow.txt";

/// Every rule, static and catalog, in report order (for `compass db validate --list`
/// and docs/validation.md).
pub fn rules() -> Vec<Rule> {
    lint::all_rules().copied().collect()
}

/// The rules checked on the script text alone (also enforced by `build.rs`).
pub fn static_rules() -> Vec<Rule> {
    lint::static_rules().copied().collect()
}

/// The rules checked on a built database (catalog, `plpgsql_check`, allow-list use).
pub fn catalog_rules() -> Vec<Rule> {
    lint::catalog_rules().copied().collect()
}

/// The explanation of a rule id.
pub fn explain(id: &str) -> Option<&'static str> {
    RuleId::parse(id).map(RuleId::explanation)
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Rule id, e.g. `C008`.
    pub rule: RuleId,
    /// What breaks it: a table, function, role, or script path (`service:table` for
    /// privilege rules, so an entry does not depend on the environment label).
    pub object: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.rule, self.object, self.message)
    }
}

impl From<StaticViolation> for Violation {
    fn from(v: StaticViolation) -> Violation {
        let message = match v.line {
            Some(line) => format!("line {line}: {}", v.message),
            None => v.message,
        };
        Violation {
            rule: v.rule,
            object: v.object,
            message,
        }
    }
}

/// A violation excused by the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The violation.
    pub violation: Violation,
    /// The reason the allow-list gives.
    pub reason: String,
}

/// A rule that could not be checked, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Rule id.
    pub rule: RuleId,
    /// Why, and what to do about it.
    pub reason: String,
}

/// The outcome of a validation run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The database whose catalog was checked.
    pub database: String,
    /// Every violation not excused by the allow-list, in rule order.
    pub violations: Vec<Violation>,
    /// Violations the allow-list excuses.
    pub allowed: Vec<Allowed>,
    /// Rules that could not be checked (never silently).
    pub skipped: Vec<Skipped>,
    /// PL/pgSQL function (and trigger) checks `plpgsql_check` ran.
    pub plpgsql_checked: usize,
    /// Entry mode: `.sql` files of the tree no entry script reaches (reported, not
    /// violations: old and drop scripts are normal beside a tree's SQL).
    pub unreached: Vec<String>,
}

impl Report {
    /// No violation (skipped rules are reported but do not fail the run).
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Violations of one rule.
    pub fn of_rule(&self, rule: &str) -> Vec<&Violation> {
        self.violations.iter().filter(|v| v.rule == rule).collect()
    }

    /// Whether `rule` fired for exactly `object`.
    pub fn fires(&self, rule: &str, object: &str) -> bool {
        self.violations
            .iter()
            .any(|v| v.rule == rule && v.object == object)
    }
}

impl fmt::Display for Report {
    /// One line per violation (`RULE object: message`), then skipped rules, excused
    /// violations and a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.violations {
            writeln!(f, "{v}")?;
        }
        for s in &self.skipped {
            writeln!(f, "SKIPPED {}: {}", s.rule, s.reason)?;
        }
        for a in &self.allowed {
            writeln!(f, "allowed {} ({})", a.violation, a.reason)?;
        }
        for u in &self.unreached {
            writeln!(f, "unreached {u}: no entry script includes it; not built")?;
        }
        let rules = lint::all_rules().count();
        if self.violations.is_empty() {
            write!(f, "{}: no violations ({} rules", self.database, rules)?;
        } else {
            let broken: BTreeSet<&str> = self.violations.iter().map(|v| v.rule.as_str()).collect();
            write!(
                f,
                "{}: {} violation(s) of {} rule(s) ({} rules",
                self.database,
                self.violations.len(),
                broken.len(),
                rules
            )?;
        }
        write!(f, ", {} PL/pgSQL checks", self.plpgsql_checked)?;
        if !self.allowed.is_empty() {
            write!(f, ", {} allowed", self.allowed.len())?;
        }
        if !self.skipped.is_empty() {
            write!(f, ", {} SKIPPED", self.skipped.len())?;
        }
        writeln!(f, ")")
    }
}

/// Validates the configured environment's database against the compiled-in manifest
/// and allow-list: static rules, catalog rules and `plpgsql_check`.
pub fn run(config: &Config) -> Result<Report> {
    run_with(config, Manifest::compiled(), COMPILED_ALLOW_LIST)
}

/// [`run`] with another manifest and allow-list text (tests use fixtures).
pub fn run_with(config: &Config, manifest: &Manifest, allow_list: &str) -> Result<Report> {
    crate::runtime::off_runtime(|| {
        config.validate()?;
        let (entries, malformed) = lint::parse_allow_list(allow_list, ALLOW_LIST_PATH);

        let mut found: Vec<Violation> = malformed.into_iter().map(Violation::from).collect();
        found.extend(check_manifest(manifest));
        found.extend(check_registry(manifest.registry()));

        let mut admin = crate::server::admin::connect_admin(config)?;
        if !database_exists(&mut admin, &config.database)? {
            return Err(Error::NoSuchDatabase(config.database.clone()));
        }
        drop(admin);
        let mut client = connect_admin_to(config, &config.database)?;
        found.extend(check_catalog_in(
            &mut client,
            &config.env,
            manifest.registry(),
        )?);
        let mut report = Report {
            database: config.database.clone(),
            unreached: manifest.unreached().to_vec(),
            ..Report::default()
        };
        match check_plpgsql(&mut client)? {
            PlpgsqlOutcome::Checked { checks, violations } => {
                report.plpgsql_checked = checks;
                found.extend(violations);
            }
            PlpgsqlOutcome::Unavailable(reason) => {
                log::warn!("P001 SKIPPED: {reason}");
                report.skipped.push(Skipped {
                    rule: RuleId::P001,
                    reason,
                });
            }
        }
        apply_allow_list(&mut report, found, &entries);
        Ok(report)
    })
}

/// Splits violations into reported and excused; unused entries become A002.
fn apply_allow_list(report: &mut Report, found: Vec<Violation>, entries: &[AllowEntry]) {
    let mut used = vec![false; entries.len()];
    for v in found {
        let hit = entries
            .iter()
            .position(|e| e.rule == v.rule && e.object == v.object && v.rule != RuleId::A001);
        match hit {
            Some(i) => {
                used[i] = true;
                report.allowed.push(Allowed {
                    violation: v,
                    reason: entries[i].reason.clone(),
                });
            }
            None => report.violations.push(v),
        }
    }
    for (e, used) in entries.iter().zip(used) {
        if !used {
            report.violations.push(Violation {
                rule: RuleId::A002,
                object: ALLOW_LIST_PATH.to_string(),
                message: format!(
                    "line {}: `{} {}` matches no violation; remove it",
                    e.line, e.rule, e.object
                ),
            });
        }
    }
    // Enum order is the table's order, which is report order.
    report
        .violations
        .sort_by(|a, b| (a.rule, &a.object).cmp(&(b.rule, &b.object)));
}

/// Static rules over a manifest's scripts (the scan-level rules S001/S002 held when
/// the manifest was built, or it would not exist).
pub fn check_manifest(manifest: &Manifest) -> Vec<Violation> {
    let sources = manifest.scripts().iter().map(|s| lint::Source {
        phase: s.phase.as_str(),
        path: &s.path,
        component: &s.component,
        entity: &s.entity,
        sql: &s.sql,
    });
    if manifest.entry_mode() {
        let scripts = manifest
            .scripts()
            .iter()
            .map(|s| (s.path.as_ref(), s.sql.as_ref()));
        return lint::check_entry_scripts(scripts)
            .into_iter()
            .map(Violation::from)
            .collect();
    }
    lint::check_scripts(sources, &manifest.registry().known_components())
        .into_iter()
        .map(Violation::from)
        .collect()
}

/// C026: every service that writes a component another service owns. Each one needs
/// an allow-list entry `C026 <service>:<component> # reason`.
pub fn check_registry(registry: &Registry) -> Vec<Violation> {
    registry
        .cross_writes()
        .into_iter()
        .map(|(service, component)| {
            let owner = registry.owner_of(component).map_or("?", |s| s.name);
            Violation {
                rule: RuleId::C026,
                object: format!("{service}:{component}"),
                message: format!(
                    "service {service} writes component {component}, which {owner} owns; say why in the allow-list"
                ),
            }
        })
        .collect()
}

/// Every static rule over a directory laid out like `sql/`, exactly as `build.rs`
/// checks the real one.
pub fn check_dir(root: &Path) -> Vec<Violation> {
    let label = root.display().to_string();
    lint::check_tree(root, &label, &registry::known_components())
        .1
        .into_iter()
        .map(Violation::from)
        .collect()
}

/// The versioned column set and the type each column must have.
const VERSIONED_COLUMNS: [(&str, &str); 8] = [
    ("tenant_id", "uuid"),
    ("version", "integer"),
    ("modified_by", "text"),
    ("performed_by", "text"),
    ("change_reason_code", "text"),
    ("change_commentary", "text"),
    ("valid_from", "timestamp with time zone"),
    ("valid_to", "timestamp with time zone"),
];

/// Table privileges a role can hold.
const PRIVILEGES: [&str; 7] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

/// Objects an extension installed are its business, not our conventions'.
const NOT_EXTENSION: &str = "NOT EXISTS (SELECT 1 FROM pg_depend d
     WHERE d.classid = {class}::regclass AND d.objid = {oid} AND d.deptype = 'e')";

fn not_extension(class: &str, oid: &str) -> String {
    NOT_EXTENSION
        .replace("{class}", &format!("'{class}'"))
        .replace("{oid}", oid)
}

struct Table {
    name: String,
    rls: bool,
    forced: bool,
    pk: Option<Vec<String>>,
    columns: BTreeMap<String, String>,
}

/// The transition table of `<table stem>_lookup_trg` (`sql/README.md`).
const LOOKUP_NEW_TABLE: &str = "inserted_rows";

/// Rule, trigger kind, timing in words, and the test on `pg_trigger.tgtype`.
type TriggerExpectation = (RuleId, &'static str, &'static str, fn(i32) -> bool);

type Push<'a> = &'a mut dyn FnMut(RuleId, &str, String);

/// Every catalog rule (C001..C023) on the database `client` is connected to, whose
/// roles belong to environment `env`.
pub fn check_catalog(client: &mut Client, env: &str) -> Result<Vec<Violation>> {
    check_catalog_in(client, env, Registry::compiled())
}

/// [`check_catalog`] against the registry of the tree the database was built from.
pub fn check_catalog_in(
    client: &mut Client,
    env: &str,
    registry: &Registry,
) -> Result<Vec<Violation>> {
    let mut out = Vec::new();
    let mut push = |rule: RuleId, object: &str, message: String| {
        out.push(Violation {
            rule,
            object: object.to_string(),
            message,
        })
    };
    let tables = load_tables(client)?;
    check_tables(&tables, registry, &mut push);
    check_names(client, &mut push)?;
    check_tenancy(client, &tables, &mut push)?;
    check_roles(client, env, registry, &mut push)?;
    check_versioned(client, &tables, &mut push)?;
    check_security_definer(client, &mut push)?;
    check_plpgsql_search_path(client, &mut push)?;
    check_temporary(client, env, &mut push)?;
    check_privileges(client, env, registry, &mut push)?;
    Ok(out)
}

fn load_tables(client: &mut Client) -> Result<Vec<Table>> {
    let rows = client
        .query(
            &format!(
                "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                        (SELECT array_agg(a.attname::text ORDER BY k.ord)
                           FROM pg_constraint p
                           CROSS JOIN LATERAL unnest(p.conkey) WITH ORDINALITY AS k(att, ord)
                           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.att
                          WHERE p.conrelid = c.oid AND p.contype = 'p')
                   FROM pg_class c
                  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                    AND NOT c.relispartition AND {}
                  ORDER BY 1",
                not_extension("pg_class", "c.oid")
            ),
            &[],
        )
        .context("validate: listing tables")?;
    let mut tables: Vec<Table> = rows
        .iter()
        .map(|r| Table {
            name: r.get(0),
            rls: r.get(1),
            forced: r.get(2),
            pk: r.get(3),
            columns: BTreeMap::new(),
        })
        .collect();
    let cols = client
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                AND a.attnum > 0 AND NOT a.attisdropped",
            &[],
        )
        .context("validate: listing columns")?;
    for r in cols {
        let table: String = r.get(0);
        if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
            t.columns.insert(r.get(1), r.get(2));
        }
    }
    Ok(tables)
}

/// C001, C007, C020: names, primary keys, ownership by the registry.
fn check_tables(tables: &[Table], registry: &Registry, push: Push<'_>) {
    for t in tables {
        let name = t.name.as_str();
        match registry.component_of_table(name) {
            None => push(
                RuleId::C001,
                name,
                format!(
                    "not named ores_<component>_<entity_plural>_tbl with a registry component ({})",
                    registry.known_components().join(", ")
                ),
            ),
            Some(c) => {
                let plural = name
                    .strip_prefix(&format!("ores_{c}_"))
                    .and_then(|r| r.strip_suffix("_tbl"))
                    .unwrap_or("");
                let well_formed = !plural.is_empty()
                    && plural
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !well_formed {
                    push(
                        RuleId::C001,
                        name,
                        "not named ores_<component>_<entity_plural>_tbl".into(),
                    );
                }
                let owners = registry
                    .services
                    .iter()
                    .filter(|s| s.owns.contains(&c))
                    .count();
                if !registry.provisioner_components.contains(&c) && owners != 1 {
                    push(
                        RuleId::C020,
                        name,
                        format!(
                            "component {c} is owned by {owners} services in the registry; exactly one must own it"
                        ),
                    );
                }
            }
        }
        if t.pk.is_none() {
            push(RuleId::C007, name, "has no primary key".into());
        }
    }
}

/// C002..C006: suffixes of functions, views, triggers, indexes and policies.
fn check_names(client: &mut Client, push: Push<'_>) -> Result<()> {
    let queries: [(RuleId, &str, String); 5] = [
        (
            RuleId::C002,
            "_fn",
            format!(
                "SELECT p.proname::text FROM pg_proc p
                  WHERE p.pronamespace = 'public'::regnamespace AND {}",
                not_extension("pg_proc", "p.oid")
            ),
        ),
        (
            RuleId::C003,
            "_vw",
            format!(
                "SELECT c.relname::text FROM pg_class c
                  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm') AND {}",
                not_extension("pg_class", "c.oid")
            ),
        ),
        (
            RuleId::C004,
            "_trg",
            "SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal"
                .to_string(),
        ),
        (
            RuleId::C005,
            "_idx",
            // An index behind a constraint is named by the constraint (`..._pkey`,
            // `..._excl`); naming the constraint `_idx` would mislead more than help.
            format!(
                "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE c.relnamespace = 'public'::regnamespace AND {}
                    AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                                     WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))",
                not_extension("pg_class", "i.indrelid")
            ),
        ),
        (
            RuleId::C006,
            "_pol",
            "SELECT p.polname::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
              WHERE c.relnamespace = 'public'::regnamespace"
                .to_string(),
        ),
    ];
    for (rule, suffix, sql) in queries {
        let names: BTreeSet<String> = client
            .query(&sql, &[])
            .context(format!("validate: listing names for {rule}"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for name in names.iter().filter(|n| !n.ends_with(suffix)) {
            push(rule, name, format!("name does not end in {suffix}"));
        }
    }
    Ok(())
}

/// C008..C012: tenant_id leads keys; RLS enabled, forced, with a tenant policy.
fn check_tenancy(client: &mut Client, tables: &[Table], push: Push<'_>) -> Result<()> {
    let tenant_tables: Vec<&Table> = tables
        .iter()
        .filter(|t| t.columns.contains_key("tenant_id"))
        .collect();
    let names: Vec<&str> = tenant_tables.iter().map(|t| t.name.as_str()).collect();
    for t in &tenant_tables {
        let name = t.name.as_str();
        if let Some(pk) = &t.pk
            && pk.first().map(String::as_str) != Some("tenant_id")
        {
            push(
                RuleId::C008,
                name,
                format!(
                    "primary key ({}) does not start with tenant_id",
                    pk.join(", ")
                ),
            );
        }
        if !t.rls {
            push(
                RuleId::C010,
                name,
                "row-level security is not enabled".into(),
            );
        }
        if !t.forced {
            push(
                RuleId::C011,
                name,
                "row-level security is not forced (the owner bypasses it)".into(),
            );
        }
    }
    let unique = client
        .query(
            "SELECT c.relname::text, x.relname::text, a.attname::text
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_class x ON x.oid = i.indexrelid
               LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
              WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1)
                AND i.indisunique AND NOT i.indisprimary
              ORDER BY 1, 2",
            &[&names],
        )
        .context("validate: listing unique indexes")?;
    for r in unique {
        let (table, index, first): (String, String, Option<String>) =
            (r.get(0), r.get(1), r.get(2));
        if first.as_deref() != Some("tenant_id") {
            push(
                RuleId::C009,
                &index,
                format!("unique index on {table} does not start with tenant_id"),
            );
        }
    }
    let policies = client
        .query(
            "SELECT c.relname::text,
                    coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' ' ||
                    coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
               FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
              WHERE c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace",
            &[&names],
        )
        .context("validate: listing policies")?;
    let mut tenant_aware: BTreeMap<String, bool> = BTreeMap::new();
    for r in policies {
        let (table, expr): (String, String) = (r.get(0), r.get(1));
        let reads_tenant =
            expr.contains("ores_utility_current_tenant_id_fn") || expr.contains("ores.tenant_id");
        *tenant_aware.entry(table).or_default() |= reads_tenant;
    }
    for t in &tenant_tables {
        match tenant_aware.get(&t.name) {
            None => push(
                RuleId::C012,
                &t.name,
                "has no row-level security policy".into(),
            ),
            Some(false) => push(
                RuleId::C012,
                &t.name,
                "no policy reads the current tenant (ores_utility_current_tenant_id_fn())".into(),
            ),
            Some(true) => {}
        }
    }
    Ok(())
}

/// C013: the environment's roles carry no privilege-escalating attribute.
fn check_roles(client: &mut Client, env: &str, registry: &Registry, push: Push<'_>) -> Result<()> {
    let names: Vec<String> = roles_in(env, registry)
        .into_iter()
        .map(|r| r.name)
        .collect();
    let rows = client
        .query(
            "SELECT rolname::text, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolreplication
               FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1",
            &[&names],
        )
        .context("validate: reading role attributes")?;
    for r in rows {
        let role: String = r.get(0);
        let bad: Vec<&str> = [
            "SUPERUSER",
            "BYPASSRLS",
            "CREATEDB",
            "CREATEROLE",
            "REPLICATION",
        ]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| r.get::<_, bool>(i + 1))
        .map(|(_, a)| a)
        .collect();
        if !bad.is_empty() {
            push(RuleId::C013, &role, format!("has {}", bad.join(", ")));
        }
    }
    Ok(())
}

/// C014..C018, C023: the bitemporal machinery of every versioned table.
fn check_versioned(client: &mut Client, tables: &[Table], push: Push<'_>) -> Result<()> {
    let versioned: Vec<&Table> = tables
        .iter()
        .filter(|t| t.columns.contains_key("valid_from") || t.columns.contains_key("valid_to"))
        .collect();
    if versioned.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = versioned.iter().map(|t| t.name.as_str()).collect();
    let exclusions = client
        .query(
            "SELECT c.relname::text, pg_get_constraintdef(k.oid)
               FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
              WHERE k.contype = 'x' AND c.relname = ANY($1)
                AND c.relnamespace = 'public'::regnamespace",
            &[&names],
        )
        .context("validate: listing exclusion constraints")?;
    let mut temporal: BTreeSet<String> = BTreeSet::new();
    for r in exclusions {
        let (table, def): (String, String) = (r.get(0), r.get(1));
        let def = def
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if def.starts_with("exclude using gist (tenant_id with =")
            && def.contains("tstzrange(valid_from, valid_to")
            && def.contains("with &&")
        {
            temporal.insert(table);
        }
    }
    let triggers = client
        .query(
            "SELECT c.relname::text, t.tgname::text, t.tgtype::int4, t.tgenabled::text,
                    t.tgnewtable::text
               FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE NOT t.tgisinternal AND c.relname = ANY($1)
                AND c.relnamespace = 'public'::regnamespace",
            &[&names],
        )
        .context("validate: listing triggers")?;
    let mut by_name: BTreeMap<String, (i32, String, Option<String>)> = BTreeMap::new();
    for r in triggers {
        let (table, trigger): (String, String) = (r.get(0), r.get(1));
        by_name.insert(format!("{table}/{trigger}"), (r.get(2), r.get(3), r.get(4)));
    }
    // pg_trigger.tgtype bits.
    const ROW: i32 = 1;
    const BEFORE: i32 = 2;
    const INSERT: i32 = 4;
    const DELETE: i32 = 8;
    const UPDATE: i32 = 16;
    const INSTEAD: i32 = 64;
    for t in versioned {
        let name = t.name.as_str();
        let problems: Vec<String> = VERSIONED_COLUMNS
            .iter()
            .filter_map(|(col, ty)| match t.columns.get(*col) {
                None => Some(format!("{col} missing")),
                Some(actual) if actual != ty => Some(format!("{col} is {actual}, not {ty}")),
                Some(_) => None,
            })
            .collect();
        if !problems.is_empty() {
            push(
                RuleId::C014,
                name,
                format!("versioned column set incomplete: {}", problems.join(", ")),
            );
        }
        if !temporal.contains(name) {
            push(
                RuleId::C015,
                name,
                "no gist exclusion constraint led by tenant_id WITH = forbidding overlapping tstzrange(valid_from, valid_to)".into(),
            );
        }
        let stem = name.strip_suffix("_tbl").unwrap_or(name);
        let expectations: [TriggerExpectation; 4] = [
            (RuleId::C016, "insert", "BEFORE INSERT FOR EACH ROW", |ty| {
                ty & (ROW | BEFORE | INSERT) == ROW | BEFORE | INSERT && ty & INSTEAD == 0
            }),
            (RuleId::C017, "delete", "BEFORE DELETE FOR EACH ROW", |ty| {
                ty & (ROW | BEFORE | DELETE) == ROW | BEFORE | DELETE && ty & INSTEAD == 0
            }),
            (
                RuleId::C018,
                "notify",
                "AFTER INSERT OR UPDATE OR DELETE",
                |ty| {
                    ty & (BEFORE | INSTEAD) == 0
                        && ty & (INSERT | UPDATE | DELETE) == INSERT | UPDATE | DELETE
                },
            ),
            (
                RuleId::C023,
                "lookup",
                "AFTER INSERT FOR EACH STATEMENT",
                |ty| ty & (ROW | BEFORE | INSTEAD) == 0 && ty & INSERT == INSERT,
            ),
        ];
        for (rule, kind, timing, ok) in expectations {
            let trigger = format!("{stem}_{kind}_trg");
            match by_name.get(&format!("{name}/{trigger}")) {
                None => push(rule, name, format!("has no trigger {trigger} ({timing})")),
                Some((ty, _, _)) if !ok(*ty) => {
                    push(rule, name, format!("trigger {trigger} is not {timing}"))
                }
                Some((_, enabled, _)) if enabled == "D" => {
                    push(rule, name, format!("trigger {trigger} is disabled"))
                }
                // ores_utility_versioned_lookup_fn reads the rows under this name.
                Some((_, _, new_table))
                    if rule == RuleId::C023 && new_table.as_deref() != Some(LOOKUP_NEW_TABLE) =>
                {
                    push(
                        rule,
                        name,
                        format!(
                            "trigger {trigger} does not say REFERENCING NEW TABLE AS {LOOKUP_NEW_TABLE}"
                        ),
                    )
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// C024: PL/pgSQL functions pin search_path with pg_temp listed last. Unlisted,
/// pg_temp is searched first, so a session's temporary table would shadow any table
/// the function names.
fn check_plpgsql_search_path(client: &mut Client, push: Push<'_>) -> Result<()> {
    let rows = client
        .query(
            &format!(
                "SELECT p.proname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                  WHERE p.pronamespace = 'public'::regnamespace AND l.lanname = 'plpgsql' AND {}
                    AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{{}}')) s
                                     WHERE s ~ '^search_path=(.*,)? *\"?pg_temp\"? *$')
                  ORDER BY 1",
                not_extension("pg_proc", "p.oid")
            ),
            &[],
        )
        .context("validate: listing PL/pgSQL functions")?;
    for r in rows {
        let name: String = r.get(0);
        push(
            RuleId::C024,
            &name,
            "does not pin search_path ending in pg_temp; a temporary table could stand in for a table it reads".into(),
        );
    }
    Ok(())
}

/// C025: only the owner group creates temporary tables (TEMPORARY on the database).
fn check_temporary(client: &mut Client, env: &str, push: Push<'_>) -> Result<()> {
    let owner = role_name(env, "owner");
    let rows = client
        .query(
            "SELECT coalesce(r.rolname::text, 'PUBLIC')
               FROM pg_database d
              CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
               LEFT JOIN pg_roles r ON r.oid = a.grantee
              WHERE d.datname = current_database() AND a.privilege_type = 'TEMPORARY'
                AND (r.rolname IS NULL OR r.rolname <> $1)
              ORDER BY 1",
            &[&owner],
        )
        .context("validate: reading the database's privileges")?;
    for r in rows {
        let grantee: String = r.get(0);
        push(
            RuleId::C025,
            &grantee,
            "holds TEMPORARY on the database; only the owner group may create temporary tables"
                .into(),
        );
    }
    Ok(())
}

/// C019: SECURITY DEFINER functions pin search_path.
fn check_security_definer(client: &mut Client, push: Push<'_>) -> Result<()> {
    let rows = client
        .query(
            &format!(
                "SELECT p.proname::text FROM pg_proc p
                  WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef AND {}
                    AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{{}}')) s
                                     WHERE s LIKE 'search\\_path=%')
                  ORDER BY 1",
                not_extension("pg_proc", "p.oid")
            ),
            &[],
        )
        .context("validate: listing SECURITY DEFINER functions")?;
    for r in rows {
        let name: String = r.get(0);
        push(
            RuleId::C019,
            &name,
            "SECURITY DEFINER without SET search_path; a caller could shadow what it calls".into(),
        );
    }
    Ok(())
}

/// C021, C022: what each service can do on each relation equals what the registry
/// grants it (directly or through the service group), no more, no less.
fn check_privileges(
    client: &mut Client,
    env: &str,
    registry: &Registry,
    push: Push<'_>,
) -> Result<()> {
    let relations = public_relations(client).context("validate: listing relations")?;
    let group = role_name(env, "service");
    let mut expected: BTreeSet<(String, String, &str)> = BTreeSet::new();
    for g in service_grants_in(env, &relations, registry) {
        let roles: Vec<String> = if g.role == group {
            registry.services.iter().map(|s| s.role(env)).collect()
        } else {
            vec![g.role.clone()]
        };
        for role in roles {
            for p in g.privileges.split(", ") {
                let p = PRIVILEGES
                    .iter()
                    .find(|q| **q == p)
                    .expect("known privilege");
                expected.insert((role.clone(), g.relation.clone(), p));
            }
        }
    }
    let service_roles: Vec<String> = registry.services.iter().map(|s| s.role(env)).collect();
    let existing: BTreeSet<String> = existing_roles(client, &service_roles)
        .context("validate: listing service roles")?
        .into_iter()
        .collect();
    let service_of = |role: &str| {
        registry
            .services
            .iter()
            .find(|s| s.role(env) == role)
            .map(|s| s.name)
            .unwrap_or("?")
    };
    for s in registry.services {
        if !existing.contains(&s.role(env)) {
            push(
                RuleId::C022,
                &format!("{}:*", s.name),
                format!("service role {} does not exist", s.role(env)),
            );
        }
    }
    let present: Vec<&String> = service_roles
        .iter()
        .filter(|r| existing.contains(*r))
        .collect();
    let rows = client
        .query(
            "SELECT r.rolname::text, c.relname::text, p.priv,
                    CASE WHEN p.priv IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                         THEN has_any_column_privilege(r.oid, c.oid, p.priv)
                         ELSE has_table_privilege(r.oid, c.oid, p.priv) END,
                    has_table_privilege(r.oid, c.oid, p.priv)
               FROM pg_class c
              CROSS JOIN pg_roles r
              CROSS JOIN unnest($2::text[]) AS p(priv)
              WHERE c.relnamespace = 'public'::regnamespace
                AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
                AND r.rolname = ANY($1)
              ORDER BY 1, 2, 3",
            &[&present, &PRIVILEGES.to_vec()],
        )
        .context("validate: reading effective privileges")?;
    for r in rows {
        let (role, relation, privilege): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let (any_column, whole_table): (bool, bool) = (r.get(3), r.get(4));
        let wanted = expected.contains(&(role.clone(), relation.clone(), privilege.as_str()));
        let object = format!("{}:{relation}", service_of(&role));
        if any_column && !wanted {
            push(
                RuleId::C021,
                &object,
                format!(
                    "{role} holds {privilege} on {relation}, which the registry does not grant"
                ),
            );
        } else if wanted && !whole_table {
            push(
                RuleId::C022,
                &object,
                format!("{role} lacks {privilege} on {relation}, which the registry grants"),
            );
        }
    }
    Ok(())
}

enum PlpgsqlOutcome {
    Checked {
        checks: usize,
        violations: Vec<Violation>,
    },
    Unavailable(String),
}

/// P001: `plpgsql_check` over every PL/pgSQL function, and over every trigger
/// function once per table it is attached to (it needs the relation to resolve
/// NEW and OLD, and the trigger's transition table names). Runs in a transaction
/// that is rolled back, so installing the extension leaves no trace in the database.
fn check_plpgsql(client: &mut Client) -> Result<PlpgsqlOutcome> {
    let available: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check')",
            &[],
        )
        .context("validate: looking for plpgsql_check")?
        .get(0);
    if !available {
        let major = server_major_version(client)?;
        return Ok(PlpgsqlOutcome::Unavailable(format!(
            "plpgsql_check is not installed on the server, so PL/pgSQL bodies were NOT checked; install postgresql-{major}-plpgsql-check"
        )));
    }
    let mut tx = client
        .transaction()
        .context("validate: opening the plpgsql_check transaction")?;
    tx.batch_execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
        .context("validate: installing plpgsql_check (rolled back afterwards)")?;
    let targets = tx
        .query(
            &format!(
                "SELECT p.oid, p.proname::text, coalesce(t.tgrelid, 0::oid),
                        coalesce(c.relname::text, ''), p.prorettype = 'trigger'::regtype,
                        t.tgoldtable::text, t.tgnewtable::text
                   FROM pg_proc p
                   JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
                   LEFT JOIN pg_trigger t ON t.tgfoid = p.oid AND NOT t.tgisinternal
                   LEFT JOIN pg_class c ON c.oid = t.tgrelid
                  WHERE p.pronamespace = 'public'::regnamespace
                    AND p.prorettype <> 'event_trigger'::regtype AND {}
                  ORDER BY 2, 4",
                not_extension("pg_proc", "p.oid")
            ),
            &[],
        )
        .context("validate: listing PL/pgSQL functions")?;
    let mut checks = 0;
    let mut violations = Vec::new();
    for row in targets {
        let (oid, name, relid, table, is_trigger): (u32, String, u32, String, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        // A statement trigger's function may read its transition tables by name.
        let (old_table, new_table): (Option<String>, Option<String>) = (row.get(5), row.get(6));
        if is_trigger && relid == 0 {
            // A trigger function no trigger uses cannot be checked without a table.
            continue;
        }
        checks += 1;
        let on = if table.is_empty() {
            String::new()
        } else {
            format!(" (trigger on {table})")
        };
        let mut sp = tx.transaction().context("validate: savepoint")?;
        let result = sp.query(
            "SELECT coalesce(lineno, 0), coalesce(sqlstate, ''), message, detail
               FROM plpgsql_check_function_tb($1::oid::regprocedure, $2::oid::regclass,
                                              fatal_errors := false,
                                              oldtable := $3::text::name, newtable := $4::text::name)
              WHERE level = 'error'",
            &[&oid, &relid, &old_table, &new_table],
        );
        match result {
            Ok(rows) => {
                for r in rows {
                    let (line, state, message, detail): (i32, String, String, Option<String>) =
                        (r.get(0), r.get(1), r.get(2), r.get(3));
                    let mut text = format!("line {line}{on}: {message}");
                    if !state.is_empty() {
                        text.push_str(&format!(" (SQLSTATE {state})"));
                    }
                    if let Some(d) = detail {
                        text.push_str(&format!("; {d}"));
                    }
                    violations.push(Violation {
                        rule: RuleId::P001,
                        object: name.clone(),
                        message: text,
                    });
                }
            }
            Err(e) => violations.push(Violation {
                rule: RuleId::P001,
                object: name.clone(),
                message: format!(
                    "plpgsql_check could not check it{on}: {}",
                    crate::error::describe_pg(&e)
                ),
            }),
        }
        // Rolled back either way: plpgsql_check must not change anything.
        drop(sp);
    }
    tx.rollback()
        .context("validate: rolling back the plpgsql_check transaction")?;
    Ok(PlpgsqlOutcome::Checked { checks, violations })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(rule: RuleId, object: &str) -> Violation {
        Violation {
            rule,
            object: object.into(),
            message: "broken".into(),
        }
    }

    #[test]
    fn report_prints_violations_skips_and_a_summary() {
        let mut report = Report {
            database: "db".into(),
            ..Report::default()
        };
        report.skipped.push(Skipped {
            rule: RuleId::P001,
            reason: "plpgsql_check is not installed".into(),
        });
        let entries = lint::parse_allow_list("C003 v # legacy view\n", "a").0;
        apply_allow_list(
            &mut report,
            vec![
                violation(RuleId::C007, "t"),
                violation(RuleId::C003, "v"),
                violation(RuleId::C001, "u"),
            ],
            &entries,
        );
        assert!(!report.is_clean());
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "C001 u: broken", "sorted by rule: {text}");
        assert_eq!(lines[1], "C007 t: broken");
        assert_eq!(lines[2], "SKIPPED P001: plpgsql_check is not installed");
        assert_eq!(lines[3], "allowed C003 v: broken (legacy view)");
        assert!(
            lines[4].starts_with("db: 2 violation(s) of 2 rule(s)"),
            "{text}"
        );
        assert!(
            lines[4].contains("1 allowed") && lines[4].contains("1 SKIPPED"),
            "{text}"
        );
    }

    #[test]
    fn a_clean_report_says_so() {
        let report = Report {
            database: "db".into(),
            ..Report::default()
        };
        assert!(report.is_clean());
        assert!(report.to_string().starts_with("db: no violations ("));
    }
}
