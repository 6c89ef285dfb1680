//! `robota run list|show|retry|cancel`, straight on the database.

use super::RunCommand;
use crate::store::prelude::*;
use crate::store::runs::RunFilter;

/// Runs the subcommand.
pub async fn run(cmd: RunCommand) -> anyhow::Result<()> {
    match cmd {
        RunCommand::List {
            process,
            status,
            limit,
            db,
        } => {
            let store = crate::store::open_existing(&db).await?;
            let runs = store
                .list_runs(&RunFilter {
                    process_id: process,
                    status,
                    limit,
                    ..RunFilter::default()
                })
                .await?;
            for r in runs {
                println!(
                    "{}\t{}\tv{}\t{}\t{}\t{}",
                    r.id,
                    r.process_id,
                    r.process_version,
                    r.status,
                    r.created_at,
                    r.error.unwrap_or_default()
                );
            }
            Ok(())
        }
        RunCommand::Show { id, db } => {
            let store = crate::store::open_existing(&db).await?;
            let run = store
                .get_run(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no run `{id}`"))?;
            let mut out = serde_json::to_value(run)?;
            out["steps"] = serde_json::to_value(store.run_steps(&id).await?)?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        RunCommand::Retry { id, db } => {
            let store = crate::store::open_existing(&db).await?;
            anyhow::ensure!(
                store.retry_run(&id, crate::clock::now()).await?,
                "run `{id}` does not exist or has not failed"
            );
            println!("run {id} will run its failed step again");
            Ok(())
        }
        RunCommand::Cancel { id, db } => {
            let store = crate::store::open_existing(&db).await?;
            anyhow::ensure!(
                store.cancel_run(&id, crate::clock::now()).await?,
                "run `{id}` does not exist or is not running"
            );
            println!("run {id} cancelled");
            Ok(())
        }
    }
}
