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

/// What a full build keeps for the next incremental one: the digest of what else it
/// depended on, and its stream of statements. Written by the build's last
/// transaction (`phases::finish`), so it commits with the build and no session gets
/// in to write it later. The stream made before the build (`statements`, its `\gset`
/// queries answered with `rows`) is kept when this build's queries returned those
/// same rows (`gsets`, filled as the build runs); otherwise, and for a tree whose
/// stream could not be made before, the tree is outlined again from this build's
/// rows.
pub(crate) struct Kept<'a> {
    pub(crate) base: &'a str,
    pub(crate) statements: Option<&'a [outline::Statement]>,
    pub(crate) rows: &'a [crate::build::single::entry::Row],
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
            // The outline is a function of the tree, the configuration and the rows.
            Some(s) if *gsets == self.rows => Ok(Ok(s.to_vec())),
            _ => outline::outline(config, manifest, &gsets),
        }
    }
}
