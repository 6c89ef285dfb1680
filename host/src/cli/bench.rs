//! `robota bench`: the engine's throughput and latency on the embedded
//! SQLite, with a 3-step process whose every step is a Wasm action that
//! reads and writes the CRM, started by entity events.
//!
//! Phase 1 (throughput): N deals are created in batches, then the engine
//! works the backlog; completed runs per second.
//! Phase 2 (latency): deals are created one by one at half that rate; the
//! median and 95th percentile from the deal's event to its run's end.

use crate::crm::changes::Change;
use crate::crm::{EntityKind, new_id};
use crate::engine::catalog::{Catalog, InstalledAction};
use crate::engine::workers::{self, WorkerSettings};
use crate::engine::{Engine, SystemClock};
use crate::plugins::{Grants, HostSettings, PluginHost};
use crate::store::sqlite::Durability;
use crate::store::{CrmStore as _, SqliteStore};
use anyhow::Context as _;
use serde_json::{Map, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const PROCESS: &str = r#"
id = "bench"
[trigger]
event = "deal.created"
[[step]]
id = "a"
uses = "create-task@1"
input = { title = "first {{ deal.title }}", entity = { kind = "deal", id = "{{ deal.id }}" } }
[[step]]
id = "b"
uses = "create-task@1"
input = { title = "second {{ steps.a.output.id }}", entity = { kind = "deal", id = "{{ deal.id }}" } }
[[step]]
id = "c"
uses = "create-task@1"
input = { title = "third {{ steps.b.output.id }}", entity = { kind = "deal", id = "{{ deal.id }}" } }
"#;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Runs in the throughput phase.
    pub runs: usize,
    /// Runs in the latency phase.
    pub latency_runs: usize,
    /// The latency phase's rate (runs/s); None: half the throughput.
    pub rate: Option<f64>,
    /// SQLite durability.
    pub durability: Durability,
    /// Steps at once.
    pub workers: usize,
    /// The compiled-component cache.
    pub cache_dir: Option<PathBuf>,
}

/// Runs both phases and prints the numbers.
pub async fn bench(opts: BenchOptions) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("a scratch folder")?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Arc::new(SqliteStore::open_with(&url, opts.durability).await?);
    let defaults = HostSettings::default();
    let host = Arc::new(PluginHost::new(HostSettings {
        cache_dir: opts.cache_dir.clone().or(defaults.cache_dir.clone()),
        ..defaults
    })?);
    let mut catalog = Catalog::new();
    for (name, bytes) in robota_plugin_artifacts::STANDARD {
        let plugin = host
            .load(*bytes)
            .await
            .with_context(|| format!("loading {name}"))?;
        catalog.insert(InstalledAction {
            plugin,
            grants: Grants::parse(&["crm.read", "crm.write"])?,
            config: Arc::new(Default::default()),
            limits: Default::default(),
        })?;
    }
    let engine = Arc::new(Engine::new(store.clone(), host, catalog, Arc::new(SystemClock)).await?);
    engine
        .install("bench.toml", PROCESS)
        .await
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    println!(
        "robota bench: 3-step process (create-task ×3: each reads the deal, creates a task, notes the deal), \
         SQLite WAL synchronous={}, {} workers, {} CPUs",
        match opts.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
        opts.workers,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Phase 1: a backlog of runs.
    for chunk in (0..opts.runs).collect::<Vec<_>>().chunks(200) {
        let changes: Vec<Change> = chunk.iter().map(|n| deal(&format!("bulk {n}"))).collect();
        store.commit(&changes).await?;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let settings = WorkerSettings {
        workers: opts.workers,
        poll: Duration::from_millis(20),
    };
    let started = Instant::now();
    let mut loops = workers::spawn(engine.clone(), settings, stop_rx);
    engine.poke();
    wait_for_completed(&store, opts.runs as i64, Duration::from_secs(600)).await?;
    let elapsed = started.elapsed();
    let throughput = opts.runs as f64 / elapsed.as_secs_f64();
    println!(
        "throughput: {} runs in {:.2} s = {:.0} completed runs/s ({:.0} steps/s)",
        opts.runs,
        elapsed.as_secs_f64(),
        throughput,
        throughput * 3.0
    );

    // Phase 2: one deal at a time at half that rate.
    let rate = opts.rate.unwrap_or((throughput / 2.0).max(1.0));
    let gap = Duration::from_secs_f64(1.0 / rate);
    let first_new = store.count_runs("completed").await?;
    let mut next = Instant::now();
    for n in 0..opts.latency_runs {
        store.commit(&[deal(&format!("paced {n}"))]).await?;
        engine.poke();
        next += gap;
        tokio::time::sleep_until(next.into()).await;
    }
    wait_for_completed(
        &store,
        first_new + opts.latency_runs as i64,
        Duration::from_secs(600),
    )
    .await?;
    let mut latencies = store.run_latencies_ms("paced ").await?;
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "latency at {:.0} runs/s ({}): trigger-to-completion median {:.1} ms, p95 {:.1} ms, over {} runs",
        rate,
        if opts.rate.is_some() {
            "as asked"
        } else {
            "half the throughput"
        },
        pick(0.5),
        pick(0.95),
        latencies.len()
    );
    let phases = store.run_phases("paced ").await?;
    let median = |f: fn(&crate::store::runs::RunPhases) -> f64| {
        let mut v: Vec<f64> = phases.iter().map(f).filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "  where it goes (medians per run, ms): dispatch {:.1}, steps queued {:.1}, \
         claim to start {:.1}, running {:.1}, end to next step committed {:.1}, \
         last end committed {:.1}",
        median(|p| p.dispatch),
        median(|p| p.queued),
        median(|p| p.starting),
        median(|p| p.running),
        median(|p| p.committing),
        median(|p| p.committing_end),
    );
    let _ = stop_tx.send(true);
    engine.poke();
    while loops.join_next().await.is_some() {}
    // Every completed run did its three steps' work exactly once.
    let (runs, tasks) = (
        store.count_runs("completed").await?,
        store.count_tasks().await?,
    );
    anyhow::ensure!(
        tasks == 3 * runs,
        "effects do not match: {tasks} tasks for {runs} completed runs (3 each expected)"
    );
    println!("effects checked: {tasks} tasks for {runs} completed runs");
    Ok(())
}

fn deal(title: &str) -> Change {
    let mut fields = Map::new();
    fields.insert("title".into(), json!(title));
    fields.insert("amount".into(), json!("1000.00"));
    Change::Create {
        kind: EntityKind::Deal,
        id: new_id(),
        fields,
    }
}

async fn wait_for_completed(store: &SqliteStore, n: i64, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let done = store.count_runs("completed").await?;
        if done >= n {
            return Ok(());
        }
        let failed = store.count_runs("failed").await?;
        anyhow::ensure!(failed == 0, "{failed} bench run(s) failed");
        anyhow::ensure!(
            start.elapsed() < limit,
            "only {done} of {n} runs completed in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
