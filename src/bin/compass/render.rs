//! What compass prints: the library's reports as text for people, or as JSON for
//! scripts (the shapes are the library's serde types; docs/json.md lists them).

use comfy_table::{ContentArrangement, Table, presets};
use ores_sql::config::configure::Configured;
use ores_sql::config::envfile::{self, EnvCheck, Format};
use ores_sql::inspect::{
    self, ConnectionsReport, DatabaseListing, RolesReport, State, Status, TreeVersion,
};
use ores_sql::lifecycle::commands::CommandReport;
use ores_sql::lifecycle::entity::EntityReport;
use ores_sql::testing::pgtap::{Directive, FileReport, PgTapReport, Verdict};
use ores_sql::{BuildInfo, BuildReport, Config, Manifest, TeardownReport};
use std::fmt::Write;

/// One JSON document on standard output, and nothing else there.
pub fn json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        // Our report types always serialise; say so loudly if one ever does not.
        Err(e) => eprintln!("error: cannot write JSON: {e}"),
    }
}

/// A table with a header row, sized to the terminal when there is one.
fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    t
}

/// The first characters of a hash, for people.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

pub fn built(report: &BuildReport) -> String {
    format!(
        "{} {} (environment {}): {} scripts, schema {}, {} build, usable in {:.2} s",
        if report.replaced { "rebuilt" } else { "built" },
        report.database,
        report.env,
        report.scripts_applied,
        short(&report.schema_hash),
        report.path.as_str(),
        report.usable_after.as_secs_f64()
    )
}

pub fn set_up(report: &BuildReport) -> String {
    format!(
        "set up {} (environment {}): {} scripts, schema {}, in {:.2} s",
        report.database,
        report.env,
        report.scripts_applied,
        short(&report.schema_hash),
        report.elapsed.as_secs_f64()
    )
}

pub fn environment_rebuilt(env: &str, removed: &TeardownReport, built: &BuildReport) -> String {
    format!(
        "environment {env}: removed {} role(s){}; built {} from {} scripts, schema {}, in {:.2} s",
        removed.roles_dropped.len(),
        if removed.database_dropped {
            " and the old database"
        } else {
            ""
        },
        built.database,
        built.scripts_applied,
        short(&built.schema_hash),
        built.elapsed.as_secs_f64()
    )
}

pub fn torn_down(config: &Config, database: &str, report: &TeardownReport) -> String {
    format!(
        "environment {}: {}; dropped {} role(s)",
        config.env,
        if report.database_dropped {
            format!("dropped {database}")
        } else {
            format!("{database} did not exist")
        },
        report.roles_dropped.len()
    )
}

pub fn version(database: &str, info: &BuildInfo, state: State) -> String {
    format!(
        "{database}: schema {} ({} scripts), built {} ({}) by {} with ores-sql {} on PostgreSQL {}{}",
        info.schema_hash,
        info.script_count,
        info.built_at,
        info.build_path.as_deref().unwrap_or("?"),
        info.built_by.as_deref().unwrap_or("?"),
        info.crate_version,
        info.server_version,
        if state == State::Stale {
            " (stale: this compass has another schema)"
        } else {
            ""
        }
    )
}

/// What a tree's command did: a headline, then what each statement returned (a
/// lone value as `column: value`, rows as a table, nothing for a statement that
/// returns no rows or only an empty value, such as a `void` function).
pub fn command(headline: &str, report: &CommandReport) -> String {
    let mut out = format!("{headline} (as {})\n", report.run_as);
    for set in &report.results {
        match (set.columns.as_slice(), set.rows.as_slice()) {
            ([], _) => {}
            ([column], [row]) => match row.first().cloned().flatten() {
                Some(value) if !value.is_empty() => {
                    let _ = writeln!(out, "{column}: {value}");
                }
                _ => {}
            },
            (columns, rows) => {
                let mut t = table(columns.iter().map(String::as_str));
                for row in rows {
                    t.add_row(row.iter().map(|v| v.as_deref().unwrap_or("NULL")));
                }
                let _ = writeln!(out, "{t}");
            }
        }
    }
    out
}

/// The tree's own version row, a column a line.
pub fn tree_version(row: &TreeVersion) -> String {
    let mut out = String::from("the tree's own version ([version] query):\n");
    for (column, value) in &row.0 {
        let _ = writeln!(out, "  {column}: {}", value.as_deref().unwrap_or("NULL"));
    }
    out
}

fn state_words(state: State) -> &'static str {
    match state {
        State::Current => "current: built from this compass's schema",
        State::Stale => {
            "STALE: built from another schema than this compass's; run `compass db recreate`"
        }
        State::NotOres => "not an ORE Studio database (no build record)",
        State::Missing => "missing: the database does not exist; run `compass db recreate`",
    }
}

