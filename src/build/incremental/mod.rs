//! Incremental builds: the last build, copied, with only what a change to the tree
//! can affect applied again (see `rules.rs` for which changes qualify and why the
//! result is the full build's). The lifecycle layer decides when to try one
//! (`crate::lifecycle::cache`); this layer outlines the tree, plans, and applies.

pub(crate) mod apply;
pub(crate) mod outline;
pub(crate) mod rules;
