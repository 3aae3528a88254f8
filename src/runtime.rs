//! Where work runs: calling the blocking API from anywhere, including from inside a
//! tokio runtime, and spreading independent work over the machine's cores.
//!
//! The `postgres` driver drives each connection with a runtime of its own and blocks
//! on it; doing that on a thread that is inside a tokio runtime panics ("Cannot start
//! a runtime from within a runtime"), and so does dropping such a connection there.
//! Every public function of this crate that talks to the server therefore checks for
//! an entered runtime and, if there is one, does all its work (every connection it
//! opens, uses and drops) on a fresh OS thread, blocking the caller until it is done.
//! That blocks one runtime worker for the length of the call: async code should prefer
//! the `tokio` feature's [`asynchronous`](crate) API, which does the same work on
//! tokio's blocking pool.

/// Runs `f` here, or on a fresh OS thread when this thread is inside a tokio runtime.
/// A panic in `f` is passed on to the caller unchanged.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio_rt::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// What a destructor does with the server: run `f` on a fresh OS thread, so that
/// neither an entered runtime nor an unwinding panic on this thread can turn a driver
/// panic into an abort. Whatever went wrong (an error, a panic, no thread) comes back
/// as a message for the destructor to report; nothing is raised.
pub(crate) fn in_drop(f: impl FnOnce() -> crate::Result<()> + Send) -> Result<(), String> {
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("ores-sql-drop".into())
            .spawn_scoped(s, f)
        {
            Ok(handle) => match handle.join() {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("it panicked".to_string()),
            },
            Err(e) => Err(format!("no thread to run it on: {e}")),
        }
    })
}

/// `f` over `items`, on the machine's cores, results in the items' order: the items
/// are cut into one run per core of about equal `weight` (bytes of text, say), each
/// run mapped on a thread of its own. For work that depends on each item alone and
/// is large enough that a thread per core pays (megabytes of statements, password
/// verifiers). A panic in `f` is passed on to the caller unchanged.
pub(crate) fn map_on_cores<T: Send, R: Send>(
    items: Vec<T>,
    weight: impl Fn(&T) -> usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = items.iter().map(&weight).sum::<usize>() / cores + 1;
    let mut runs: Vec<Vec<T>> = vec![Vec::new()];
    let mut size = 0;
    for item in items {
        size += weight(&item);
        runs.last_mut().expect("one run at least").push(item);
        if size >= share {
            runs.push(Vec::new());
            size = 0;
        }
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .into_iter()
            .filter(|run| !run.is_empty())
            .map(|run| s.spawn(move || run.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}
