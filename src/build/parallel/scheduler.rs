//! The one scheduler of both parallel builders: units arrive with the earlier units
//! they must follow (all at once for a numeric tree, one by one until sealed for an
//! entry tree), and each worker takes the first ready unit, applies it, and marks it
//! done. The first failure stops everything: no unit starts after it, and it is the
//! error the build reports.
//!
//! Which ready unit is first: a long one (at least [`LONG_UNIT`] bytes of SQL: a
//! large seed file), then arrival order (the manifest's, or psql's stream). A tree's
//! large seed files come last in its stream, and on arrival order they started only
//! once the hundreds of small units ready before them had run, and then ran on
//! alone at the end, with the other connections idle.
//!
//! Invariant: a unit starts only once every unit it depends on has committed. Units
//! with no order between them have none to keep: the analysis found nothing one
//! does that the other sees.

use crate::error::{Error, Result};
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// The size of SQL from which a ready unit goes before the shorter ones.
pub(crate) const LONG_UNIT: usize = 256 * 1024;

struct Slot<T> {
    work: Option<T>,
    /// At least [`LONG_UNIT`] bytes of SQL.
    long: bool,
    /// Dependencies not yet done.
    waiting: usize,
    /// Later units waiting for this one.
    dependents: Vec<usize>,
    done: bool,
}

struct Board<T> {
    slots: Vec<Slot<T>>,
    /// Units whose dependencies are all done and that no worker has taken yet, long
    /// ones first, then by arrival.
    ready: BTreeSet<(Reverse<bool>, usize)>,
    started: usize,
    done: usize,
    /// No more units will come.
    sealed: bool,
    /// Run nothing more (the producer failed).
    halted: bool,
    failure: Option<Error>,
}

/// Units of work `T` with their order, shared by the workers and the producer.
pub(crate) struct Scheduler<T> {
    board: Mutex<Board<T>>,
    wake: Condvar,
    /// For the trace of when each unit arrived and ran (`RUST_LOG=ores_sql=trace`),
    /// which shows where the connections waited.
    created: Instant,
}

impl<T: Send> Scheduler<T> {
    pub(crate) fn new() -> Self {
        Scheduler {
            board: Mutex::new(Board {
                slots: Vec::new(),
                ready: BTreeSet::new(),
                started: 0,
                done: 0,
                sealed: false,
                halted: false,
                failure: None,
            }),
            wake: Condvar::new(),
            created: Instant::now(),
        }
    }

    fn ms(&self) -> f64 {
        self.created.elapsed().as_secs_f64() * 1000.0
    }

    fn lock(&self) -> MutexGuard<'_, Board<T>> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a unit of `bytes` of SQL that must follow the earlier units `deps`.
    /// Refused once a unit has failed (the producer then stops).
    pub(crate) fn push(&self, work: T, deps: &[usize], bytes: usize) -> Result<()> {
        let mut b = self.lock();
        if b.failure.is_some() {
            return Err(halted());
        }
        let index = b.slots.len();
        let mut waiting = 0;
        for &d in deps {
            if !b.slots[d].done {
                waiting += 1;
                b.slots[d].dependents.push(index);
            }
        }
        let long = bytes >= LONG_UNIT;
        b.slots.push(Slot {
            work: Some(work),
            long,
            waiting,
            dependents: Vec::new(),
            done: false,
        });
        if waiting == 0 {
            b.ready.insert((Reverse(long), index));
        }
        log::trace!(
            "unit {index} arrives at {:.1} ms after {deps:?} ({waiting} not done)",
            self.ms()
        );
        drop(b);
        self.wake.notify_all();
        Ok(())
    }

    /// No more units will come; with `halt`, none of those waiting will start.
    pub(crate) fn seal(&self, halt: bool) {
        let mut b = self.lock();
        b.sealed = true;
        b.halted |= halt;
        drop(b);
        self.wake.notify_all();
    }

