//! Tokens and statements of a script, with comments, literals, quoted identifiers
//! and dollar-quoted bodies lexed out so rules match keywords, never raw text.

/// Lexical token of a script; literal contents are dropped on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Unquoted word, lowercased (keywords, names, numbers).
    Word(String),
    /// Quoted identifier, case kept.
    Quoted(String),
    /// A string or dollar-quoted literal (contents dropped).
    Literal,
    /// A backslash outside any literal or comment: psql would take it as a command.
    Backslash,
    /// Statement separator.
    Semi,
    /// Any other punctuation.
    Punct(char),
}

pub(super) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Tokens with their 1-based line.
pub(super) fn lex(sql: &str) -> Vec<(Tok, usize)> {
    lex_spans(sql)
        .into_iter()
        .map(|(tok, line, _)| (tok, line))
        .collect()
}

/// Tokens with their 1-based line and the index (in chars) where each starts, so the
/// psql interpreter can substitute variables only where psql would.
pub(crate) fn lex_spans(sql: &str) -> Vec<(Tok, usize, usize)> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let n = chars.len();
    let count_lines =
        |from: usize, to: usize| chars[from..to].iter().filter(|c| **c == '\n').count();
    while i < n {
        let c = chars[i];
        let start_line = line;
        let mut start = i;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < n && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let from = i;
            i = block_comment_end(&chars, i);
            line += count_lines(from, i.min(n));
        } else if c == '\'' {
            let escapes = matches!(out.last(), Some((Tok::Word(w), _, _)) if w == "e")
                && i > 0
                && (chars[i - 1] == 'e' || chars[i - 1] == 'E');
            if escapes && let Some((_, _, e_start)) = out.pop() {
                start = e_start;
            }
            let from = i;
            i = string_end(&chars, i, escapes);
            line += count_lines(from, i.min(n));
            out.push((Tok::Literal, start_line, start));
        } else if c == '"' {
            let from = i;
            let name;
            (name, i) = quoted_name(&chars, i);
            line += count_lines(from, i.min(n));
            out.push((Tok::Quoted(name), start_line, start));
        } else if c == '$' && dollar_tag(&chars, i).is_some() {
            let tag = dollar_tag(&chars, i).expect("checked");
            let from = i;
            i += tag.len();
            let close: Vec<char> = tag.chars().collect();
            while i < n && chars[i..].iter().take(close.len()).ne(close.iter()) {
                i += 1;
            }
            i = (i + close.len()).min(n);
            line += count_lines(from, i);
            out.push((Tok::Literal, start_line, start));
        } else if is_ident_char(c) {
            let from = i;
            while i < n && is_ident_char(chars[i]) {
                i += 1;
            }
            // PostgreSQL folds only ASCII letters of an unquoted name in a multi-byte
            // encoding: `Ä_tbl` and `ä_tbl` are two tables.
            let word = chars[from..i]
                .iter()
                .collect::<String>()
                .to_ascii_lowercase();
            out.push((Tok::Word(word), start_line, start));
        } else if c == '\\' {
            // psql takes the rest of the line as the command's arguments, and the
            // SQL that follows as a new statement.
            out.push((Tok::Backslash, start_line, start));
            out.push((Tok::Semi, start_line, start));
            while i < n && chars[i] != '\n' {
                i += 1;
            }
        } else if c == ';' {
            out.push((Tok::Semi, start_line, start));
            i += 1;
        } else {
            out.push((Tok::Punct(c), start_line, start));
            i += 1;
        }
    }
    out
}

