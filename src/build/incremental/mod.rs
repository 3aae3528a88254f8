//! Incremental builds: the last build, copied, with only what a change to the tree
//! can affect applied again (see `rules.rs` for which changes qualify and why the
//! result is the full build's). The lifecycle layer decides when to try one
//! (`crate::lifecycle::cache`); this layer outlines the tree, plans, and applies.

pub(crate) mod apply;
mod facts;
mod keys;
pub(crate) mod outline;
mod rebuild;
pub(crate) mod rules;

use crate::build::single::entry::Row;
use crate::error::Result;
use std::cell::RefCell;
use std::sync::mpsc::{Receiver, Sender};

/// What a full build keeps for the next incremental one: the digest of what else it
/// depended on, and its stream of statements. Written at the build's end
/// (`phases::finish`: in its last transaction, or beside it on an idle worker's
/// session and committed first), while staging admits nobody else, so no session
/// gets in to write it later. The stream is made before the build when the decision to
/// build in full needed it, else alongside the build ([`Outline`]); a stream whose
/// `\gset` rows are not this build's is made again from this build's rows.
pub(crate) struct Kept<'a> {
    pub(crate) base: &'a str,
    pub(crate) outline: Outline<'a>,
    /// The rows this build's `\gset` queries returned, as it runs.
    pub(crate) gsets: GsetRows,
}

/// Where a full build's stream of statements comes from.
pub(crate) enum Outline<'a> {
    /// Made before the build, its `\gset` queries answered with `rows` (the last
    /// build's); `None` when it could not be made.
    Before {
        statements: Option<&'a [outline::Statement]>,
        rows: &'a [Row],
    },
    /// Being made on another thread while the build runs, its `\gset` queries
    /// answered with the rows the build's return ([`GsetRows`] hands them on); the
    /// result arrives here.
    Alongside(RefCell<Option<Receiver<Made>>>),
}

/// An outline as [`outline::outline`] returns it.
pub(crate) type Made = Result<std::result::Result<Vec<outline::Statement>, String>>;

/// The rows a build's `\gset` queries return, in order, kept for its outline and
/// handed on to one being made alongside it.
#[derive(Default)]
pub(crate) struct GsetRows {
    rows: RefCell<Vec<Row>>,
    to_outline: RefCell<Option<Sender<Row>>>,
}

impl GsetRows {
    /// Rows that are also sent to an outline made alongside the build.
    pub(crate) fn handed_to(outline: Sender<Row>) -> GsetRows {
        GsetRows {
            rows: RefCell::default(),
            to_outline: RefCell::new(Some(outline)),
        }
    }

    pub(crate) fn record(&self, row: &Row) {
        self.rows.borrow_mut().push(row.clone());
        if let Some(to) = &*self.to_outline.borrow() {
            // An outline that stopped (it refused the tree) needs no more rows.
            let _ = to.send(row.clone());
        }
    }

    /// The build starts again (on one connection, after a parallel build stopped):
    /// the rows so far are forgotten, and an outline made alongside, which was
    /// handed some of them already, can no longer follow (it ends without rows).
    pub(crate) fn restart(&self) {
        self.rows.borrow_mut().clear();
        self.to_outline.borrow_mut().take();
    }
}

impl Kept<'_> {
    /// The stream to keep, or why there is none.
    pub(crate) fn stream(
        &self,
        config: &crate::config::Config,
        manifest: &crate::tree::manifest::Manifest,
    ) -> crate::error::Result<std::result::Result<Vec<outline::Statement>, String>> {
        // No more rows come: an outline made alongside that wants more ends.
        let following = self.gsets.to_outline.borrow_mut().take().is_some();
        let gsets = self.gsets.rows.borrow();
        match &self.outline {
            // The outline is a function of the tree, the configuration and the rows.
            Outline::Before {
                statements: Some(s),
                rows,
            } if *gsets == *rows => return Ok(Ok(s.to_vec())),
            Outline::Alongside(made) if following => {
                let mut lap = crate::build::Lap::start();
                let made = made.borrow_mut().take().map(|r| r.recv());
                lap.log("outline of the tree, made alongside the build: waited");
                // The build succeeded: a tree it could run but not outline is kept
                // without an outline, not failed.
                match made {
                    Some(Ok(Ok(made))) => return Ok(made),
                    Some(Ok(Err(e))) => return Ok(Err(format!("it could not be outlined: {e}"))),
                    _ => log::debug!("the outline made alongside the build is gone"),
                }
            }
            _ => {}
        }
        outline::outline(config, manifest, &gsets)
    }
}
