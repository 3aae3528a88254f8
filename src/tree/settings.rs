//! `sql/ores-sql.toml`: a tree's own description of itself (entry scripts, extensions,
//! login users, the service registry, extra psql variables).
//!
//! Compiled twice, like `scan.rs`: by `build.rs` (through `#[path]`), which refuses a
//! malformed file with its path and line, and into the library, which reads the same
//! text (compiled in, or beside a `--sql-dir` tree) with the same code. It depends on
//! nothing but `std`, `serde` and `toml`, which are build and normal dependencies.
//!
//! The key names are a contract other teams' files are written against (issue 10):
//! never rename one.

use super::lint::{Level, RuleId, RuleSet};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The file's name inside the tree root.
pub const FILE_NAME: &str = "ores-sql.toml";

/// The group roles a login user may belong to.
pub const LOGIN_GROUP_NAMES: [&str; 3] = ["owner", "rw", "ro"];

/// Login users of a tree that has no `ores-sql.toml` (or no `login_users` key): the
/// ones every environment had before the file existed.
pub const DEFAULT_LOGIN_USERS: [(&str, &str); 5] = [
    ("ddl", "owner"),
    ("cli", "rw"),
    ("readonly", "ro"),
    ("test_ddl", "owner"),
    ("test_dml", "rw"),
];

/// Extensions of a tree that does not list any.
pub const DEFAULT_REQUIRED_EXTENSIONS: [&str; 3] = ["btree_gist", "pg_trgm", "pgcrypto"];

/// Components that hold functions only, when the file does not say.
pub const DEFAULT_FUNCTION_COMPONENTS: [&str; 1] = ["utility"];

/// Components written only by the provisioning tool, when the file does not say.
pub const DEFAULT_PROVISIONER_COMPONENTS: [&str; 1] = ["database"];

/// The file as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    entry: Vec<String>,
    #[serde(default)]
    strict: bool,
    extensions: Option<RawExtensions>,
    login_users: Option<Vec<String>>,
    login_groups: Option<BTreeMap<String, String>>,
    #[serde(default)]
    services: Vec<RawService>,
    components: Option<RawComponents>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    tests: Option<RawTests>,
    version: Option<RawVersion>,
    commands: Option<RawCommands>,
    entity: Option<RawEntity>,
    validate: Option<RawValidate>,
}

/// `[tests]`: the tree's pgTAP suite (`compass db test`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTests {
    dir: Option<String>,
    pattern: Option<String>,
    setup: Option<Vec<String>>,
    role: Option<String>,
    extensions: Option<Vec<String>>,
}

/// `[version]`: the tree's own version information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    query: Option<String>,
}

/// `[commands]`: what the tree's own maintenance commands run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    reset_system: Option<String>,
    reset_tenant: Option<String>,
    #[serde(rename = "as")]
    run_as: Option<String>,
}

/// `[entity]`: how `recreate-entity` finds an entity's files in an entry tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    drop: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidate {
    #[serde(default)]
    sets: Vec<String>,
    #[serde(default)]
    rules: Vec<String>,
    fail_on: Option<String>,
    #[serde(default)]
    naming: RawNaming,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNaming {
    table: Option<String>,
    function: Option<String>,
    view: Option<String>,
    trigger: Option<String>,
    index: Option<String>,
    policy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtensions {
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    optional: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    #[serde(default)]
    owns: Vec<String>,
    #[serde(default)]
    reads: Vec<String>,
    #[serde(default)]
    writes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponents {
    functions: Option<Vec<String>>,
    provisioner: Option<Vec<String>>,
}

/// One service as the file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDecl {
    /// Service name; its login role is `ores_<env>_<name>_service`.
    pub name: String,
    /// Components whose tables it may read and write.
    pub owns: Vec<String>,
    /// Components, or single tables by entity key, it may only read.
    pub reads: Vec<String>,
    /// Components owned by another service that it may also write. Validation rule
    /// C026 reports each one unless the allow-list gives a reason.
    pub writes: Vec<String>,
}

/// `[validate]`: the house-style rule sets and single rules a tree opts into beside
/// the universal ones, the naming patterns its rules check, and how strict its CI is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateSettings {
    /// House-style rule sets run beside the universal rules.
    pub sets: Vec<RuleSet>,
    /// Single house-style rules run beside the universal rules.
    pub rules: Vec<RuleId>,
    /// The level from which `compass db validate` fails, unless `--fail-on` says.
    pub fail_on: Option<Level>,
    /// The names the naming rules expect.
    pub naming: NamingPatterns,
}

