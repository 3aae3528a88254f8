//! A small TAP parser: what `pg_prove` (Perl's `TAP::Parser`) makes of one test
//! file's output, reduced to what a verdict needs. Lines are the ones a pgTAP test
//! prints (its functions return them as rows): `1..N` plans, `ok`/`not ok` test
//! lines with `# TODO` and `# SKIP` directives, `#` diagnostics, `Bail out!`.
//!
//! A file passes as `TAP::Harness` decides: a plan (before or after the tests), as
//! many tests as planned, numbered in order, no `not ok` outside a TODO, no bail out,
//! and no error from the session (psql's non-zero exit under `ON_ERROR_STOP`).

use serde::Serialize;

/// A test line's directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Directive {
    /// `# TODO reason`: a failure does not fail the file.
    Todo(String),
    /// `# SKIP reason`: not run, counted as passed.
    Skip(String),
}

/// One `ok` / `not ok` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TapTest {
    /// Whether the line says `ok`.
    pub ok: bool,
    /// Its number (the line's own, else its position).
    pub number: usize,
    /// The description after the number (without a leading `- `).
    pub description: String,
    /// `# TODO` or `# SKIP`, if any.
    pub directive: Option<Directive>,
}

impl TapTest {
    /// Whether the line counts as a failure: `not ok` outside a TODO.
    pub fn failed(&self) -> bool {
        !self.ok && !matches!(self.directive, Some(Directive::Todo(_)))
    }
}

/// A file's TAP output, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tap {
    /// `1..N`: the planned count (`Some(0)` for a skipped file).
    pub planned: Option<usize>,
    /// The reason of a `1..0 # SKIP reason` plan.
    pub skip_all: Option<String>,
    /// Every test line, in order.
    pub tests: Vec<TapTest>,
    /// `Bail out!` and its reason.
    pub bailed_out: Option<String>,
    /// What `TAP::Parser` would call parse errors: a missing or second plan, a count
    /// that differs from the plan, tests out of sequence.
    pub parse_errors: Vec<String>,
}

impl Tap {
    /// Parses `lines` (the file's output, one TAP line each).
    pub fn parse<'l>(lines: impl IntoIterator<Item = &'l str>) -> Tap {
        let mut tap = Tap::default();
        let mut plans = 0;
        for line in lines {
            if let Some(plan) = parse_plan(line) {
                plans += 1;
                if plans == 1 {
                    tap.planned = Some(plan.0);
                    tap.skip_all = plan.1;
                }
            } else if let Some(test) = parse_test(line, tap.tests.len() + 1) {
                tap.tests.push(test);
            } else if let Some(reason) = line.strip_prefix("Bail out!") {
                tap.bailed_out
                    .get_or_insert_with(|| reason.trim().to_string());
            }
            // Anything else (a `#` diagnostic, free text) is shown, never judged.
        }
        tap.check(plans);
        tap
    }

    fn check(&mut self, plans: usize) {
        let run = self.tests.len();
        match self.planned {
            None => self.parse_errors.push("No plan found in TAP output".into()),
            Some(planned) if planned != run => self.parse_errors.push(format!(
                "Bad plan.  You planned {planned} tests but ran {run}."
            )),
            Some(_) => {}
        }
        if plans > 1 {
            self.parse_errors
                .push("More than one plan found in TAP output".into());
        }
        if let Some((i, t)) = self
            .tests
            .iter()
            .enumerate()
            .find(|(i, t)| t.number != i + 1)
        {
            self.parse_errors.push(format!(
                "Tests out of sequence.  Found ({}) but expected ({})",
                t.number,
                i + 1
            ));
        }
    }

    /// Tests that failed (`not ok` outside a TODO).
    pub fn failed(&self) -> usize {
        self.tests.iter().filter(|t| t.failed()).count()
    }

    /// Whether the output alone passes (the session's own error is judged by the caller).
    pub fn passed(&self) -> bool {
        self.failed() == 0 && self.parse_errors.is_empty() && self.bailed_out.is_none()
    }
}

