//! The integration tests, linked once: one test binary instead of one per file
//! (linking is most of a test build on a two-core machine). Each module is one
//! concern; tests are named `<module>::<test>`, as the README's guarantees table
//! names them.

mod cli_support;
mod common;

mod analysis;
mod attribute;
mod bulk_seed;
mod cache;
mod cli_diff;
mod cli_entity;
mod cli_env;
mod cli_json;
mod cli_lifecycle;
mod cli_reset;
mod config;
mod copy_rows;
mod diff;
mod entry_scale;
mod entry_tree;
mod function_length;
mod fuzz_config;
mod incremental;
mod isolation_probe;
mod layering;
mod lifecycle;
mod managed;
mod manifest;
mod parallel;
mod pgtap;
mod pgtap_share;
mod psql_subset;
mod readme_tables;
mod retire;
mod runtime;
mod safety;
mod schema_docs;
mod schema_hostile;
mod schema_isolation;
mod schema_registry;
mod schema_seed;
mod schema_versioning;
mod staging_access;
mod target;
mod team_tree;
mod testing;
mod tree_boundary;
mod tree_secrets;
mod tree_session;
mod validate;
mod validate_foreign;
