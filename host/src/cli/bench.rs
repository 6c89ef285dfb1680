//! `robota bench`: the engine's throughput and latency, with a 3-step
//! process whose every step is a Wasm action that reads and writes the
//! CRM, started by entity events — on a scratch embedded SQLite (the
//! default) or on the empty database `--db` names; on PostgreSQL with
//! `--nodes N` engines sharing it, each with its own connection pool, loops
//! and plugin host, in this process (as N `robota serve` on this machine,
//! but sharing one runtime's threads).
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
use crate::store::prelude::*;
use crate::store::sqlite::Durability;
use crate::store::{CrmStore as _, Database};
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
    /// The database (None: a scratch SQLite file); it must hold no runs
    /// or tasks yet, since the effects are checked by counting them.
    pub db: Option<String>,
    /// Engines sharing the database (more than one: PostgreSQL only).
    pub nodes: usize,
}

/// One engine of the bench, with its own handle on the database.
struct Node {
    store: Arc<Database>,
    engine: Arc<Engine>,
}

/// Runs both phases and prints the numbers.
pub async fn bench(opts: BenchOptions) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("a scratch folder")?;
    let url = match &opts.db {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let shared = crate::store::is_postgres(&url);
    anyhow::ensure!(opts.nodes >= 1, "--nodes must be at least 1");
    anyhow::ensure!(
        opts.nodes == 1 || shared,
        "--nodes {}: several nodes share a PostgreSQL database; give --db postgres://…",
        opts.nodes
    );
    let mut nodes = Vec::new();
    for _ in 0..opts.nodes {
        nodes.push(node(&url, &opts).await?);
    }
    let store = nodes[0].store.clone();
    let (runs, tasks) = (
        store.count_runs("completed").await? + store.count_runs("running").await?,
        store.count_tasks().await?,
    );
    anyhow::ensure!(
        runs == 0 && tasks == 0,
        "the bench needs an empty database (it checks the effects by counting them): `{}` has {runs} runs and {tasks} tasks; create a new one (createdb) and give its URL",
        crate::store::postgres::redacted(&url)
    );
    nodes[0]
        .engine
        .install("bench.toml", PROCESS)
        .await
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    let database = if shared {
        format!(
            "PostgreSQL, {} node(s) (engines with their own pools, loops and plugin hosts, in this process)",
            opts.nodes
        )
    } else {
        format!(
            "SQLite WAL synchronous={}",
            match opts.durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            }
        )
    };
    println!(
        "robota bench: 3-step process (create-task ×3: each reads the deal, creates a task, notes the deal), \
         {database}, {} workers per node, {} CPUs",
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
    let mut loops = tokio::task::JoinSet::new();
    for node in &nodes {
        let mut set = workers::spawn(node.engine.clone(), settings, stop_rx.clone());
        loops.spawn(async move { while set.join_next().await.is_some() {} });
        node.engine.poke();
    }
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
        // Each deal written on the next node, as requests would land; the
        // others hear of it from the database.
        let node = &nodes[n % nodes.len()];
        node.store.commit(&[deal(&format!("paced {n}"))]).await?;
        node.engine.poke();
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
    for node in &nodes {
        node.engine.poke();
    }
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

/// One engine on `url` with the standard actions installed.
async fn node(url: &str, opts: &BenchOptions) -> anyhow::Result<Node> {
    let store = Arc::new(Database::open(url, opts.durability).await?);
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
    Ok(Node { store, engine })
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

async fn wait_for_completed(store: &Database, n: i64, limit: Duration) -> anyhow::Result<()> {
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
