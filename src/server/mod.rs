//! Operations on the server: connections, sessions, roles, grants, catalog
//! inspection, applying scripts and running psql.

pub mod admin;
pub(crate) mod apply;
pub(crate) mod entry_parallel;
pub mod grants;
pub mod inspect;
pub mod lock;
pub mod parallel;
pub mod psql;
pub mod rights;
pub mod roles;
pub(crate) mod session_state;
pub(crate) mod statements;
pub(crate) mod steps;
