//! Drops and rebuilds the configured environment's database (zero configuration: the
//! local server, environment `local`, database `ores_dev_local`).
//!
//! ```text
//! cargo run --example recreate
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = match ores_sql::Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A developer's own psql sessions should not block the example.
    let options = ores_sql::RunOptions::new().kill(true);
    println!(
        "recreating environment {} (database {} on {})",
        config.env,
        config.database,
        config.server_label()
    );
    match ores_sql::recreate_with(&config, ores_sql::Manifest::compiled(), &options) {
        Ok(r) => {
            println!("scripts applied: {}", r.scripts_applied);
            println!("schema hash:     {}", r.schema_hash);
            println!(
                "replaced old:    {}",
                if r.replaced {
                    "yes"
                } else {
                    "no (new database)"
                }
            );
            println!("elapsed:         {:.0?}", r.elapsed);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
