//! P001: `plpgsql_check` over every PL/pgSQL function and trigger.

use crate::error::{PgContext, Result};
use crate::server::admin::server_major_version;
use crate::server::rights::AdminRights;
use crate::validate::catalog::not_extension;
use crate::validate::{RuleId, Violation};
use postgres::Client;

pub(super) enum PlpgsqlOutcome {
    Checked {
        checks: usize,
        violations: Vec<Violation>,
    },
    Unavailable(String),
}

/// P001: `plpgsql_check` over every PL/pgSQL function, and over every trigger
/// function once per table it is attached to (it needs the relation to resolve
/// NEW and OLD, and the trigger's transition table names). Runs in a transaction
/// that is rolled back, so installing the extension leaves no trace in the database.
pub(super) fn check_plpgsql(client: &mut Client, rights: &AdminRights) -> Result<PlpgsqlOutcome> {
    let available: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check')",
            &[],
        )
        .context("validate: looking for plpgsql_check")?
        .get(0);
    if !available {
        let major = server_major_version(client)?;
        return Ok(PlpgsqlOutcome::Unavailable(format!(
            "plpgsql_check is not installed on the server, so PL/pgSQL bodies were NOT checked; install postgresql-{major}-plpgsql-check"
        )));
    }
    if !rights.superuser {
        // Untrusted (it can read any function's source and run checks in other
        // roles' names), so only a superuser may install it; one that a superuser
        // installed in this database is used as it is.
        let usable: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'plpgsql_check')
                     OR EXISTS (SELECT 1 FROM pg_available_extensions e
                                  JOIN pg_available_extension_versions v
                                    ON v.name = e.name AND v.version = e.default_version
                                 WHERE e.name = 'plpgsql_check' AND v.trusted)",
                &[],
            )
            .context("validate: checking whether plpgsql_check may be installed")?
            .get(0);
        if !usable {
            return Ok(PlpgsqlOutcome::Unavailable(format!(
                "plpgsql_check is not a trusted extension, so only a superuser may install it, and the administrative login {} is not one; PL/pgSQL bodies were NOT checked (validate as a superuser, or have one run CREATE EXTENSION plpgsql_check in this database)",
                rights.user
            )));
        }
    }
    let mut tx = client
        .transaction()
        .context("validate: opening the plpgsql_check transaction")?;
    tx.batch_execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
        .context("validate: installing plpgsql_check (rolled back afterwards)")?;
    let targets = tx
        .query(
            &format!(
                "SELECT p.oid, p.proname::text, coalesce(t.tgrelid, 0::oid),
                        coalesce(c.relname::text, ''), p.prorettype = 'trigger'::regtype,
                        t.tgoldtable::text, t.tgnewtable::text
                   FROM pg_proc p
                   JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
                   LEFT JOIN pg_trigger t ON t.tgfoid = p.oid AND NOT t.tgisinternal
                   LEFT JOIN pg_class c ON c.oid = t.tgrelid
                  WHERE p.pronamespace = 'public'::regnamespace
                    AND p.prorettype <> 'event_trigger'::regtype AND {}
                  ORDER BY 2, 4",
                not_extension("pg_proc", "p.oid")
            ),
            &[],
        )
        .context("validate: listing PL/pgSQL functions")?;
    let mut checks = 0;
    let mut violations = Vec::new();
    for row in targets {
        let (oid, name, relid, table, is_trigger): (u32, String, u32, String, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        // A statement trigger's function may read its transition tables by name.
        let (old_table, new_table): (Option<String>, Option<String>) = (row.get(5), row.get(6));
        if is_trigger && relid == 0 {
            // A trigger function no trigger uses cannot be checked without a table.
            continue;
        }
        checks += 1;
        let on = if table.is_empty() {
            String::new()
        } else {
            format!(" (trigger on {table})")
        };
        let mut sp = tx.transaction().context("validate: savepoint")?;
        let result = sp.query(
            "SELECT coalesce(lineno, 0), coalesce(sqlstate, ''), message, detail
               FROM plpgsql_check_function_tb($1::oid::regprocedure, $2::oid::regclass,
                                              fatal_errors := false,
                                              oldtable := $3::text::name, newtable := $4::text::name)
              WHERE level = 'error'",
            &[&oid, &relid, &old_table, &new_table],
        );
        match result {
            Ok(rows) => {
                for r in rows {
                    let (line, state, message, detail): (i32, String, String, Option<String>) =
                        (r.get(0), r.get(1), r.get(2), r.get(3));
                    let mut text = format!("line {line}{on}: {message}");
                    if !state.is_empty() {
                        text.push_str(&format!(" (SQLSTATE {state})"));
                    }
                    if let Some(d) = detail {
                        text.push_str(&format!("; {d}"));
                    }
                    violations.push(Violation {
                        rule: RuleId::P001,
                        object: name.clone(),
                        message: text,
                    });
                }
            }
            Err(e) => violations.push(Violation {
                rule: RuleId::P001,
                object: name.clone(),
                message: format!(
                    "plpgsql_check could not check it{on}: {}",
                    crate::error::describe_pg(&e)
                ),
            }),
        }
        // Rolled back either way: plpgsql_check must not change anything.
        drop(sp);
    }
    tx.rollback()
        .context("validate: rolling back the plpgsql_check transaction")?;
    Ok(PlpgsqlOutcome::Checked { checks, violations })
}
