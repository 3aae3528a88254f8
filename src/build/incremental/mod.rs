//! Incremental builds: the last build, copied, with only what a change to the tree
//! can affect applied again (see `rules.rs` for which changes qualify and why the
//! result is the full build's). The lifecycle layer decides when to try one
//! (`crate::lifecycle::cache`); this layer outlines the tree, plans, and applies.

pub(crate) mod apply;
pub(crate) mod outline;
pub(crate) mod rules;

/// The outline a full build keeps for the next incremental one: the digest of what
/// else it depended on, and its statements. Written by the build's last transaction
/// (`phases::finish`), so it commits with the build and no session gets in to write
/// it later.
pub(crate) struct Kept<'a> {
    pub(crate) base: &'a str,
    pub(crate) statements: &'a [outline::Statement],
}
