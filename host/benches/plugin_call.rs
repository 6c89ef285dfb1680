//! `cargo bench -p robota --bench plugin_call`: the cost of one action call
//! with every limit on (fresh store, instantiate from the cached
//! `InstancePre`, epoch deadline, memory limiter, grants, capped stdio), a
//! Python call with its instance made ahead (paced, and back to back), the
//! background's refill for each call, and loading the Python example from the
//! precompiled cache.
//!
//! The Python benchmarks run when `target/example-plugins/deal_summary.wasm`
//! exists (`scripts/build-example-plugins` builds it).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{Criterion, criterion_group, criterion_main};
use robota::plugins::{CallRequest, Grants, HostSettings, Limits, PluginHost};
use robota::store::{SqliteStore, Store};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The allocator the `robota` binary uses, so the numbers are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn request(input: &str, grants: Grants, store: Store) -> CallRequest {
    CallRequest {
        run_id: "bench".into(),
        step_id: "step".into(),
        idempotency_key: "bench/step".into(),
        attempt: 1,
        input: input.into(),
        grants,
        config: Arc::new(BTreeMap::new()),
        limits: Limits::default(),
        store,
        read: Vec::new(),
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // A cache that outlives the run: the first run compiles, later ones measure loading.
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-component-cache");
    let host = PluginHost::new(HostSettings {
        cache_dir: Some(cache),
        ..HostSettings::default()
    })
    .expect("the host starts");
    let store: Store = rt
        .block_on(async { Arc::new(SqliteStore::open("sqlite::memory:").await.expect("a store")) });

    let hello = rt
        .block_on(host.load_file(robota_plugin_artifacts::HELLO_RUST.as_ref()))
        .expect("hello-rust loads");
    let mut group = c.benchmark_group("rust");
    group.bench_function("call", |b| {
        b.iter(|| {
            let req = request(r#"{"name":"bench"}"#, Grants::none(), store.clone());
            black_box(
                rt.block_on(host.call(&hello, req))
                    .expect("the call succeeds"),
            )
        })
    });
    group.finish();

    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/example-plugins/deal_summary.wasm");
    if !python.exists() {
        eprintln!(
            "skipping the Python benchmarks: {} is not built (scripts/build-example-plugins)",
            python.display()
        );
        return;
    }
    let plugin = rt
        .block_on(host.load_file(&python))
        .expect("the Python action loads");
    let mut group = c.benchmark_group("python");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("load_from_cache", |b| {
        b.iter(|| {
            host.unload(&plugin.digest);
            // Reading the file and hashing it are part of loading.
            let loaded = rt
                .block_on(host.load_file(&python))
                .expect("loads from the cache");
            assert!(loaded.from_cache);
            black_box(loaded)
        })
    });
    let plugin = rt
        .block_on(host.load_file(&python))
        .expect("the Python action loads");
    // A deal to summarise; the note the call buffers is never committed.
    let deal_id = rt.block_on(async {
        let changes = [robota::crm::changes::Change::Create {
            kind: robota::crm::EntityKind::Deal,
            id: "bench-deal".into(),
            fields: serde_json::json!({"title": "Bench"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }];
        store.commit(&changes).await.expect("the deal is created");
        "bench-deal"
    });
    let grants = Grants::parse(&["crm.read", "crm.write"]).expect("valid grants");
    let input = format!(r#"{{"deal_id":"{deal_id}"}}"#);
    let call = || {
        rt.block_on(host.call(&plugin, request(&input, grants.clone(), store.clone())))
            .expect("the call succeeds")
    };
    // The first call makes the action hot: an instance is made ahead after it.
    black_box(call());
    // A step's call: its instance was made ahead after the previous call
    // (the wait for it is not timed), its spent store is dropped behind it.
    group.bench_function("call", |b| {
        b.iter_custom(|n| {
            let mut timed = Duration::ZERO;
            for _ in 0..n {
                while !host.next_call_is_warm(&plugin) {
                    std::thread::sleep(Duration::from_micros(50));
                }
                let started = std::time::Instant::now();
                black_box(call());
                timed += started.elapsed();
            }
            timed
        })
    });
    // Calls back to back: each overlaps the making of the next one's
    // instance and the drop of the last one's store on the other core.
    group.bench_function("call_back_to_back", |b| b.iter(|| black_box(call())));
    // What the background does for each call: a store and an instance made
    // ahead, then dropped (the refill's cost, off the call's path).
    group.bench_function("refill", |b| {
        b.iter(|| {
            rt.block_on(host.instantiate_unused(&plugin))
                .expect("instantiates")
        })
    });
    group.finish();
}

criterion_group! {
    name = plugin_call;
    config = Criterion::default();
    targets = benches
}
criterion_main!(plugin_call);