/// Name patterns of the naming rules (C001..C006): `*` stands for one or more
/// lowercase letters, digits or `_`, `{component}` for a component of the registry;
/// everything else is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamingPatterns {
    /// Tables (C001).
    pub table: String,
    /// Functions and procedures (C002).
    pub function: String,
    /// Views and materialized views (C003).
    pub view: String,
    /// Triggers (C004).
    pub trigger: String,
    /// Indexes not backing a constraint (C005).
    pub index: String,
    /// Row-level security policies (C006).
    pub policy: String,
}

impl Default for NamingPatterns {
    /// ORE Studio's own conventions (`sql/README.md`).
    fn default() -> NamingPatterns {
        NamingPatterns {
            table: "ores_{component}_*_tbl".into(),
            function: "*_fn".into(),
            view: "*_vw".into(),
            trigger: "*_trg".into(),
            index: "*_idx".into(),
            policy: "*_pol".into(),
        }
    }
}

/// Whether `name` matches `pattern` ([`NamingPatterns`]), `{component}` being one
/// of `components`.
pub fn name_matches(pattern: &str, name: &str, components: &[&str]) -> bool {
    if let Some(rest) = pattern.strip_prefix("{component}") {
        return components.iter().any(|c| {
            name.strip_prefix(c)
                .is_some_and(|tail| name_matches(rest, tail, components))
        });
    }
    if let Some(rest) = pattern.strip_prefix('*') {
        // One or more name characters, as few or as many as the rest needs.
        let run = name
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
            .count();
        return (1..=run).any(|n| name_matches(rest, &name[n..], components));
    }
    match (pattern.chars().next(), name.chars().next()) {
        (None, None) => true,
        (Some(p), Some(c)) if p == c => {
            name_matches(&pattern[p.len_utf8()..], &name[c.len_utf8()..], components)
        }
        _ => false,
    }
}

/// A tree's settings, checked. [`TreeSettings::default`] is a tree without the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSettings {
    /// Entry scripts relative to the tree root, in order; empty: numeric-prefix layout.
    pub entry: Vec<String>,
    /// Whether validation violations fail the build of this tree.
    pub strict: bool,
    /// Extensions the build must install.
    pub required_extensions: Vec<String>,
    /// Extensions installed when the server has them, reported when not.
    pub optional_extensions: Vec<String>,
    /// Login users besides the services: (stem, group), the role `ores_<env>_<stem>_user`.
    pub login_users: Vec<(String, String)>,
    /// The service registry.
    pub services: Vec<ServiceDecl>,
    /// Components holding functions only.
    pub function_components: Vec<String>,
    /// Components written only by the provisioning tool.
    pub provisioner_components: Vec<String>,
    /// Extra psql variables and their defaults (`{env}` not yet substituted).
    pub variables: BTreeMap<String, String>,
    /// Its pgTAP suite (`[tests]`), the defaults when the file has no such table.
    pub tests: TestSettings,
    /// `[version] query`: one row of the tree's own version information, shown by
    /// `compass db version` beside the engine's build record.
    pub version_query: Option<String>,
    /// `[commands]`: the SQL of the tree's maintenance commands.
    pub commands: TreeCommands,
    /// `[entity] drop`: where an entry tree keeps an entity's drop script, with
    /// `{component}` and `{entity}` placeholders.
    pub entity_drop: String,
    /// `[validate]`; `None`: the tree runs the universal rules only.
    pub validate: Option<ValidateSettings>,
}

/// Who runs a tree's test files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestRole {
    /// The administrative login, as `pg_prove` run by the administrator would.
    Admin,
    /// A login user by stem: `ores_<env>_<stem>_user`.
    LoginUser(String),
    /// A service's login by name: `ores_<env>_<name>_service`.
    Service(String),
}