/// Where the block comment opening at `i` ends (they nest in PostgreSQL).
fn block_comment_end(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Where the string literal opening at `i` ends (`''` inside it is a quote; with
/// `escapes`, an `E'...'` string, a backslash escapes the next character).
fn string_end(chars: &[char], mut i: usize, escapes: bool) -> usize {
    i += 1;
    while i < chars.len() {
        if escapes && chars[i] == '\\' {
            i += 2;
        } else if chars[i] == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// The quoted name opening at `i` (`""` inside it is a quote) and where it ends.
fn quoted_name(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    i += 1;
    while i < chars.len() {
        if chars[i] == '"' {
            if chars.get(i + 1) == Some(&'"') {
                name.push('"');
                i += 2;
                continue;
            }
            return (name, i + 1);
        }
        name.push(chars[i]);
        i += 1;
    }
    (name, i)
}

/// The opening `$tag$` at `i`, if a dollar quote starts there (`$1` does not).
pub(super) fn dollar_tag(chars: &[char], i: usize) -> Option<String> {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return None;
    }
    let mut j = i + 1;
    while j < chars.len() && chars[j] != '$' {
        let ok = if j == i + 1 {
            chars[j].is_alphabetic() || chars[j] == '_'
        } else {
            chars[j].is_alphanumeric() || chars[j] == '_'
        };
        if !ok {
            return None;
        }
        j += 1;
    }
    (j < chars.len()).then(|| chars[i..=j].iter().collect())
}

/// A statement's tokens and the line it starts on.
pub(super) struct Statement {
    pub(super) toks: Vec<Tok>,
    pub(super) line: usize,
}

impl Statement {
    pub(super) fn word(&self, i: usize) -> Option<&str> {
        match self.toks.get(i) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    /// Index after the words `words` if they appear in order from `i` (skipping none).
    pub(super) fn expect(&self, mut i: usize, words: &[&str]) -> Option<usize> {
        for w in words {
            if self.word(i) != Some(w) {
                return None;
            }
            i += 1;
        }
        Some(i)
    }

    /// A possibly schema-qualified name starting at `i`: (name without schema, next index).
    pub(super) fn name(&self, mut i: usize) -> Option<(String, usize)> {
        let mut last = None;
        loop {
            let part = match self.toks.get(i)? {
                Tok::Word(w) => w.clone(),
                Tok::Quoted(q) => q.clone(),
                _ => return last.map(|l| (l, i)),
            };
            last = Some(part);
            i += 1;
            if self.toks.get(i) == Some(&Tok::Punct('.')) {
                i += 1;
            } else {
                return last.map(|l| (l, i));
            }
        }
    }
}

/// Where statements end, decided the way psql decides it (`psqlscan.l`), so a tree
/// is split exactly as psql would send it: a `;` inside parentheses does not end one,
/// nor does one inside the `BEGIN ATOMIC ... END` body of a `CREATE [OR REPLACE]
/// FUNCTION | PROCEDURE` (where `CASE ... END` nests too).
#[derive(Default)]
pub(crate) struct Splitter {
    /// First letters of the statement's leading words, as psql keeps them.
    leading: Vec<char>,
    words: usize,
    parens: usize,
    begins: usize,
}

impl Splitter {
    /// Feeds the next token; true when it is the `;` that ends the statement.
    pub(crate) fn ends(&mut self, t: &Tok) -> bool {
        match t {
            Tok::Semi if self.parens == 0 && self.begins == 0 => {
                *self = Splitter::default();
                return true;
            }
            Tok::Punct('(') => self.parens += 1,
            Tok::Punct(')') => self.parens = self.parens.saturating_sub(1),
            Tok::Word(w) => self.word(w),
            _ => {}
        }
        false
    }

    fn word(&mut self, w: &str) {
        if self.words < 4 {
            let keep = matches!(w, "create" | "function" | "procedure" | "or" | "replace");
            self.leading.push(if keep {
                w.chars().next().unwrap_or(' ')
            } else {
                ' '
            });
        }
        self.words += 1;
        let routine = matches!(
            self.leading.as_slice(),
            ['c', 'f' | 'p', ..] | ['c', 'o', 'r', 'f' | 'p', ..]
        );
        if !routine || self.parens > 0 {
            return;
        }
        match w {
            "begin" => self.begins += 1,
            "case" if self.begins > 0 => self.begins += 1,
            "end" => self.begins = self.begins.saturating_sub(1),
            _ => {}
        }
    }
}

pub(super) fn statements(toks: Vec<(Tok, usize)>) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut cur = Statement {
        toks: Vec::new(),
        line: 0,
    };
    let mut split = Splitter::default();
    for (t, line) in toks {
        if split.ends(&t) {
            if !cur.toks.is_empty() {
                out.push(std::mem::replace(
                    &mut cur,
                    Statement {
                        toks: Vec::new(),
                        line: 0,
                    },
                ));
            }
            continue;
        }
        if cur.toks.is_empty() {
            cur.line = line;
        }
        cur.toks.push(t);
    }
    if !cur.toks.is_empty() {
        out.push(cur);
    }
    out
}

/// One statement of a script as it would be sent: its text from its first token
/// through its `;` (comments before it left out), and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatementSpan {
    /// Byte range in the script.
    pub(crate) range: std::ops::Range<usize>,
    /// 1-based line of its first token.
    pub(crate) line: usize,
}

/// The statements of `sql`, split as psql splits them ([`Splitter`]). A backslash
/// does not split here: what is sent has no meta-commands left, and a stray one is
/// left for the server to refuse.
pub(crate) fn statement_spans(sql: &str) -> Vec<StatementSpan> {
    let toks = lex_spans(sql);
    // Token starts are char indices; slicing needs bytes.
    let bytes: Vec<usize> = sql
        .char_indices()
        .map(|(b, _)| b)
        .chain([sql.len()])
        .collect();
    let mut out = Vec::new();
    let mut split = Splitter::default();
    let mut open: Option<(usize, usize)> = None;
    let mut after_backslash = false;
    for (t, line, start) in &toks {
        // The lexer ends a backslash's line with a `;` of its own.
        let synthetic = after_backslash && *t == Tok::Semi;
        after_backslash = *t == Tok::Backslash;
        if synthetic {
            continue;
        }
        if split.ends(t) {
            if let Some((from, line)) = open.take() {
                out.push(StatementSpan {
                    range: bytes[from]..bytes[start + 1],
                    line,
                });
            }
            continue;
        }
        if *t != Tok::Semi {
            open.get_or_insert((*start, *line));
        }
    }
    if let Some((from, line)) = open {
        out.push(StatementSpan {
            range: bytes[from]..sql.len(),
            line,
        });
    }
    out
}
