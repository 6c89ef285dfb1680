//! `robota plugin call` and `robota plugin inspect`.

use super::CallArgs;
use crate::plugins::limits::{parse_duration, parse_size};
use crate::plugins::{CallRequest, Grants, HostSettings, Limits, PluginHost};
use crate::store::CrmStore as _;
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The host the CLI runs one action in: few slots, the cache where asked.
pub(super) fn host(cache_dir: Option<PathBuf>, memory_bytes: usize) -> anyhow::Result<PluginHost> {
    let defaults = HostSettings::default();
    PluginHost::new(HostSettings {
        cache_dir: cache_dir.or(defaults.cache_dir),
        max_concurrent_calls: 2,
        max_memory_bytes: defaults.max_memory_bytes.max(memory_bytes),
        ..defaults
    })
}

/// Parses `KEY=VALUE` settings.
pub(crate) fn parse_config(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut config = BTreeMap::new();
    for item in items {
        let (key, value) = item
            .split_once('=')
            .with_context(|| format!("--config `{item}` is not KEY=VALUE"))?;
        anyhow::ensure!(!key.trim().is_empty(), "--config `{item}` has an empty key");
        config.insert(key.trim().to_owned(), value.to_owned());
    }
    Ok(config)
}

/// Reads the limits from the flags.
fn limits(args: &CallArgs) -> anyhow::Result<Limits> {
    let io = parse_size(&args.max_io).map_err(|e| anyhow::anyhow!("--max-io: {e}"))?;
    Ok(Limits {
        deadline: parse_duration(&args.deadline).map_err(|e| anyhow::anyhow!("--deadline: {e}"))?,
        memory_bytes: parse_size(&args.memory).map_err(|e| anyhow::anyhow!("--memory: {e}"))?,
        input_bytes: io,
        output_bytes: io,
        ..Limits::default()
    })
}

/// Runs one action against the database and prints its output.
pub async fn call(args: CallArgs) -> anyhow::Result<()> {
    // Every flag is checked before anything runs, so a typo changes nothing.
    let grants = Grants::parse(&args.grants).context("--grant")?;
    let config = parse_config(&args.config)?;
    let limits = limits(&args)?;
    serde_json::from_str::<serde_json::Value>(&args.input).context("--input is not JSON")?;

    let host = host(args.cache_dir.clone(), limits.memory_bytes)?;
    let plugin = host.load_file(&args.plugin).await?;
    let store = crate::store::open(&args.db).await?;
    let run_id = crate::crm::new_id();
    let request = CallRequest {
        step_id: "cli".into(),
        idempotency_key: format!("{run_id}/cli"),
        run_id,
        attempt: 1,
        input: args.input.clone(),
        grants,
        config: Arc::new(config),
        limits,
        store: store.clone(),
        read: Vec::new(),
    };
    let outcome = host
        .call(&plugin, request)
        .await
        .with_context(|| format!("{} failed", plugin.manifest.id))?;
    let report = store.commit(&outcome.changes).await.with_context(|| {
        format!(
            "{} succeeded, but its CRM changes were rejected",
            plugin.manifest.id
        )
    })?;
    if args.verbose {
        for line in &outcome.logs {
            eprintln!("[{}] {}", line.level, line.message);
        }
        for out in [&outcome.stdout, &outcome.stderr] {
            if !out.is_empty() {
                eprint!("{out}");
            }
        }
        for r in &report.created {
            eprintln!("created {} {}", r.kind.as_str(), r.id);
        }
        for r in &report.updated {
            eprintln!("updated {} {}", r.kind.as_str(), r.id);
        }
        eprintln!(
            "{} mail(s) queued, {} notification(s) sent, {:?}",
            report.mails, report.notifications, outcome.elapsed
        );
    }
    println!("{}", serde_json::to_string_pretty(&outcome.output)?);
    Ok(())
}

/// Prints the manifest of the component at `path`.
pub async fn inspect(path: &Path, cache_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let host = host(cache_dir, 0)?;
    let plugin = host.load_file(path).await?;
    let mut doc = serde_json::to_value(&plugin.manifest)?;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "digest".into(),
            serde_json::Value::String(plugin.digest.clone()),
        );
    }
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}
