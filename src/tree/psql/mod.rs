//! The psql subset an entry-script tree may use.
//!
//! Starting from an entry script, [`expand`] follows `\ir` / `\i` (the include
//! closure, in psql's order), keeps the `\set` variables, evaluates `\if` branches and
//! substitutes `:name`, `:'name'`, `:"name"` and `:{?name}` where psql would, giving
//! the SQL to apply as [`Step`]s tagged with the file and line they came from.
//!
//! It runs twice for a tree: at build time without a server, to find the include
//! closure and refuse what cannot work (`crate::tree::entry`), and at apply time with
//! a [`Sink`] that runs each step as it comes, so `\gset` can answer from the server
//! (`build::single::entry`).
//!
//! Where psql is lenient we refuse, naming file and line, because a tree built into a
//! binary has nobody watching its output: an undefined variable (psql leaves `:name`
//! in the text), any meta-command outside the subset, and any backtick command other
//! than reading one variable (we never run a shell).
//!
//! Literals, quoted identifiers, comments and dollar-quoted bodies are found by the
//! lint lexer, so both decide the same way where SQL text ends.

#[cfg(test)]
mod tests;

use super::boundary::MAX_INCLUDE_DEPTH;
use super::lint::lexer::{Tok, lex_spans, lex_spans_keeping};
use super::lint::{ControlScan, transaction_control, transaction_control_message};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A refusal, naming the file (relative to the tree root) and line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PsqlError {
    /// File relative to the tree root (`ores-sql.toml` for a bad entry).
    pub path: String,
    /// 1-based line; for an include, the line of the `\ir` that asked for it.
    pub line: usize,
    /// What is wrong, never a variable's value.
    pub message: String,
}

impl fmt::Display for PsqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

impl std::error::Error for PsqlError {}

/// What one piece of a script asks for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// SQL with variables already substituted.
    Sql(String),
    /// Text of `\echo` / `\qecho`, to be logged, never printed raw.
    Echo(String),
    /// `\gset [prefix]`: run `query` and set a variable from each column of its one
    /// row (a NULL unsets it), for the statements after it.
    Gset {
        /// The query in the buffer when `\gset` was given.
        query: String,
        /// Prefix of the variable names (`\gset p_` sets `p_<column>`).
        prefix: String,
    },
    /// `\copy ... from 'file'`: `statement` is the `COPY ... FROM STDIN` to send and
    /// `data` the file's text, read at expansion so nothing outside the tree is needed
    /// when applying.
    Copy {
        /// The `COPY ... FROM STDIN ...` statement.
        statement: String,
        /// Path of the data file relative to the root.
        source: String,
        /// The data, line endings normalised.
        data: String,
    },
}

/// One action with the file (relative to the root) and line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// File relative to the tree root.
    pub path: String,
    /// 1-based line the action starts on.
    pub line: usize,
    /// What to do.
    pub action: Action,
}

/// The include closure of some entry scripts, expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Every file reached, in the order psql first reads it (entries included).
    pub files: Vec<String>,
    /// Data files read by `\copy`, relative to the root, in order.
    pub data_files: Vec<String>,
    /// SQL and echoes in the order psql would run them.
    pub steps: Vec<Step>,
    /// Variables as they stand after the last script.
    pub variables: BTreeMap<String, String>,
}

