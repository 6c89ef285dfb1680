//! `robota process validate` and `robota process list`.

use crate::engine::catalog::Catalog;
use crate::engine::validate::validate as check;
use crate::plugins::{HostSettings, PluginHost};
use crate::store::prelude::*;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Checks every file and prints every problem as `file:line:col: reason`;
/// fails if any file has one.
pub async fn validate(
    files: &[PathBuf],
    plugins: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let defaults = HostSettings::default();
    let host = PluginHost::new(HostSettings {
        cache_dir: cache_dir.or(defaults.cache_dir.clone()),
        max_concurrent_calls: 2,
        ..defaults
    })?;
    let catalog = match plugins {
        Some(dir) => Catalog::load_dir(&host, &dir).await?,
        None => Catalog::standard(&host).await?,
    };
    let mut bad = 0;
    for file in files {
        let name = file.display().to_string();
        let source = read(file)?;
        match check(&name, &source, &catalog) {
            Ok(p) => println!("{name}: ok ({}, {} step(s))", p.id, p.steps.len()),
            Err(d) => {
                bad += 1;
                for item in d.items() {
                    eprintln!("{item}");
                }
            }
        }
    }
    anyhow::ensure!(bad == 0, "{bad} of {} file(s) have errors", files.len());
    Ok(())
}

fn read(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// Prints the installed processes.
pub async fn list(db: &str) -> anyhow::Result<()> {
    let store = crate::store::open_existing(db).await?;
    for p in store.current_processes().await? {
        println!(
            "{}\tv{}\t{}\t{}",
            p.process_id,
            p.version,
            if p.enabled { "enabled" } else { "disabled" },
            p.file_name
        );
    }
    Ok(())
}
