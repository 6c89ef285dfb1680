//! The `robota` command line: argument parsing and dispatch.
//!
//! Each subcommand lives in its own module; this one only says what the
//! commands and flags are.

mod plugin;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// robota: CRM automation whose actions are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "robota", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with action plugins (Wasm components).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Create the database if missing and apply pending migrations.
    Migrate {
        /// The database, e.g. sqlite://robota.db.
        #[arg(long, env = "ROBOTA_DB", default_value = "sqlite://robota.db")]
        db: String,
    },
}

/// `robota plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Run one action and print its JSON output (the integrator's local runner).
    Call(CallArgs),
    /// Print an action's manifest as JSON.
    Inspect {
        /// The component, a .wasm file.
        plugin: PathBuf,
        /// Where compiled components are cached.
        #[arg(long, env = "ROBOTA_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// `robota plugin call` flags.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The component, a .wasm file.
    pub plugin: PathBuf,
    /// The input, a JSON document.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// A capability to grant: crm.read, crm.write, mail.send, notify.send,
    /// http.fetch=HOST[,HOST:PORT…]. Repeat for several.
    #[arg(long = "grant", value_name = "CAP")]
    pub grants: Vec<String>,
    /// A setting the action reads with config.get. Repeat for several.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// The database the action reads and writes; a scratch in-memory SQLite by default.
    #[arg(long, env = "ROBOTA_DB", default_value = "sqlite::memory:")]
    pub db: String,
    /// Wall-clock deadline, e.g. 5s or 250ms.
    #[arg(long, default_value = "5s")]
    pub deadline: String,
    /// Linear-memory cap, e.g. 64MiB.
    #[arg(long, default_value = "64MiB")]
    pub memory: String,
    /// Input and output size cap, e.g. 1MiB.
    #[arg(long, default_value = "1MiB")]
    pub max_io: String,
    /// Where compiled components are cached.
    #[arg(long, env = "ROBOTA_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Also print the action's log and the CRM changes it committed (to stderr).
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Plugin(PluginCommand::Call(args)) => plugin::call(args).await,
        Command::Plugin(PluginCommand::Inspect { plugin, cache_dir }) => {
            plugin::inspect(&plugin, cache_dir).await
        }
        Command::Migrate { db } => {
            crate::store::open(&db).await?;
            println!("migrated {db}");
            Ok(())
        }
    }
}