pub fn status(status: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "environment:   {}", status.env);
    let _ = writeln!(
        out,
        "database:      {} on {}",
        status.database, status.server
    );
    let _ = writeln!(out, "state:         {}", state_words(status.state));
    if let Some(info) = &status.recorded {
        let _ = writeln!(out, "recorded hash: {}", info.schema_hash);
        let _ = writeln!(
            out,
            "built:         {} ({}, by {}) with ores-sql {} on PostgreSQL {} ({} scripts)",
            info.built_at,
            info.build_path.as_deref().unwrap_or("?"),
            info.built_by.as_deref().unwrap_or("?"),
            info.crate_version,
            info.server_version,
            info.script_count
        );
        if let Some(base) = &info.based_on {
            let _ = writeln!(out, "based on:      the build {base}");
        }
    }
    let _ = writeln!(
        out,
        "this compass:  {} ({} scripts, ores-sql {})",
        status.compiled_schema_hash, status.compiled_script_count, status.crate_version
    );
    if status.state != State::Missing {
        let detail = inspect::sessions_by_user(&status.sessions)
            .iter()
            .map(|c| format!("{} x{}", c.user, c.count))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "connections:   {}{}",
            status.sessions.len(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        );
    }
    out
}

pub fn databases(listing: &DatabaseListing) -> String {
    if listing.databases.is_empty() {
        return format!("no ORE Studio databases on {}", listing.server);
    }
    let mut t = table(["database", "owner", "size", "connections", "notes"]);
    for d in &listing.databases {
        let mut notes = Vec::new();
        if d.name == listing.env_database {
            notes.push(format!("environment {}", listing.env));
        }
        if let Some(kind) = d.kind {
            notes.push(kind.to_string());
        } else if d.is_template {
            notes.push("template".to_string());
        }
        if !d.allows_connections {
            notes.push("not accepting connections".to_string());
        }
        t.add_row([
            d.name.clone(),
            d.owner.clone(),
            d.size.clone(),
            d.connections.to_string(),
            notes.join(", "),
        ]);
    }
    t.to_string()
}

pub fn roles(report: &RolesReport) -> String {
    let mut t = table([
        "role",
        "kind",
        "exists",
        "member of",
        "password",
        "problems",
    ]);
    for r in &report.roles {
        t.add_row([
            r.name.clone(),
            r.kind.to_string(),
            if r.exists { "yes" } else { "MISSING" }.to_string(),
            r.member_of.join(", "),
            match r.has_password {
                Some(true) => "set",
                Some(false) => "none",
                None => "",
            }
            .to_string(),
            r.problems.join(", "),
        ]);
    }
    let present = report.roles.iter().filter(|r| r.exists).count();
    let problems = report
        .roles
        .iter()
        .filter(|r| !r.problems.is_empty())
        .count();
    format!(
        "{t}\nenvironment {}: {present} of {} roles exist{}",
        report.env,
        report.roles.len(),
        if problems > 0 {
            format!(", {problems} with problems (run `compass db recreate` to put them right)")
        } else {
            String::new()
        }
    )
}

pub fn connections(report: &ConnectionsReport) -> String {
    if report.sessions.is_empty() {
        return format!("no sessions on {}", report.database);
    }
    let mut t = table(["pid", "user", "application", "client", "state", "since"]);
    for s in &report.sessions {
        t.add_row([
            s.pid.to_string(),
            s.user.clone(),
            s.application.clone(),
            s.client.clone(),
            s.state.clone(),
            s.since.clone(),
        ]);
    }
    format!(
        "{t}\n{} session(s) on {}",
        report.sessions.len(),
        report.database
    )
}

pub fn entities(manifest: &Manifest) -> String {
    let mut t = table(["entity", "scripts"]);
    if manifest.entry_mode() {
        // An entry tree's keys name its create scripts (`refdata_currencies`).
        for entity in ores_sql::lifecycle::entity::entry_entities(manifest) {
            t.add_row([entity, String::new()]);
        }
        return t.to_string();
    }
    for entity in manifest.entities() {
        let scripts: Vec<String> = manifest
            .entity_scripts(entity)
            .iter()
            .map(|s| s.path.to_string())
            .collect();
        t.add_row([entity.to_string(), scripts.join("\n")]);
    }
    t.to_string()
}

