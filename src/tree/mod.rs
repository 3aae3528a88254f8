//! The SQL tree: scanning `sql/`, the static rules, the service registry and the
//! compiled manifest.
//!
//! Everything here except `manifest` is also compiled into `build.rs` (through
//! `#[path]`), so the build and the library decide with the same code: those files
//! use only `std`, their own dependencies and `super::` siblings.

pub mod lint;
pub mod manifest;
pub mod psql;
pub mod registry;
pub mod scan;
