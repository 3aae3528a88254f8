//! Incremental builds: the last build, copied, with only what a change to the tree
//! can affect applied again (see `rules.rs` for which changes qualify and why the
//! result is the full build's). The lifecycle layer decides when to try one
//! (`crate::lifecycle::cache`); this layer outlines the tree, plans, and applies.

pub(crate) mod apply;
mod facts;
pub(crate) mod outline;
mod rebuild;
pub(crate) mod rules;

/// What a full build keeps for the next incremental one: the digest of what else it
/// depended on, and its stream of statements. Written by the build's last
/// transaction (`phases::finish`), so it commits with the build and no session gets
/// in to write it later. A tree with a `\gset` is outlined there, from the rows its
/// queries returned in this build (`gsets`, filled as the build runs); any other
/// tree's outline is the one made before the build (`statements`).
pub(crate) struct Kept<'a> {
    pub(crate) base: &'a str,
    pub(crate) statements: Option<&'a [outline::Statement]>,
    pub(crate) gsets: std::cell::RefCell<Vec<crate::build::single::entry::Row>>,
}

impl Kept<'_> {
    /// The stream to keep, or why there is none.
    pub(crate) fn stream(
        &self,
        config: &crate::config::Config,
        manifest: &crate::tree::manifest::Manifest,
    ) -> crate::error::Result<std::result::Result<Vec<outline::Statement>, String>> {
        let gsets = self.gsets.borrow();
        match self.statements {
            Some(s) if gsets.is_empty() => Ok(Ok(s.to_vec())),
            _ => outline::outline(config, manifest, &gsets),
        }
    }
}