    /// Waits until every unit pushed so far is done, or one failed.
    pub(crate) fn wait_for_all(&self) -> Result<()> {
        let mut b = self.lock();
        loop {
            if b.failure.is_some() {
                return Err(halted());
            }
            if b.done == b.slots.len() {
                return Ok(());
            }
            b = self.wake.wait(b).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// One worker: takes the first ready unit, applies it, repeats until the units
    /// are sealed and all started, or anything failed. `name` says what a unit is,
    /// for the error if applying it panics.
    pub(crate) fn work(&self, name: impl Fn(&T) -> String, mut apply: impl FnMut(T) -> Result<()>) {
        while let Some((index, unit)) = self.next() {
            let what = name(&unit);
            let started = self.ms();
            let outcome = panic_as_error(&format!("the worker applying {what}"), || apply(unit));
            log::trace!("unit {index} ran {started:.1}-{:.1} ms: {what}", self.ms());
            let mut b = self.lock();
            match outcome {
                Ok(()) => {
                    b.done += 1;
                    b.slots[index].done = true;
                    for d in std::mem::take(&mut b.slots[index].dependents) {
                        b.slots[d].waiting -= 1;
                        if b.slots[d].waiting == 0 {
                            let long = b.slots[d].long;
                            b.ready.insert((Reverse(long), d));
                        }
                    }
                }
                Err(e) => {
                    b.failure.get_or_insert(e);
                }
            }
            drop(b);
            self.wake.notify_all();
        }
    }

    /// The next unit to apply, waiting for one; `None` when there is nothing more to
    /// do for this worker.
    fn next(&self) -> Option<(usize, T)> {
        let mut b = self.lock();
        loop {
            if b.failure.is_some() || b.halted {
                return None;
            }
            if let Some((_, i)) = b.ready.pop_first() {
                b.started += 1;
                // A started unit's work is not read again.
                let unit = b.slots[i].work.take().expect("a ready unit is taken once");
                return Some((i, unit));
            }
            if b.sealed && b.started == b.slots.len() {
                return None;
            }
            b = self.wake.wait(b).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The first failure of a unit, if any.
    pub(crate) fn into_failure(self) -> Option<Error> {
        self.board
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .failure
    }
}

/// What the producer is told when a unit failed; the build reports the unit's own
/// failure instead (see [`Scheduler::into_failure`]).
fn halted() -> Error {
    Error::Internal("a unit of the parallel build failed".into())
}

/// Runs `f` with a panic turned into an error. The other threads of a build wait on
/// the board for what this one was doing; told of a failure they stop, where a
/// panic alone would leave them (and the build) waiting for ever.
pub(crate) fn panic_as_error<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::Internal(format!(
            "{what} panicked; the build was stopped"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_naming_the_thread_and_results_pass_through() {
        let e = panic_as_error::<()>("the worker applying x.sql", || panic!("bug")).unwrap_err();
        assert!(
            e.to_string().contains("the worker applying x.sql panicked"),
            "{e}"
        );
        assert_eq!(panic_as_error("w", || Ok(7)).unwrap(), 7);
    }

    /// Units run after their dependencies on any number of workers, and a failure
    /// stops the units that depend on it.
    #[test]
    fn dependencies_are_kept_and_a_failure_stops_what_follows() {
        for workers in [1, 3] {
            let s: Scheduler<usize> = Scheduler::new();
            let order = Mutex::new(Vec::new());
            // 0 <- 2 <- 3, 1 free, 4 fails, 5 after 4.
            let deps: [&[usize]; 6] = [&[], &[], &[0], &[2], &[], &[4]];
            for (i, d) in deps.iter().enumerate() {
                s.push(i, d, 0).unwrap();
            }
            s.seal(false);
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| {
                        s.work(
                            |u| format!("unit {u}"),
                            |u| {
                                if u == 4 {
                                    return Err(Error::Internal("unit 4".into()));
                                }
                                order.lock().unwrap().push(u);
                                Ok(())
                            },
                        )
                    });
                }
            });
            let order = order.into_inner().unwrap();
            assert!(!order.contains(&5), "{order:?}");
            let at = |u: usize| order.iter().position(|&x| x == u);
            if let (Some(a), Some(b)) = (at(0), at(2)) {
                assert!(a < b, "{order:?}");
            }
            if let (Some(a), Some(b)) = (at(2), at(3)) {
                assert!(a < b, "{order:?}");
            }
            assert!(s.into_failure().unwrap().to_string().contains("unit 4"));
        }
    }
}
