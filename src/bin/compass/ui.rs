//! Terminal interaction: confirmation prompts, spinners and tables.

use comfy_table::{ContentArrangement, Table, presets};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// A failure of the command line itself (not of the library): one line, exit 1.
#[derive(Debug)]
pub struct Refusal(pub String);

/// Asks before doing something that cannot be undone. Without a terminal to ask on
/// this fails at once: a script that forgot `-y` must not hang waiting for input.
pub fn confirm(yes: bool, action: &str) -> Result<(), Refusal> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Refusal(format!(
            "refusing to {action} without confirmation: standard input is not a terminal to ask on; pass -y (--yes) to confirm"
        )));
    }
    eprint!("{action}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Refusal(format!("could not read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Refusal(
            "cancelled; nothing was changed (answer y to proceed, or pass -y)".into(),
        )),
    }
}

/// A spinner on standard error for a step that takes a while. It draws only when
/// standard error is a terminal, so logs and tests see clean output.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A table with a header row, sized to the terminal when there is one.
pub fn table<I, S>(header: I) -> Table
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

/// The first `n` characters of a hash, for people.
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
