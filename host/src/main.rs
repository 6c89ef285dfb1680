//! The `robota` binary.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: the engine allocates and frees
/// small JSON values and rows across threads all the time, and glibc's
/// arenas spent about a tenth of the engine benchmark's CPU on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROBOTA_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = robota::cli::Cli::parse();
    match robota::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the cause, whatever the action printed.
            let text = format!("{e:#}");
            eprintln!(
                "error: {}",
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}