pub fn entity(report: &EntityReport, database: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "recreated {} in {database}: {} script(s) ({}), table(s) {}",
        report.entity,
        report.scripts.len(),
        report.scripts.join(", "),
        if report.tables.is_empty() {
            "none existed before".to_string()
        } else {
            report.tables.join(", ")
        }
    );
    if report.rows_discarded > 0 {
        let _ = writeln!(out, "discarded {} row(s) (--force)", report.rows_discarded);
    }
    if !report.foreign_keys_restored.is_empty() {
        let _ = writeln!(
            out,
            "restored foreign key(s): {}",
            report.foreign_keys_restored.join(", ")
        );
    }
    if report.database_was_stale {
        let _ = writeln!(
            out,
            "note: {database} was built from other scripts than these; run `compass db recreate` to bring all of it up to date"
        );
    }
    out
}

pub fn env_check(check: &EnvCheck) -> String {
    let mut out = String::new();
    match &check.path {
        Some(p) => {
            let _ = writeln!(out, "file:    {}", p.display());
        }
        None => {
            let _ = writeln!(out, "file:    none found (exported variables only)");
        }
    }
    let format = match &check.format {
        Format::Supported(n) => format!("{n} (supported)"),
        Format::Missing => format!("missing (this compass reads {})", envfile::FORMAT_VERSION),
        Format::Unsupported(n) => format!(
            "{n} (UNSUPPORTED: this compass reads {})",
            envfile::FORMAT_VERSION
        ),
        Format::Malformed(v) => format!("{v:?} (not a number)"),
        Format::Upstream(n) => format!("ORE Studio's .env, ORES_ENV_VERSION={n}"),
    };
    let _ = writeln!(out, "format:  {format}");
    for key in &check.missing {
        let _ = writeln!(out, "missing: {key}");
    }
    for key in &check.unknown {
        let _ = writeln!(out, "unknown: {key} (not used by this compass; a typo?)");
    }
    out
}

pub fn configured(written: &Configured) -> String {
    format!(
        "{} {} for environment {} (mode 0600): {} generated password(s) for {}; `compass db recreate` sets them",
        if written.replaced {
            "replaced"
        } else {
            "wrote"
        },
        written.path.display(),
        written.env,
        written.password_keys.len(),
        written.password_keys.join(", ")
    )
}

/// A file's line as pg_prove prints it (`file .. ok`, `Failed 1/3 subtests`), with
/// every output line before it when `verbose`, and the error or kept copy after it.
pub fn test_file(file: &FileReport, verbose: bool) -> String {
    let mut out = format!("{} .. ", file.file);
    if verbose {
        out.push('\n');
        for line in &file.lines {
            let _ = writeln!(out, "{line}");
        }
    }
    let tap = &file.tap;
    let status = match (file.verdict, &tap.skip_all) {
        (Verdict::Pass, Some(reason)) => format!("skipped: {reason}"),
        (Verdict::Pass, None) => "ok".to_string(),
        _ if tap.failed() > 0 => format!("Failed {}/{} subtests", tap.failed(), tap.tests.len()),
        _ => format!(
            "Failed {}/{} subtests",
            tap.planned
                .unwrap_or(0)
                .saturating_sub(tap.tests.len())
                .max(1),
            tap.planned.unwrap_or(tap.tests.len())
        ),
    };
    let _ = writeln!(out, "{status} ({} ms)", file.elapsed_ms);
    for problem in &tap.parse_errors {
        let _ = writeln!(out, "  Parse errors: {problem}");
    }
    if let Some(e) = &file.error {
        let _ = writeln!(out, "  Error: {e}");
    }
    if let Some(kept) = &file.kept {
        let _ = writeln!(
            out,
            "  kept {}; connect with {} (drop it with DROP DATABASE {} WITH (FORCE))",
            kept.database, kept.connect, kept.database
        );
    }
    out
}

/// The end of a run: the failed files, the timings when asked, and pg_prove's
/// `Files=N, Tests=M, ...` and `Result:` lines.
pub fn test_summary(report: &PgTapReport, timer: bool) -> String {
    let mut out = String::new();
    if timer {
        let mut files: Vec<&FileReport> = report.files.iter().collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.elapsed_ms));
        out.push_str("\nSlowest first:\n");
        for f in files {
            let _ = writeln!(out, "{:>8} ms  {}", f.elapsed_ms, f.file);
        }
    }
    let failed: Vec<&FileReport> = report
        .files
        .iter()
        .filter(|f| f.verdict != Verdict::Pass)
        .collect();
    if failed.is_empty() {
        out.push_str("All tests successful.\n");
    } else {
        out.push_str("\nTest Summary Report\n-------------------\n");
        for f in failed {
            let failed_numbers: Vec<String> = f
                .tap
                .tests
                .iter()
                .filter(|t| t.failed())
                .map(|t| t.number.to_string())
                .collect();
            let _ = writeln!(
                out,
                "{} ({:?}: Tests: {} Failed: {})",
                f.file,
                f.verdict,
                f.tap.tests.len(),
                f.tap.failed()
            );
            if !failed_numbers.is_empty() {
                let _ = writeln!(out, "  Failed tests: {}", failed_numbers.join(", "));
            }
        }
    }
    let _ = writeln!(out, "{}", report.summary());
    out
}