/// Expands `entries` (paths relative to `root`) in order, starting from `variables`.
/// `lookup` answers a backtick ``echo "$NAME"`` (configuration, then environment).
///
/// Without a server to answer a `\gset`, a variable used after one is left in place
/// rather than refused (its name is known only when the query runs):
/// [`expand_with`] and a [`Sink`] decide then.
pub fn expand(
    root: &Path,
    entries: &[&str],
    variables: BTreeMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Expansion, PsqlError> {
    let read = |rel: &Path| super::entry::read_file(root, rel);
    expand_with(&read, entries, variables, lookup, None)
}

/// Receives each step as soon as psql would run it. For [`Action::Gset`] it answers
/// the query's one row as (column, value) pairs, `None` for a NULL.
pub type Sink<'s> =
    &'s mut dyn FnMut(&Step) -> Result<Option<Vec<(String, Option<String>)>>, PsqlError>;

/// Reads a file of the tree by its path relative to the root (line endings already
/// normalised), or says why not.
pub type Reader<'r> = &'r dyn Fn(&Path) -> Result<String, String>;

/// [`expand`] over any file source, handing each step to `sink` as it comes (so a
/// `\gset` sets its variables before the statements after it are expanded).
pub fn expand_with(
    read: Reader<'_>,
    entries: &[&str],
    variables: BTreeMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    sink: Option<Sink<'_>>,
) -> Result<Expansion, PsqlError> {
    expand_in(read, entries, variables, lookup, sink, false)
}

/// [`expand_with`] for a test file (`compass db test`): a test runs in a session of
/// its own, as under psql, so it may control its transaction (`BEGIN` ... `ROLLBACK`
/// is how pgTAP tests are written). Nothing else is relaxed.
pub fn expand_session(
    read: Reader<'_>,
    entries: &[&str],
    variables: BTreeMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    sink: Option<Sink<'_>>,
) -> Result<Expansion, PsqlError> {
    expand_in(read, entries, variables, lookup, sink, true)
}

fn expand_in(
    read: Reader<'_>,
    entries: &[&str],
    variables: BTreeMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    sink: Option<Sink<'_>>,
    own_session: bool,
) -> Result<Expansion, PsqlError> {
    let mut run = Run {
        read,
        lookup,
        own_session,
        out: Expansion {
            variables,
            ..Expansion::default()
        },
        seen: HashSet::new(),
        stack: Vec::new(),
        pending: None,
        pending_open: false,
        pending_scan: ControlScan::default(),
        sink,
        after_gset: false,
    };
    for entry in entries {
        let rel = normalise(Path::new(entry)).ok_or_else(|| PsqlError {
            path: "ores-sql.toml".into(),
            line: 0,
            message: format!("entry script {entry} leaves sql/"),
        })?;
        run.file(&rel, None)?;
    }
    Ok(run.out)
}

struct Run<'a, 's> {
    read: Reader<'a>,
    /// A test file's own session: transaction control is the file's business.
    own_session: bool,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    out: Expansion,
    seen: HashSet<PathBuf>,
    stack: Vec<PathBuf>,
    /// SQL read but not yet sent: like psql's query buffer it carries on across
    /// `\set` and `\if`, so a statement may be split by them.
    pending: Option<Step>,
    /// Whether `pending` ends inside a statement (its last token is not a `;`); a
    /// finished statement is a step of its own, so an error names its own line.
    pending_open: bool,
    /// The transaction-control check of `pending`, fed the tokens already lexed.
    pending_scan: ControlScan,
    sink: Option<Sink<'s>>,
    /// A `\gset` ran without a sink: later variables may be ones it would have set.
    after_gset: bool,
}

/// One `\if` level: whether a branch has been taken, whether the current one runs,
/// and whether the enclosing level was running at all.
struct Cond {
    taken: bool,
    active: bool,
    outer: bool,
    else_seen: bool,
}

/// Lexically resolves `.` and `..`; `None` when the path climbs above the root or is
/// absolute.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

impl Run<'_, '_> {
    fn file(&mut self, rel: &Path, from: Option<(&str, usize)>) -> Result<(), PsqlError> {
        let refuse = |message: String| match from {
            Some((path, line)) => PsqlError {
                path: path.to_string(),
                line,
                message,
            },
            None => PsqlError {
                path: display(rel),
                line: 0,
                message,
            },
        };
        if self.stack.iter().any(|p| p == rel) {
            let mut chain: Vec<String> = self.stack.iter().map(|p| display(p)).collect();
            chain.push(display(rel));
            return Err(refuse(format!("include cycle: {}", chain.join(" -> "))));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(refuse(format!(
                "{} is included {MAX_INCLUDE_DEPTH} files deep, the most a tree may nest \\i / \\ir; include it from higher up",
                display(rel)
            )));
        }
        let text =
            (self.read)(rel).map_err(|e| refuse(format!("cannot read {}: {e}", display(rel))))?;
        if self.seen.insert(rel.to_path_buf()) {
            self.out.files.push(display(rel));
        }
        self.stack.push(rel.to_path_buf());
        let result = self.script(rel, &text);
        self.stack.pop();
        result
    }

    fn script(&mut self, rel: &Path, text: &str) -> Result<(), PsqlError> {
        let path = display(rel);
        // The interpreter looks at backslashes, colons and semicolons; of the words,
        // only those the transaction-control check reads.
        let toks = lex_spans_keeping(text, ControlScan::needs);
        let mut conds: Vec<Cond> = Vec::new();
        // SQL runs from `sql_from` to the next meta-command.
        let mut sql_from = 0usize;
        let mut k = 0;
        while k <= toks.len() {
            let meta = toks.get(k).filter(|t| t.0 == Tok::Backslash);
            if k < toks.len() && meta.is_none() {
                k += 1;
                continue;
            }
            let end = meta.map_or(text.len(), |t| t.2);
            let active = conds.last().is_none_or(|c| c.active);
            if active {
                self.sql(&path, text, &toks, sql_from, end)?;
            }
            let Some(&(_, line, start)) = meta else { break };
            let eol = text[start..].find('\n').map_or(text.len(), |p| start + p);
            let command = &text[start + 1..eol];
            self.meta(&path, rel, line, command, &mut conds)?;
            sql_from = eol;
            k += 1;
        }
        // psql sends what is left of a file's query buffer at its end.
        self.flush()?;
        if !conds.is_empty() {
            return Err(PsqlError {
                path,
                line: text.lines().count(),
                message: "end of file inside \\if: missing \\endif".into(),
            });
        }
        Ok(())
    }

    /// Substitutes variables in `text[from..to]` (byte offsets) and records it unless
    /// it is blank.
    fn sql(
        &mut self,
        path: &str,
        text: &str,
        toks: &[(Tok, usize, usize)],
        from: usize,
        to: usize,
    ) -> Result<(), PsqlError> {
        // Tokens are in text order: the chunk's are one run of them.
        let toks = &toks[toks.partition_point(|t| t.2 < from)..toks.partition_point(|t| t.2 < to)];
        let b = text.as_bytes();
        let mut out = String::with_capacity(to - from);
        // The text starts at its first token (comments before it are not sent), so a
        // line counted in the text is a line counted from the step's.
        let Some(&(_, first_line, mut i)) = toks.first() else {
            return Ok(());
        };
        let mut substituted = false;
        for (t, tline, start) in toks {
            if *t != Tok::Punct(':') || *start < i {
                continue;
            }
            // `::type` is a cast, never a variable.
            let next = b.get(start + 1).copied();
            if next == Some(b':') || (*start > 0 && b[start - 1] == b':') {
                continue;
            }
            if let Some((value, used)) = self.reference(&text[..to], *start, path, *tline)? {
                out.push_str(&text[i..*start]);
                out.push_str(&value);
                i = start + used;
                substituted = true;
            }
        }
        out.push_str(&text[i..to]);
        if out.trim().is_empty() {
            return Ok(());
        }
        let open = toks.last().is_some_and(|t| t.0 != Tok::Semi);
        if !self.pending_open {
            self.flush()?;
        }
        self.pending_open = open;
        // The check runs on the text as sent: a variable may spell `COMMIT`. Lines
        // are the file's either way (the text starts at `first_line`).
        if substituted {
            for (t, line, _) in lex_spans(&out) {
                self.pending_scan.feed(&t, first_line + line - 1);
            }
        } else {
            for (t, line, _) in toks {
                self.pending_scan.feed(t, *line);
            }
        }
        match &mut self.pending {
            Some(Step {
                line: at,
                action: Action::Sql(text),
                ..
            }) => {
                // Blank lines stand for the meta-commands in between, so every line
                // of the joined text is still its line in the file.
                let end = *at + text.matches('\n').count();
                text.push_str(&"\n".repeat(first_line.saturating_sub(end).max(1)));
                text.push_str(out.trim());
            }
            _ => {
                self.pending = Some(Step {
                    path: path.to_string(),
                    line: first_line,
                    action: Action::Sql(out.trim().to_string()),
                })
            }
        }
        Ok(())
    }

    /// The variable reference starting with the `:` at byte `at` of `text` (which ends
    /// where the reference must), as its substituted value and the number of bytes it
    /// spans; `None` when the colon starts no reference.
    fn reference(
        &self,
        text: &str,
        at: usize,
        path: &str,
        line: usize,
    ) -> Result<Option<(String, usize)>, PsqlError> {
        let rest = &text[at + 1..];
        let undefined = |name: &str| PsqlError {
            path: path.to_string(),
            line,
            message: format!("undefined variable :{name}"),
        };
        let get = |name: &str| {
            self.out
                .variables
                .get(name)
                .cloned()
                .ok_or_else(|| undefined(name))
        };
        let deferred = |name: &str| self.after_gset && !self.out.variables.contains_key(name);
        match rest.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let Some(close) = rest[1..].find(q) else {
                    return Ok(None);
                };
                let name = &rest[1..1 + close];
                if !is_var_name(name) || deferred(name) {
                    return Ok(None);
                }
                let value = get(name)?;
                let quoted = if q == '\'' {
                    quote_literal(&value)
                } else {
                    quote_ident(&value)
                };
                Ok(Some((quoted, close + 3)))
            }
            Some('{') if rest[1..].starts_with('?') => {
                let Some(close) = rest.find('}') else {
                    return Ok(None);
                };
                let defined = self.out.variables.contains_key(&rest[2..close]);
                Ok(Some((
                    if defined { "TRUE" } else { "FALSE" }.into(),
                    close + 2,
                )))
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let len = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let name = &rest[..len];
                if deferred(name) {
                    return Ok(None);
                }
                Ok(Some((get(name)?, len + 1)))
            }
            _ => Ok(None),
        }
    }

    fn meta(
        &mut self,
        path: &str,
        rel: &Path,
        line: usize,
        command: &str,
        conds: &mut Vec<Cond>,
    ) -> Result<(), PsqlError> {
        let err = |message: String| PsqlError {
            path: path.to_string(),
            line,
            message,
        };
        let (name, args) = command
            .split_once(char::is_whitespace)
            .unwrap_or((command, ""));
        let active = conds.last().is_none_or(|c| c.active);
        match name {
            "if" => {
                let value = active.then(|| self.condition(args, &err)).transpose()?;
                let truth = value.unwrap_or(false);
                conds.push(Cond {
                    taken: truth,
                    active: truth,
                    outer: active,
                    else_seen: false,
                });
                return Ok(());
            }
            "elif" | "else" | "endif" => {
                let Some(top) = conds.last_mut() else {
                    return Err(err(format!("\\{name} without \\if")));
                };
                if top.else_seen && name != "endif" {
                    return Err(err(format!("\\{name} after \\else")));
                }
                match name {
                    "elif" => {
                        let run = top.outer && !top.taken;
                        let truth = if run {
                            self.condition(args, &err)?
                        } else {
                            false
                        };
                        let top = conds.last_mut().expect("checked");
                        top.active = truth;
                        top.taken |= truth;
                    }
                    "else" => {
                        top.active = top.outer && !top.taken;
                        top.taken = true;
                        top.else_seen = true;
                    }
                    _ => {
                        conds.pop();
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        if !active {
            // psql does not look at commands in a branch it skips.
            return Ok(());
        }
        if !matches!(name, "set" | "pset" | "timing" | "gset") {
            self.flush()?;
        }
        match name {
            "ir" | "include_relative" | "i" | "include" => {
                let words = self.words(args, &err)?;
                let [target] = words.as_slice() else {
                    return Err(err(format!("\\{name} takes exactly one file")));
                };
                let base = if name.starts_with("ir") || name == "include_relative" {
                    rel.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    PathBuf::new()
                };
                let target_rel = normalise(&base.join(target))
                    .ok_or_else(|| err(format!("\\{name} {target} leaves sql/")))?;
                self.file(&target_rel, Some((path, line)))
            }
            "echo" | "qecho" => {
                let text = self.words(args, &err)?.join(" ");
                self.emit(Step {
                    path: path.to_string(),
                    line,
                    action: Action::Echo(text),
                })
            }
            "set" => {
                let words = self.words(args, &err)?;
                let Some((var, value)) = words.split_first() else {
                    return Err(err("\\set without a variable name".into()));
                };
                if !is_var_name(var) {
                    return Err(err(format!("\\set: invalid variable name {var:?}")));
                }
                self.out.variables.insert(var.clone(), value.concat());
                Ok(())
            }
            "pset" | "timing" => Ok(()),
            "copy" => {
                let action = self.copy(rel, args, &err)?;
                if let Action::Copy { source, .. } = &action
                    && !self.out.data_files.contains(source)
                {
                    self.out.data_files.push(source.clone());
                }
                self.emit(Step {
                    path: path.to_string(),
                    line,
                    action,
                })
            }
            "gset" => self.gset(args, &err),
            other => Err(err(format!("unsupported psql meta-command \\{other}"))),
        }
    }

    /// `\copy target from 'file' [options]` as `COPY target FROM STDIN [options]`, the
    /// file relative to the script and inside the tree. Other directions and sources
    /// (`to`, `stdin`, `program`) are refused: a build has no terminal or shell.
    fn copy(
        &self,
        rel: &Path,
        args: &str,
        err: &dyn Fn(String) -> PsqlError,
    ) -> Result<Action, PsqlError> {
        let lower = args.to_ascii_lowercase();
        let at = lower
            .find(" from ")
            .ok_or_else(|| err("\\copy: only `\\copy ... from 'file'` is supported".into()))?;
        let target = args[..at].trim();
        let rest = args[at + 6..].trim_start();
        let (file, options) = if let Some(quoted) = rest.strip_prefix('\'') {
            let close = quoted
                .find('\'')
                .ok_or_else(|| err("\\copy: unterminated file name".into()))?;
            (&quoted[..close], &quoted[close + 1..])
        } else {
            rest.split_once(char::is_whitespace).unwrap_or((rest, ""))
        };
        let word = file.to_ascii_lowercase();
        if target.is_empty() || matches!(word.as_str(), "stdin" | "pstdin" | "program" | "") {
            return Err(err(format!(
                "\\copy: only a data file inside the tree is supported, not {file:?}"
            )));
        }
        let base = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        let data_rel = normalise(&base.join(file))
            .ok_or_else(|| err(format!("\\copy: {file} leaves sql/")))?;
        let data = (self.read)(&data_rel)
            .map_err(|e| err(format!("\\copy: cannot read {}: {e}", display(&data_rel))))?;
        Ok(Action::Copy {
            statement: format!("COPY {target} FROM STDIN {}", options.trim())
                .trim_end()
                .to_string(),
            source: display(&data_rel),
            data,
        })
    }

    fn flush(&mut self) -> Result<(), PsqlError> {
        self.pending_open = false;
        let found = std::mem::take(&mut self.pending_scan).finish();
        match self.pending.take() {
            Some(step) => self.emit_checked(step, found),
            None => Ok(()),
        }
    }

    /// Records a step and hands it to the sink, if any. A statement controlling the
    /// transaction is refused here, after variables are substituted, so neither a
    /// script nor a variable's value can end the build's transaction.
    fn emit(&mut self, step: Step) -> Result<(), PsqlError> {
        let sql = match &step.action {
            Action::Sql(sql) => sql,
            Action::Gset { query, .. } => query,
            Action::Copy { statement, .. } => statement,
            Action::Echo(_) => "",
        };
        let found = transaction_control(sql)
            .into_iter()
            .map(|(line, what)| (step.line + line - 1, what))
            .collect();
        self.emit_checked(step, found)
    }

    /// [`Run::emit`] for a step whose transaction control was checked as it was read
    /// (`found`: file line and statement).
    fn emit_checked(&mut self, step: Step, found: Vec<(usize, String)>) -> Result<(), PsqlError> {
        if let Some((line, what)) = found.into_iter().next().filter(|_| !self.own_session) {
            return Err(PsqlError {
                path: step.path.clone(),
                line,
                message: format!("S009: {}", transaction_control_message(&what)),
            });
        }
        let answer = match self.sink.as_mut() {
            Some(sink) => sink(&step)?,
            None => None,
        };
        if let (Action::Gset { prefix, .. }, Some(row)) = (&step.action, answer) {
            for (column, value) in row {
                let name = format!("{prefix}{column}");
                match value {
                    Some(v) => self.out.variables.insert(name, v),
                    None => self.out.variables.remove(&name),
                };
            }
        }
        self.out.steps.push(step);
        Ok(())
    }

    /// `\gset [prefix]`: the query in the buffer becomes a [`Action::Gset`] step. As
    /// in psql, the buffer is the statement just read, finished by `;` or not.
    fn gset(&mut self, args: &str, err: &dyn Fn(String) -> PsqlError) -> Result<(), PsqlError> {
        let words = self.words(args, err)?;
        let prefix = match words.as_slice() {
            [] => String::new(),
            [p] if is_var_name(p) => p.clone(),
            _ => return Err(err("\\gset takes at most one variable-name prefix".into())),
        };
        self.pending_open = false;
        let Some(Step {
            path: qpath,
            line: qline,
            action: Action::Sql(query),
        }) = self.pending.take()
        else {
            return Err(err("\\gset without a query before it".into()));
        };
        if self.sink.is_none() {
            self.after_gset = true;
        }
        let query = query.trim_end().trim_end_matches(';').to_string();
        let found = std::mem::take(&mut self.pending_scan).finish();
        self.emit_checked(
            Step {
                path: qpath,
                line: qline,
                action: Action::Gset { query, prefix },
            },
            found,
        )
    }

    fn condition(&self, args: &str, err: &dyn Fn(String) -> PsqlError) -> Result<bool, PsqlError> {
        let words = self.words(args, err)?;
        let value = words.concat();
        if self.after_gset && value.starts_with(':') {
            return Err(err(format!(
                "\\if {value}: a condition on a variable a \\gset may set is not supported (the files a tree includes must be known when it is compiled)"
            )));
        }
        parse_bool(&value).ok_or_else(|| err(format!("\\if: {value:?} is not a boolean")))
    }

    /// A meta-command's arguments as psql splits them: whitespace-separated, `'...'`
    /// quoted (`''` for a quote), `:name`-style variables, and backticks.
    fn words(
        &self,
        args: &str,
        err: &dyn Fn(String) -> PsqlError,
    ) -> Result<Vec<String>, PsqlError> {
        let mut words = Vec::new();
        let mut chars = args.char_indices().peekable();
        while let Some(&(_, c)) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            let mut word = String::new();
            while let Some((i, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                match c {
                    '\'' => loop {
                        match chars.next() {
                            None => return Err(err("unterminated quoted string".into())),
                            Some((_, '\'')) if chars.next_if(|(_, c)| *c == '\'').is_some() => {
                                word.push('\'');
                            }
                            Some((_, '\'')) => break,
                            Some((_, c)) => word.push(c),
                        }
                    },
                    '`' => {
                        let close = args[i + 1..]
                            .find('`')
                            .ok_or_else(|| err("unterminated backtick".into()))?;
                        word.push_str(&self.backtick(&args[i + 1..i + 1 + close], err)?);
                        while chars.next_if(|(j, _)| *j <= i + 1 + close).is_some() {}
                    }
                    ':' => {
                        let e = err(String::new());
                        match self.reference(args, i, &e.path, e.line)? {
                            Some((value, used)) => {
                                word.push_str(&value);
                                while chars.next_if(|(j, _)| *j < i + used).is_some() {}
                            }
                            None => word.push(':'),
                        }
                    }
                    c => word.push(c),
                }
            }
            words.push(word);
        }
        Ok(words)
    }

    /// Only ``echo "$NAME"`` (or `echo $NAME`): the value of one variable, looked up,
    /// never a shell.
    fn backtick(
        &self,
        inner: &str,
        err: &dyn Fn(String) -> PsqlError,
    ) -> Result<String, PsqlError> {
        let refuse = || {
            err(format!(
                "backtick command `{inner}` refused: only `echo \"$NAME\"` is supported"
            ))
        };
        let arg = inner
            .trim()
            .strip_prefix("echo ")
            .ok_or_else(refuse)?
            .trim();
        let arg = arg
            .strip_prefix('"')
            .and_then(|a| a.strip_suffix('"'))
            .unwrap_or(arg);
        let name = arg.strip_prefix('$').ok_or_else(refuse)?;
        let name = name
            .strip_prefix('{')
            .and_then(|n| n.strip_suffix('}'))
            .unwrap_or(name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(refuse());
        }
        if !readable_by_tree(name) {
            return Err(err(format!(
                "backtick: ${name} may not be read by a tree (it reads ORES_DB_<SUFFIX>_PASSWORD and the other ORES_* settings, never the administrator's credentials or anything else of the environment)"
            )));
        }
        (self.lookup)(name).ok_or_else(|| err(format!("backtick: ${name} is not set")))
    }
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// psql's boolean spellings: unique prefixes of true/false/yes/no, on/off, 1/0.
fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim().to_ascii_lowercase();
    let prefix = |word: &str, min: usize| v.len() >= min && word.starts_with(&v);
    if prefix("true", 1) || prefix("yes", 1) || prefix("on", 2) || v == "1" {
        Some(true)
    } else if prefix("false", 1) || prefix("no", 1) || prefix("off", 2) || v == "0" {
        Some(false)
    } else {
        None
    }
}

/// As libpq's `PQescapeLiteral`: `E'...'` when the value holds a backslash.
fn quote_literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

fn quote_ident(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// Whether a tree may read the variable `name` through a backtick: the passwords of
/// its environment's login roles (`ORES_DB_<SUFFIX>_PASSWORD`, which the engine
/// answers from its configuration) and the other `ORES_*` settings that are not
/// passwords. Never `PG*` (the administrator's login and password), another
/// spelling of a password, or anything else of the process environment.
pub fn readable_by_tree(name: &str) -> bool {
    let role_password = name.starts_with("ORES_DB_") && name.ends_with("_PASSWORD");
    name.starts_with("ORES_") && (role_password || !name.contains("PASSWORD"))
}

/// The names a text reads through backticks (``echo "$NAME"``, ``echo ${NAME}``),
/// found by their shape wherever they stand, reached or not: what a cache key must
/// cover, where reading too many only costs a cache miss.
pub fn backtick_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in text.match_indices("`echo") {
        let rest = &text[i + "`echo".len()..];
        let end = rest.find('`').unwrap_or(rest.len());
        let arg = rest[..end].trim().trim_matches('"');
        let Some(name) = arg.strip_prefix('$') else {
            continue;
        };
        let name = name.trim_start_matches('{').trim_end_matches('}');
        if !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}