/// `[tests]`: where a tree's pgTAP files are and how they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSettings {
    /// Folder of the test files, relative to the tree root (default `test`).
    pub dir: String,
    /// File-name pattern of a test file inside `dir` (`*` and `?`; default `*_test.sql`).
    pub pattern: String,
    /// Scripts run once on the test template after the build, relative to `dir`, as
    /// the DDL login. Default: none without a `[tests]` table, `["test.sql"]` with one.
    pub setup: Vec<String>,
    /// Who runs the test files (default: the administrator).
    pub role: TestRole,
    /// Extensions the administrator installs on the test template before the setup
    /// (default `["pgtap"]`): pgTAP is not a trusted extension, so the DDL login
    /// cannot install it itself.
    pub extensions: Vec<String>,
}

/// The `[tests]` defaults.
pub const DEFAULT_TEST_DIR: &str = "test";
/// The default test-file pattern.
pub const DEFAULT_TEST_PATTERN: &str = "*_test.sql";
/// The default setup script of a `[tests]` table that names none.
pub const DEFAULT_TEST_SETUP: &str = "test.sql";

impl Default for TestSettings {
    fn default() -> TestSettings {
        TestSettings {
            dir: DEFAULT_TEST_DIR.into(),
            pattern: DEFAULT_TEST_PATTERN.into(),
            setup: Vec::new(),
            role: TestRole::Admin,
            extensions: vec!["pgtap".into()],
        }
    }
}

impl TestSettings {
    /// Whether `name` (a file name, no folder) is a test file by `pattern`.
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.pattern.as_bytes(), name.as_bytes())
    }
}

/// `*` (any run) and `?` (one character) against a file name.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob_match(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob_match(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob_match(rest, &name[1..]),
    }
}

/// Where an entry tree keeps an entity's drop script when `[entity] drop` says
/// nothing: ORE Studio's layout.
pub const DEFAULT_ENTITY_DROP: &str = "drop/{component}/{entity}_drop.sql";

/// `[commands]` of a tree: SQL in the psql subset, each run in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeCommands {
    /// `reset_system`: what `compass db reset-system` runs.
    pub reset_system: Option<String>,
    /// `reset_tenant`: what `compass db reset-tenant -t CODE` runs, with the psql
    /// variable `tenant_code`.
    pub reset_tenant: Option<String>,
    /// `as`: the login user stem the commands run as (default: the DDL login).
    pub run_as: Option<String>,
}

impl Default for TreeSettings {
    fn default() -> TreeSettings {
        TreeSettings::from_raw(Raw::default()).expect("the defaults are valid")
    }
}

/// A malformed settings file: the file, the line (0 when unknown) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettingsError {
    /// The file as the caller named it.
    pub path: String,
    /// 1-based line; 0 when no line is to blame.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.path, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SettingsError {}

/// Whether `name` may be used as a component, service, login stem or extension: it
/// ends up inside role and table names.
fn is_plain(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 40
}

/// A psql variable name (letters, digits, underscores).
fn is_var_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

