//! The host's memory stays bounded when an action writes without end: a
//! test binary of its own, so the process's peak memory is this test's.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "e2e/common/mod.rs"]
mod common;

use common::{crm_grants, host, request, store};
use robota::plugins::CallError;
use robota_plugin_artifacts::CHAOS;
use serde_json::json;

/// A line of /proc/self/status in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(key: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"));
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn two_million_creates_stop_at_the_cap_with_the_hosts_memory_bounded() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    // A warm-up call, so the baseline holds the instance pool and the store.
    host.call(
        &chaos,
        request(
            json!({"do": "create-many", "count": 10, "bytes": 1024}),
            crm_grants(),
            store.clone(),
        ),
    )
    .await
    .unwrap();
    let before = status_bytes("VmRSS:");
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "create-many", "count": 2_000_000, "bytes": 1024, "ignore_errors": true}),
                crm_grants(),
                store.clone(),
            ),
        )
        .await;
    let peak = status_bytes("VmHWM:");
    match r {
        Err(CallError::Limit(m)) => assert!(m.contains("change limit exceeded"), "{m}"),
        other => panic!("expected the change cap, got {other:?}"),
    }
    let grew = peak.saturating_sub(before);
    eprintln!("host memory: {before} before, {peak} at peak, +{grew}");
    // The default caps (10,000 changes, 64 MiB counted) keep the host's
    // growth far below the ~20 GiB two million unbounded creates took.
    assert!(grew < 256 << 20, "the host grew by {grew} bytes");
}
