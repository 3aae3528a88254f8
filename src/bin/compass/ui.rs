//! Terminal interaction: the logger, confirmation prompts and the spinner.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// The spinner on screen, if any: log lines are written around it, not through it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Sends log records to env_logger, pausing the active spinner while one is written
/// so a warning does not land in the middle of the spinner's line.
struct SpinnerAwareLogger(env_logger::Logger);

impl log::Log for SpinnerAwareLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.0.matches(record) {
            return;
        }
        let bar = ACTIVE.lock().ok().and_then(|a| a.clone());
        match bar {
            Some(bar) => bar.suspend(|| self.0.log(record)),
            None => self.0.log(record),
        }
    }

    fn flush(&self) {
        self.0.flush()
    }
}

/// Installs the logger: warnings by default, more with `-v`, `RUST_LOG` over both.
pub fn init_logging(default_level: &str) {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
            .format_timestamp(None)
            .build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(SpinnerAwareLogger(logger))).is_ok() {
        log::set_max_level(max);
    }
}

/// A running spinner; cleared from the screen when dropped (also on a panic).
struct Spinner(ProgressBar);

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Ok(mut active) = ACTIVE.lock() {
            *active = None;
        }
        self.0.finish_and_clear();
    }
}

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

/// Whether [`confirm`] can get an answer: `-y`, or a terminal to ask on. A command
/// that would print something before asking skips it when not (it fails at once).
pub fn can_confirm(yes: bool) -> bool {
    yes || std::io::stdin().is_terminal()
}

/// Runs `step` with a spinner on standard error, cleared when it returns. It draws
/// only when standard error is a terminal, so logs and tests see clean output.
pub fn with_spinner<T>(message: impl Into<String>, step: impl FnOnce() -> T) -> T {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(100));
    if let Ok(mut active) = ACTIVE.lock() {
        *active = Some(bar.clone());
    }
    let _spinner = Spinner(bar);
    step()
}