impl TreeSettings {
    /// Parses and checks the text of a settings file; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<TreeSettings, SettingsError> {
        let raw: Raw = toml::from_str(text).map_err(|e| SettingsError {
            path: path.to_string(),
            line: e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            }),
            message: e.message().trim().to_string(),
        })?;
        TreeSettings::from_raw(raw).map_err(|(needle, message)| SettingsError {
            path: path.to_string(),
            line: needle.map_or(0, |n| line_mentioning(text, &n)),
            message,
        })
    }

    /// Checks what serde cannot: names, groups, one owner per component. An error
    /// carries the quoted value to look for in the text (for its line).
    fn from_raw(raw: Raw) -> Result<TreeSettings, Fault> {
        // Section by section in the file's order, so the first fault found is the
        // one it always was.
        check_entry(&raw.entry)?;
        let extensions = extensions(raw.extensions)?;
        let login_users = login_users(raw.login_users, raw.login_groups)?;
        let (function_components, provisioner_components) = components(raw.components)?;
        let services = services(raw.services, &function_components, &provisioner_components)?;
        check_variables(&raw.variables, &login_users, &services)?;
        let tests = tests(raw.tests, &login_users, &services)?;
        let commands = commands(raw.commands, &login_users)?;
        let version_query = raw.version.and_then(|v| v.query);
        if version_query
            .as_deref()
            .is_some_and(|q| q.trim().is_empty())
        {
            return Err((Some("query".into()), "[version] query is empty".into()));
        }
        let entity_drop = entity_drop(raw.entity)?;
        let validate = raw.validate.map(validate_settings).transpose()?;
        Ok(TreeSettings {
            entry: raw.entry,
            strict: raw.strict,
            required_extensions: extensions.required,
            optional_extensions: extensions.optional,
            login_users,
            services,
            function_components,
            provisioner_components,
            variables: raw.variables,
            tests,
            version_query,
            commands,
            entity_drop,
            validate,
        })
    }

    /// Whether the tree is applied through psql entry scripts.
    pub fn entry_mode(&self) -> bool {
        !self.entry.is_empty()
    }

    /// Every component a script folder or table may be named after.
    pub fn known_components(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .function_components
            .iter()
            .map(String::as_str)
            .collect();
        for s in &self.services {
            all.extend(s.owns.iter().map(String::as_str));
        }
        all.extend(self.provisioner_components.iter().map(String::as_str));
        all
    }
}

/// What is wrong with a settings file, and the text to look for to find its line
/// (none when no line is to blame).
type Fault = (Option<String>, String);

/// `v` as the file writes a string, to find its line.
fn quoted(v: &str) -> Option<String> {
    Some(format!("\"{v}\""))
}

/// Refuses `v`, a `kind` of name, unless [`is_plain`].
fn plain(kind: &str, v: &str) -> Result<(), Fault> {
    if is_plain(v) {
        Ok(())
    } else {
        Err((
            quoted(v),
            format!(
                "{kind} {v:?} must be lowercase ASCII letters, digits and _, starting with a letter (at most 40)"
            ),
        ))
    }
}

/// `entry`: an empty path would name the tree root, not a script.
fn check_entry(entry: &[String]) -> Result<(), Fault> {
    for e in entry {
        if e.trim().is_empty() {
            return Err((Some("entry".into()), "an entry script path is empty".into()));
        }
    }
    Ok(())
}

/// `[extensions]`, or the defaults when the file has no such table.
fn extensions(raw: Option<RawExtensions>) -> Result<RawExtensions, Fault> {
    let extensions = raw.unwrap_or_else(|| RawExtensions {
        required: DEFAULT_REQUIRED_EXTENSIONS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        optional: Vec::new(),
    });
    for e in extensions.required.iter().chain(&extensions.optional) {
        plain("extension", e)?;
    }
    Ok(extensions)
}

