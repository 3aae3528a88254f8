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

/// A byte of an unquoted name, as the server's scanner (`scan.l`) has it: ASCII
/// letters, digits, `_`, `$`, and every byte of a multi-byte character.
pub(crate) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The server's whitespace (`scan.l`'s `space`): a multi-byte space is not one.
fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Tokens with their 1-based line.
pub(super) fn lex(sql: &str) -> Vec<(Tok, usize)> {
    lex_spans(sql)
        .into_iter()
        .map(|(tok, line, _)| (tok, line))
        .collect()
}

/// Tokens with their 1-based line and the byte offset where each starts, so the psql
/// interpreter can substitute variables only where psql would.
///
/// The scan is over bytes: every byte that matters to where a token ends is ASCII,
/// and the bytes of a multi-byte character only ever continue a name or a literal,
/// so each offset is a char boundary of `sql`.
pub(crate) fn lex_spans(sql: &str) -> Vec<(Tok, usize, usize)> {
    lex_spans_keeping(sql, |_| true)
}

/// [`lex_spans`] for a reader that looks only at some words: a word `keep` refuses
/// (given lowercased) is a `Word` with an empty text, which costs no allocation. The
/// psql interpreter and the statement splitter see megabytes of inserts, and need
/// only the keywords that split statements or control a transaction.
pub(crate) fn lex_spans_keeping(
    sql: &str,
    keep: impl Fn(&str) -> bool,
) -> Vec<(Tok, usize, usize)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let n = b.len();
    let count_lines = |from: usize, to: usize| memchr::memchr_iter(b'\n', &b[from..to]).count();
    while i < n {
        let c = b[i];
        let start_line = line;
        let mut start = i;
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if is_space_byte(c) {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            i = memchr_from(b, i, b'\n');
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let from = i;
            i = block_comment_end(b, i);
            line += count_lines(from, i.min(n));
        } else if c == b'\'' {
            // `E'..'`: the word just before is the one letter right before the quote.
            let escapes = matches!(out.last(), Some((Tok::Word(_), _, at)) if *at + 1 == i)
                && (b[i - 1] == b'e' || b[i - 1] == b'E');
            if escapes && let Some((_, _, e_start)) = out.pop() {
                start = e_start;
            }
            let from = i;
            i = string_end(b, i, escapes);
            line += count_lines(from, i.min(n));
            out.push((Tok::Literal, start_line, start));
        } else if c == b'"' {
            let from = i;
            let name;
            (name, i) = quoted_name(sql, i);
            line += count_lines(from, i.min(n));
            out.push((Tok::Quoted(name), start_line, start));
        } else if let Some(tag) = (c == b'$').then(|| dollar_tag_at(b, i)).flatten() {
            let from = i;
            i += tag;
            let close = &sql[from..from + tag];
            i = memchr::memmem::find(&b[i..], close.as_bytes()).map_or(n, |p| i + p + tag);
            line += count_lines(from, i);
            out.push((Tok::Literal, start_line, start));
        } else if is_ident_byte(c) {
            let from = i;
            while i < n && is_ident_byte(b[i]) {
                i += 1;
            }
            // PostgreSQL folds only ASCII letters of an unquoted name in a multi-byte
            // encoding: `Ä_tbl` and `ä_tbl` are two tables.
            // Keywords are short: most words are compared on the stack.
            let raw = &sql[from..i];
            let mut small = [0u8; 24];
            let kept = if raw.len() <= small.len() {
                small[..raw.len()].copy_from_slice(raw.as_bytes());
                small[..raw.len()].make_ascii_lowercase();
                std::str::from_utf8(&small[..raw.len()]).is_ok_and(&keep)
            } else {
                keep(&raw.to_ascii_lowercase())
            };
            let word = if kept {
                raw.to_ascii_lowercase()
            } else {
                String::new()
            };
            out.push((Tok::Word(word), start_line, start));
        } else if c == b'\\' {
            // psql takes the rest of the line as the command's arguments, and the
            // SQL that follows as a new statement.
            out.push((Tok::Backslash, start_line, start));
            out.push((Tok::Semi, start_line, start));
            i = memchr_from(b, i, b'\n');
        } else if c == b';' {
            out.push((Tok::Semi, start_line, start));
            i += 1;
        } else if c < 0x80 {
            out.push((Tok::Punct(c as char), start_line, start));
            i += 1;
        } else {
            // Unreachable (a byte >= 0x80 is part of a name), kept total.
            i += 1;
        }
    }
    out
}

/// The index of the first `byte` at or after `from`, or the end.
fn memchr_from(b: &[u8], from: usize, byte: u8) -> usize {
    memchr::memchr(byte, &b[from..]).map_or(b.len(), |p| from + p)
}

/// Where the block comment opening at `i` ends (they nest in PostgreSQL).
fn block_comment_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i.min(b.len())
}

/// Where the string literal opening at `i` ends (`''` inside it is a quote; with
/// `escapes`, an `E'...'` string, a backslash escapes the next character).
fn string_end(b: &[u8], mut i: usize, escapes: bool) -> usize {
    i += 1;
    // Seed rows are mostly long literals: jump from one quote (or backslash) to the
    // next instead of stepping through every byte.
    while i < b.len() {
        let next = if escapes {
            memchr::memchr2(b'\'', b'\\', &b[i..])
        } else {
            memchr::memchr(b'\'', &b[i..])
        };
        let Some(p) = next else { return b.len() };
        i += p;
        // A backslash escapes what follows; `''` is a quote inside the string.
        if b[i] == b'\\' || b.get(i + 1) == Some(&b'\'') {
            i += 2;
        } else {
            return i + 1;
        }
    }
    // An escape as the last byte steps past the end.
    i.min(b.len())
}

/// The quoted name opening at byte `i` of `sql` (`""` inside it is a quote) and where
/// it ends.
fn quoted_name(sql: &str, i: usize) -> (String, usize) {
    let b = sql.as_bytes();
    let mut name = String::new();
    let mut from = i + 1;
    let mut j = from;
    while j < b.len() {
        if b[j] == b'"' {
            name.push_str(&sql[from..j]);
            if b.get(j + 1) == Some(&b'"') {
                name.push('"');
                j += 2;
                from = j;
                continue;
            }
            return (name, j + 1);
        }
        j += 1;
    }
    name.push_str(&sql[from..]);
    (name, b.len())
}

/// The length in bytes of the opening `$tag$` at `i`, if a dollar quote starts there
/// (`$1` does not, nor a `$` continuing a name).
fn dollar_tag_at(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && is_ident_byte(b[i - 1]) {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() && b[j] != b'$' {
        let ok = if j == i + 1 {
            b[j].is_ascii_alphabetic() || b[j] == b'_' || b[j] >= 0x80
        } else {
            b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80
        };
        if !ok {
            return None;
        }
        j += 1;
    }
    (j < b.len()).then_some(j + 1 - i)
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
    /// The words [`Splitter::ends`] looks at; any other may reach it empty.
    pub(crate) fn needs(w: &str) -> bool {
        matches!(
            w,
            "create" | "function" | "procedure" | "or" | "replace" | "begin" | "case" | "end"
        )
    }

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
    let toks = lex_spans_keeping(sql, Splitter::needs);
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
                    range: from..start + 1,
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
            range: from..sql.len(),
            line,
        });
    }
    out
}