/// `1..N`, optionally `# SKIP reason` (only meaningful for `1..0`).
fn parse_plan(line: &str) -> Option<(usize, Option<String>)> {
    let rest = line.strip_prefix("1..")?;
    let (count, comment) = match rest.split_once('#') {
        Some((c, comment)) => (c.trim(), Some(comment.trim())),
        None => (rest.trim(), None),
    };
    let n: usize = count.parse().ok()?;
    let skip = comment.and_then(|c| {
        let lower = c.to_ascii_lowercase();
        lower.starts_with("skip").then(|| {
            c[4..]
                .trim_start_matches(|ch: char| ch.is_alphabetic() || ch == ':')
                .trim()
                .to_string()
        })
    });
    Some((n, if n == 0 { skip } else { None }))
}

/// `ok [N] [- ]description [# TODO|SKIP reason]`, or `not ok ...`.
fn parse_test(line: &str, position: usize) -> Option<TapTest> {
    let (ok, rest) = if let Some(rest) = line.strip_prefix("not ok") {
        (false, rest)
    } else {
        (true, line.strip_prefix("ok")?)
    };
    // `okay` is not a test line: the word must end there.
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let rest = rest.trim_start();
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let number = rest[..digits].parse().unwrap_or(position);
    let rest = rest[digits..].trim_start();
    let (description, directive) = split_directive(rest);
    let description = description.trim();
    let description = description
        .strip_prefix("- ")
        .or_else(|| description.strip_prefix('-'))
        .unwrap_or(description)
        .trim()
        .to_string();
    Some(TapTest {
        ok,
        number,
        description,
        directive,
    })
}

/// Splits `description # TODO reason` at the first unescaped `#` that starts a
/// directive; `\#` stays in the description.
fn split_directive(text: &str) -> (String, Option<Directive>) {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'#' || (i > 0 && bytes[i - 1] == b'\\') {
            continue;
        }
        let after = text[i + 1..].trim_start();
        let lower = after.to_ascii_lowercase();
        let word = |w: &str| {
            lower.starts_with(w).then(|| {
                after[w.len()..]
                    .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                    .trim()
                    .to_string()
            })
        };
        let directive = word("todo")
            .map(Directive::Todo)
            .or_else(|| word("skip").map(Directive::Skip));
        if let Some(d) = directive {
            return (text[..i].replace("\\#", "#"), Some(d));
        }
    }
    (text.replace("\\#", "#"), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_lines_plans_and_directives() {
        let tap = Tap::parse([
            "1..5",
            "ok 1 - Table x should exist",
            "not ok 2 - arithmetic # TODO not done",
            "# Failed (TODO) test 2",
            "ok 3 # SKIP no reason",
            "ok 4 - has a \\# hash",
            "not ok 5",
        ]);
        assert_eq!(tap.planned, Some(5));
        assert_eq!(tap.tests[0].description, "Table x should exist");
        assert_eq!(
            tap.tests[1].directive,
            Some(Directive::Todo("not done".into()))
        );
        assert!(!tap.tests[1].failed());
        assert_eq!(
            tap.tests[2].directive,
            Some(Directive::Skip("no reason".into()))
        );
        assert_eq!(tap.tests[3].description, "has a # hash");
        assert_eq!(tap.failed(), 1);
        assert!(tap.parse_errors.is_empty());
        assert!(!tap.passed());
    }

    #[test]
    fn plan_problems_are_parse_errors() {
        let bad = Tap::parse(["1..3", "ok 1", "ok 2"]);
        assert_eq!(
            bad.parse_errors,
            ["Bad plan.  You planned 3 tests but ran 2."]
        );
        assert!(!Tap::parse(["ok 1"]).passed());
        assert!(Tap::parse(["ok 1", "ok 2", "1..2"]).passed());
        let skipped = Tap::parse(["1..0 # Skipped: no server"]);
        assert!(skipped.passed());
        assert_eq!(skipped.skip_all.as_deref(), Some("no server"));
        assert!(!Tap::parse(["1..2", "ok 2", "ok 1"]).passed());
        assert!(!Tap::parse(["1..1", "ok 1", "Bail out! gone"]).passed());
        assert!(Tap::parse(["okay", "1..0"]).tests.is_empty());
    }
}