/// `login_users` and `[login_groups]`: (stem, group) pairs, each user with exactly one
/// known group; the defaults when the file has neither key.
fn login_users(
    users: Option<Vec<String>>,
    groups: Option<BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>, Fault> {
    if users.is_none() && groups.is_none() {
        return Ok(DEFAULT_LOGIN_USERS
            .iter()
            .map(|(s, g)| (s.to_string(), g.to_string()))
            .collect());
    }
    let users = users.unwrap_or_default();
    let groups = groups.unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for stem in &users {
        plain("login user", stem)?;
        if out.iter().any(|(s, _)| s == stem) {
            return Err((quoted(stem), format!("login user {stem:?} listed twice")));
        }
        let Some(group) = groups.get(stem) else {
            return Err((
                quoted(stem),
                format!("login user {stem:?} has no group in [login_groups]"),
            ));
        };
        if !LOGIN_GROUP_NAMES.contains(&group.as_str()) {
            return Err((
                quoted(group),
                format!(
                    "login group {group:?} of {stem:?} is not one of {}",
                    LOGIN_GROUP_NAMES.join(", ")
                ),
            ));
        }
        out.push((stem.clone(), group.clone()));
    }
    if let Some(extra) = groups.keys().find(|k| !users.contains(k)) {
        return Err((
            Some(format!("{extra} =")),
            format!("[login_groups] names {extra:?}, which is not in login_users"),
        ));
    }
    Ok(out)
}

/// `[components]`: the function and the provisioner components, each list defaulted
/// on its own.
fn components(raw: Option<RawComponents>) -> Result<(Vec<String>, Vec<String>), Fault> {
    let components = raw.unwrap_or_default();
    let list = |v: Option<Vec<String>>, default: &[&str]| {
        v.unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
    };
    let function_components = list(components.functions, &DEFAULT_FUNCTION_COMPONENTS);
    let provisioner_components = list(components.provisioner, &DEFAULT_PROVISIONER_COMPONENTS);
    for c in function_components.iter().chain(&provisioner_components) {
        plain("component", c)?;
    }
    Ok((function_components, provisioner_components))
}

/// `[[services]]`: unique names, one owner per component, none owning a function or
/// provisioner component, and every `writes` owned by another service.
fn services(
    raw: Vec<RawService>,
    function_components: &[String],
    provisioner_components: &[String],
) -> Result<Vec<ServiceDecl>, Fault> {
    let mut services: Vec<ServiceDecl> = Vec::new();
    for s in raw {
        plain("service", &s.name)?;
        if services.iter().any(|o| o.name == s.name) {
            return Err((
                quoted(&s.name),
                format!("service {:?} declared twice", s.name),
            ));
        }
        for c in s.owns.iter().chain(&s.reads).chain(&s.writes) {
            plain("component or entity", c)?;
        }
        for c in &s.owns {
            if let Some(other) = services.iter().find(|o| o.owns.contains(c)) {
                return Err((
                    quoted(c),
                    format!(
                        "component {c:?} is owned by both {:?} and {:?}; one service owns a component (the other may list it in `writes`)",
                        other.name, s.name
                    ),
                ));
            }
            if provisioner_components.contains(c) || function_components.contains(c) {
                return Err((
                    quoted(c),
                    format!(
                        "component {c:?} is a function or provisioner component; no service owns it"
                    ),
                ));
            }
        }
        if let Some(c) = s.writes.iter().find(|c| s.owns.contains(c)) {
            return Err((
                quoted(c),
                format!("service {:?} both owns and `writes` {c:?}", s.name),
            ));
        }
        services.push(ServiceDecl {
            name: s.name,
            owns: s.owns,
            reads: s.reads,
            writes: s.writes,
        });
    }
    // Only once every service is known can a `writes` be matched to its owner.
    for s in &services {
        for c in &s.writes {
            if !services.iter().any(|o| o.owns.contains(c)) {
                return Err((
                    quoted(c),
                    format!("service {:?} writes {c:?}, which no service owns", s.name),
                ));
            }
        }
    }
    Ok(services)
}

/// `[commands]`: non-empty SQL, and an `as` that is one of the tree's login users.
fn commands(
    raw: Option<RawCommands>,
    login_users: &[(String, String)],
) -> Result<TreeCommands, Fault> {
    let raw = raw.unwrap_or_default();
    for (key, sql) in [
        ("reset_system", &raw.reset_system),
        ("reset_tenant", &raw.reset_tenant),
    ] {
        if sql.as_deref().is_some_and(|q| q.trim().is_empty()) {
            return Err((
                Some(format!("{key} =")),
                format!("[commands] {key} is empty"),
            ));
        }
    }
    if let Some(stem) = &raw.run_as
        && !login_users.iter().any(|(s, _)| s == stem)
    {
        return Err((
            quoted(stem),
            format!(
                "[commands] as = {stem:?} is not one of login_users ({})",
                login_users
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(TreeCommands {
        reset_system: raw.reset_system,
        reset_tenant: raw.reset_tenant,
        run_as: raw.run_as,
    })
}

/// `[entity] drop`: a relative path pattern naming `{entity}`.
fn entity_drop(raw: Option<RawEntity>) -> Result<String, Fault> {
    let Some(pattern) = raw.and_then(|e| e.drop) else {
        return Ok(DEFAULT_ENTITY_DROP.to_string());
    };
    if !pattern.contains("{entity}") || pattern.starts_with('/') || pattern.contains("..") {
        return Err((
            quoted(&pattern),
            "[entity] drop must be a path relative to the tree root naming {entity} (and may name {component}), e.g. \"drop/{component}/{entity}_drop.sql\"".into(),
        ));
    }
    Ok(pattern)
}

/// `[variables]`: psql names, none that ores-sql sets itself (those depend on the
/// login users and services), and no placeholder but `{env}`.
fn check_variables(
    variables: &BTreeMap<String, String>,
    login_users: &[(String, String)],
    services: &[ServiceDecl],
) -> Result<(), Fault> {
    let mut engine: Vec<String> = ["env", "db_name", "owner_role", "rw_role", "ro_role"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    engine.push("service_role".into());
    engine.extend(login_users.iter().map(|(stem, _)| format!("{stem}_user")));
    engine.extend(services.iter().map(|s| format!("{}_service_user", s.name)));
    for (name, value) in variables {
        if engine.contains(name) {
            return Err((
                Some(format!("{name} =")),
                format!(
                    "[variables]: {name:?} is defined by ores-sql itself and cannot be overridden"
                ),
            ));
        }
        if !is_var_name(name) {
            return Err((
                Some(format!("{name} =")),
                format!("[variables]: {name:?} is not a psql variable name"),
            ));
        }
        let rest = value.replace("{env}", "");
        if rest.contains('{') || rest.contains('}') {
            return Err((
                Some(format!("{name} =")),
                format!("[variables] {name}: the only placeholder is {{env}}"),
            ));
        }
    }
    Ok(())
}

/// `[tests]`: a folder and setup scripts inside the tree, a pattern, a role the tree
/// has, plain extension names.
fn tests(
    raw: Option<RawTests>,
    login_users: &[(String, String)],
    services: &[ServiceDecl],
) -> Result<TestSettings, Fault> {
    let Some(raw) = raw else {
        return Ok(TestSettings::default());
    };
    let mut t = TestSettings {
        setup: vec![DEFAULT_TEST_SETUP.into()],
        ..TestSettings::default()
    };
    let inside = |key: &str, v: &str| -> Result<(), Fault> {
        let climbs = v.split(['/', '\\']).any(|p| p == "..");
        if v.trim().is_empty() || v.starts_with('/') || climbs {
            return Err((
                Some(format!("{key} =")),
                format!("[tests] {key}: {v:?} must be a relative path inside the tree"),
            ));
        }
        Ok(())
    };
    if let Some(dir) = raw.dir {
        inside("dir", &dir)?;
        t.dir = dir.trim_end_matches('/').to_string();
    }
    if let Some(pattern) = raw.pattern {
        if pattern.is_empty() || pattern.contains('/') {
            return Err((
                Some("pattern =".into()),
                format!("[tests] pattern: {pattern:?} must be a file-name pattern (no folder)"),
            ));
        }
        t.pattern = pattern;
    }
    if let Some(setup) = raw.setup {
        for s in &setup {
            inside("setup", s)?;
        }
        t.setup = setup;
    }
    if let Some(role) = raw.role {
        t.role = test_role(&role, login_users, services)?;
    }
    if let Some(extensions) = raw.extensions {
        for e in &extensions {
            plain("extension", e)?;
        }
        t.extensions = extensions;
    }
    Ok(t)
}

/// `[tests] role`: `admin`, a login user stem, or `<service>_service`.
fn test_role(
    role: &str,
    login_users: &[(String, String)],
    services: &[ServiceDecl],
) -> Result<TestRole, Fault> {
    if role == "admin" {
        return Ok(TestRole::Admin);
    }
    if login_users.iter().any(|(stem, _)| stem == role) {
        return Ok(TestRole::LoginUser(role.to_string()));
    }
    if let Some(name) = role.strip_suffix("_service")
        && services.iter().any(|s| s.name == name)
    {
        return Ok(TestRole::Service(name.to_string()));
    }
    Err((
        quoted(role),
        format!(
            "[tests] role {role:?} is not `admin`, a login user ({}) or `<service>_service`",
            login_users
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// `[validate]`: known set names, house-style rule ids, a level, patterns made of
/// name characters, `*` and `{component}`.
fn validate_settings(raw: RawValidate) -> Result<ValidateSettings, Fault> {
    let mut sets = Vec::new();
    for name in &raw.sets {
        match RuleSet::parse(name) {
            Some(set) if set != RuleSet::Universal => sets.push(set),
            _ => {
                return Err((
                    quoted(name),
                    format!(
                        "[validate] sets: {name:?} is not one of layout, naming, tenancy, versioning"
                    ),
                ));
            }
        }
    }
    let mut rules = Vec::new();
    for id in &raw.rules {
        let Some(rule) = RuleId::parse(id) else {
            return Err((quoted(id), format!("[validate] rules: no rule {id:?}")));
        };
        rules.push(rule);
    }
    let fail_on = match raw.fail_on {
        None => None,
        Some(l) => Some(Level::parse(&l).ok_or_else(|| {
            (
                quoted(&l),
                format!("[validate] fail_on: {l:?} is not error, warning or info"),
            )
        })?),
    };
    let d = NamingPatterns::default();
    let n = raw.naming;
    let naming = NamingPatterns {
        table: n.table.unwrap_or(d.table),
        function: n.function.unwrap_or(d.function),
        view: n.view.unwrap_or(d.view),
        trigger: n.trigger.unwrap_or(d.trigger),
        index: n.index.unwrap_or(d.index),
        policy: n.policy.unwrap_or(d.policy),
    };
    for p in [
        &naming.table,
        &naming.function,
        &naming.view,
        &naming.trigger,
        &naming.index,
        &naming.policy,
    ] {
        let bare = p.replace("{component}", "");
        let plain_chars = bare
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'*');
        if p.is_empty() || !plain_chars {
            return Err((
                quoted(p),
                format!(
                    "[validate.naming] {p:?}: a pattern is lowercase letters, digits, _, * and {{component}}"
                ),
            ));
        }
    }
    Ok(ValidateSettings {
        sets,
        rules,
        fail_on,
        naming,
    })
}

/// The first line of `text` containing `needle` outside a comment, or 0.
fn line_mentioning(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| {
            let code = l.split_once('#').map_or(l, |(c, _)| c);
            code.contains(needle)
        })
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_keys_keep_the_defaults() {
        let s = TreeSettings::parse("", "t.toml").unwrap();
        assert_eq!(s, TreeSettings::default());
        assert!(!s.entry_mode());
        assert_eq!(s.login_users.len(), 5);
        assert_eq!(s.required_extensions, DEFAULT_REQUIRED_EXTENSIONS);
    }

    #[test]
    fn a_full_file_reads() {
        let text = r#"
entry = ["setup_schema.sql"]
login_users = ["ddl", "cli", "wt"]
[login_groups]
ddl = "owner"
cli = "rw"
wt = "rw"
[extensions]
required = ["pgcrypto"]
optional = ["pgtap"]
[[services]]
name = "refdata"
owns = ["refdata"]
[[services]]
name = "synthetic"
owns = ["synthetic"]
reads = ["iam_tenants"]
writes = ["refdata"]
[variables]
compute_wrapper_user = "ores_{env}_compute_wrapper"
"#;
        let s = TreeSettings::parse(text, "t.toml").unwrap();
        assert!(s.entry_mode());
        assert_eq!(s.login_users[2], ("wt".to_string(), "rw".to_string()));
        assert_eq!(s.services[1].writes, ["refdata"]);
        assert_eq!(s.optional_extensions, ["pgtap"]);
        assert!(s.known_components().contains(&"synthetic"));
    }

    #[test]
    fn the_tests_table_reads_and_defaults() {
        let none = TreeSettings::parse("", "t.toml").unwrap().tests;
        assert_eq!(none, TestSettings::default());
        assert!(none.setup.is_empty());
        assert!(none.matches("versioning_test.sql") && !none.matches("test.sql"));
        let empty = TreeSettings::parse("[tests]\n", "t.toml").unwrap().tests;
        assert_eq!(empty.setup, ["test.sql"]);
        assert_eq!(empty.extensions, ["pgtap"]);
        let full = TreeSettings::parse(
            "[[services]]\nname = \"iam\"\nowns = [\"iam\"]\n[tests]\ndir = \"t/\"\npattern = \"t?_*.sql\"\nsetup = []\nrole = \"iam_service\"\nextensions = []\n",
            "t.toml",
        )
        .unwrap()
        .tests;
        assert_eq!(full.dir, "t");
        assert!(full.matches("t1_a.sql") && !full.matches("t12.sql"));
        assert_eq!(full.role, TestRole::Service("iam".into()));
        let user = TreeSettings::parse("[tests]\nrole = \"test_dml\"\n", "t.toml").unwrap();
        assert_eq!(user.tests.role, TestRole::LoginUser("test_dml".into()));
        for (text, line, needle) in [
            ("[tests]\nrole = \"nobody\"\n", 2, "is not `admin`"),
            ("[tests]\ndir = \"../x\"\n", 2, "inside the tree"),
            ("[tests]\nsetup = [\"/etc/x.sql\"]\n", 2, "inside the tree"),
            ("[tests]\npattern = \"a/*.sql\"\n", 2, "no folder"),
            ("[tests]\nfiles = 1\n", 2, "unknown field"),
        ] {
            let e = TreeSettings::parse(text, "t.toml").unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn validate_table_reads_and_patterns_match() {
        assert_eq!(TreeSettings::default().validate, None);
        let text = "[validate]\nsets = [\"naming\"]\nrules = [\"C008\"]\nfail_on = \"warning\"\n[validate.naming]\ntable = \"t_*\"\n";
        let v = TreeSettings::parse(text, "t.toml")
            .unwrap()
            .validate
            .unwrap();
        assert_eq!(v.sets, [RuleSet::Naming]);
        assert_eq!(v.rules, [RuleId::C008]);
        assert_eq!(v.fail_on, Some(Level::Warning));
        assert_eq!(v.naming.table, "t_*");
        assert_eq!(v.naming.function, "*_fn");
        let c = ["iam", "dq"];
        assert!(name_matches(
            "ores_{component}_*_tbl",
            "ores_iam_tenants_tbl",
            &c
        ));
        assert!(!name_matches(
            "ores_{component}_*_tbl",
            "ores_xx_tenants_tbl",
            &c
        ));
        assert!(!name_matches("ores_{component}_*_tbl", "ores_iam__tbl", &c));
        assert!(!name_matches("*_fn", "_fn", &c));
        assert!(!name_matches("*_fn", "Upper_fn", &c));
        assert!(name_matches("*_fn", "a_b_fn", &c));
        for bad in [
            "[validate]\nsets = [\"universal\"]\n",
            "[validate]\nrules = [\"C999\"]\n",
            "[validate]\nfail_on = \"fatal\"\n",
            "[validate.naming]\ntable = \"T%\"\n",
        ] {
            assert!(TreeSettings::parse(bad, "t.toml").is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_files_name_their_line() {
        let cases = [
            ("entry = [\"a.sql\"]\nbogus = 1\n", 2, "unknown field"),
            (
                "login_users = [\"ddl\"]\n[login_groups]\ncli = \"rw\"\n",
                1,
                "no group",
            ),
            (
                "login_users = [\"ddl\"]\n[login_groups]\nddl = \"admin\"\n",
                3,
                "not one of",
            ),
            (
                "[[services]]\nname = \"a\"\nowns = [\"x\"]\n[[services]]\nname = \"b\"\nowns = [\"x\"]\n",
                3,
                "owned by both",
            ),
            ("[[services]]\nname = \"A b\"\n", 2, "lowercase"),
            ("[variables]\nx = \"{db}\"\n", 2, "placeholder"),
            (
                "login_users = [\"wt\"]\n[login_groups]\nwt = \"rw\"\n[variables]\nwt_user = \"me\"\n",
                5,
                "cannot be overridden",
            ),
            ("entry = \"a.sql\"\n", 1, "expected"),
            (
                "[[services]]\nname = \"a\"\nwrites = [\"nobody\"]\n",
                3,
                "no service owns",
            ),
        ];
        for (text, line, needle) in cases {
            let e = TreeSettings::parse(text, "sql/ores-sql.toml").unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("sql/ores-sql.toml:{line}: "))
            );
        }
    }
}
