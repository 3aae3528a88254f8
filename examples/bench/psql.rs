//! The psql paths: scripts written out, a fresh database for them, psql itself.

use crate::Res;
use ores_sql::Config;
use ores_sql::Manifest;
use ores_sql::config::ident::quote_ident;
use ores_sql::server::admin::drop_database;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) struct Files {
    pub(crate) each: Vec<PathBuf>,
    pub(crate) all: PathBuf,
}

/// The manifest as files, preceded by the extension script a shell-script set-up
/// would carry, plus the concatenation of all of them.
pub(crate) fn write_scripts(dir: &Path, manifest: &Manifest, extensions: &[String]) -> Res<Files> {
    let mut each = Vec::new();
    let mut all = String::new();
    let ext: String = extensions
        .iter()
        .map(|e| {
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public;\n",
                quote_ident(e)
            )
        })
        .collect();
    let mut texts = vec![("000_extensions.sql".to_string(), ext)];
    for (i, s) in manifest.scripts().iter().enumerate() {
        texts.push((format!("{:03}_{}.sql", i + 1, s.entity), s.sql.to_string()));
    }
    for (name, text) in texts {
        let path = dir.join(name);
        std::fs::write(&path, &text)?;
        all.push_str(&text);
        all.push('\n');
        each.push(path);
    }
    let all_path = dir.join("all.sql");
    std::fs::write(&all_path, all)?;
    Ok(Files {
        each,
        all: all_path,
    })
}

pub(crate) fn fresh_database(admin: &mut postgres::Client, name: &str, owner: &str) -> Res<()> {
    drop_database(admin, name, true)?;
    admin.batch_execute(&format!(
        "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'",
        quote_ident(name),
        quote_ident(owner)
    ))?;
    Ok(())
}

/// How one psql run is started besides its file: the directory it runs in (psql
/// resolves `\copy` files against it) and its `-v` variables.
#[derive(Default)]
pub(crate) struct PsqlRun<'a> {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) vars: &'a [(String, String)],
    pub(crate) single_tx: bool,
}

/// Runs one file through psql as the administrator acting as `role` (the extensions
/// are trusted, so the owner may install them).
pub(crate) fn psql(
    config: &Config,
    database: &str,
    role: &str,
    file: &Path,
    single_tx: bool,
) -> Res<()> {
    psql_run(
        config,
        database,
        role,
        file,
        &PsqlRun {
            single_tx,
            ..PsqlRun::default()
        },
    )
}

pub(crate) fn psql_run(
    config: &Config,
    database: &str,
    role: &str,
    file: &Path,
    run: &PsqlRun,
) -> Res<()> {
    let mut cmd = Command::new("psql");
    if let Some(dir) = &run.dir {
        cmd.current_dir(dir);
    }
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    if run.single_tx {
        cmd.arg("-1");
    }
    for (k, v) in run.vars {
        cmd.arg("-v").arg(format!("{k}={v}"));
    }
    cmd.arg("-f")
        .arg(file)
        .env("PGHOST", &config.host)
        .env("PGPORT", config.port.to_string())
        .env("PGUSER", &config.admin_user)
        .env("PGDATABASE", database)
        .env("PGOPTIONS", format!("-c role={role}"))
        .stdout(Stdio::null());
    if let Some(p) = &config.admin_password {
        cmd.env("PGPASSWORD", p.expose());
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "psql {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}
