//! The SQL tree: scanning `sql/`, its `ores-sql.toml`, the static rules, the psql
//! subset, the service registry and the compiled manifest.
//!
//! `boundary`, `scan`, `settings`, `lint`, `psql` and `entry` are also compiled into `build.rs` (through
//! `#[path]`), so the build and the library decide with the same code: those files
//! use only `std`, their own dependencies and `super::` siblings. `registry` and
//! `manifest` include what `build.rs` generated from them.

pub mod analysis;
pub mod boundary;
pub mod entry;
pub mod lint;
pub mod manifest;
pub mod psql;
pub mod registry;
pub mod roles;
pub mod scan;
pub mod settings;
pub mod source;