/// The run as JUnit XML: one `testsuite` per file, one `testcase` per test line, a
/// `failure` for a failed test and an `error` for a file that errored or broke its
/// plan (GitLab, Jenkins and GitHub's test reporters read this shape).
pub fn junit(report: &PgTapReport) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"pgtap\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
        report.tests,
        report.failed_tests,
        report.elapsed_ms as f64 / 1000.0
    );
    for f in &report.files {
        let broken = f.error.iter().chain(&f.tap.parse_errors).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
            esc(&f.file),
            f.tap.tests.len(),
            f.tap.failed(),
            broken,
            f.elapsed_ms as f64 / 1000.0
        );
        for t in &f.tap.tests {
            let name = if t.description.is_empty() {
                format!("test {}", t.number)
            } else {
                format!("{} - {}", t.number, t.description)
            };
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                esc(&f.file),
                esc(&name)
            );
            if t.failed() {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"not ok\"/>\n    </testcase>"
                );
            } else if let Some(Directive::Skip(reason)) = &t.directive {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    esc(reason)
                );
            } else {
                out.push_str("/>\n");
            }
        }
        if broken > 0 {
            let message: Vec<&str> = f
                .error
                .iter()
                .chain(&f.tap.parse_errors)
                .map(String::as_str)
                .collect();
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"(file)\">\n      <error message=\"{}\"/>\n    </testcase>",
                esc(&f.file),
                esc(&message.join("; "))
            );
        }
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>\n  </testsuite>",
            esc(&f.lines.join("\n"))
        );
    }
    out.push_str("</testsuites>\n");
    out
}

/// The objects of a diff or plan, grouped by table (objects in no table first).
fn objects_by_table(out: &mut String, objects: &[ores_sql::lifecycle::diff::ObjectChange]) {
    let mut table: Option<Option<&str>> = None;
    for o in objects {
        if table != Some(o.table.as_deref()) {
            table = Some(o.table.as_deref());
            let _ = writeln!(
                out,
                "  {}",
                o.table.as_deref().unwrap_or("(not in a table)")
            );
        }
        let _ = write!(out, "    {:<8} {} {}", o.change.as_str(), o.kind, o.name);
        if !o.detail.is_empty() {
            let _ = write!(out, " ({})", o.detail);
        }
        out.push('\n');
    }
}

/// `db diff`: what changed by hand, by table.
pub fn diff(report: &ores_sql::DiffReport) -> String {
    let mut out = String::new();
    if !report.drift {
        let _ = writeln!(out, "{}: no drift from its build", report.database);
        return out;
    }
    let _ = writeln!(
        out,
        "{}: {} object(s) differ from its build (added = only in the live database, removed = only in the build):",
        report.database,
        report.objects.len()
    );
    objects_by_table(&mut out, &report.objects);
    out
}

/// `db plan` and the summary before `db recreate` asks.
pub fn plan(plan: &ores_sql::PlanReport) -> String {
    let mut out = String::new();
    if !plan.exists {
        let _ = writeln!(
            out,
            "{} does not exist: a recreate creates it ({} build); nothing is lost",
            plan.database, plan.path
        );
        return out;
    }
    let _ = writeln!(out, "recreate {}: {} build", plan.database, plan.path);
    if plan.is_unchanged() {
        let _ = writeln!(
            out,
            "  nothing differs from what the tree builds; nothing is lost"
        );
        return out;
    }
    if !plan.scripts.is_empty() {
        let _ = writeln!(
            out,
            "scripts changed since the live build ({}):",
            plan.scripts.len()
        );
        for s in &plan.scripts {
            let _ = writeln!(out, "    {:<8} {}", s.change.as_str(), s.path);
        }
    }
    if !plan.objects.is_empty() {
        let _ = writeln!(
            out,
            "objects that differ from the tree's build ({}; added = only in the live database, dropped by the recreate):",
            plan.objects.len()
        );
        objects_by_table(&mut out, &plan.objects);
    }
    if !plan.data.is_empty() {
        let _ = writeln!(out, "rows that differ from a fresh build (thrown away):");
        for t in &plan.data {
            let _ = writeln!(
                out,
                "  {}: {} added, {} changed, {} removed",
                t.table, t.rows.added, t.rows.changed, t.rows.removed
            );
            for r in &t.tenants {
                let _ = writeln!(
                    out,
                    "    tenant {}: {} added, {} changed, {} removed",
                    r.tenant.as_deref().unwrap_or(&r.tenant_id),
                    r.rows.added,
                    r.rows.changed,
                    r.rows.removed
                );
            }
        }
    }
    out
}
