//! Operations on one server: connections, sessions, roles, grants, locks and what a
//! non-superuser administrator may do. Nothing here knows what a build is.

pub mod admin;
pub mod grants;
pub mod lock;
pub mod psql;
pub mod rights;
pub mod roles;
