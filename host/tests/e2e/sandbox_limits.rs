//! The caps on what one call may make the host hold, against the real
//! `chaos` component: buffered changes (count and bytes), the query cap with
//! the step's own rows, the data one host call may carry, text sizes, stack
//! overflows, the deadline over the whole call, and headers a guest may not set.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{crm_grants, host, request, store};
use robota::crm::EntityKind;
use robota::plugins::{CallError, Grants};
use robota::store::CrmStore as _;
use robota_plugin_artifacts::CHAOS;
use serde_json::json;
use std::time::{Duration, Instant};

/// Asserts the call failed with the action error `kind: message`.
fn assert_refused<T: std::fmt::Debug>(r: Result<T, CallError>, kind: &str, message: &str) {
    match r {
        Err(CallError::Action {
            kind: k,
            message: m,
        }) => {
            assert_eq!((k, m.as_str()), (kind, message));
        }
        other => panic!("expected {kind}: {message}, got {other:?}"),
    }
}

async fn lead_count(store: &robota::store::SqliteStore) -> usize {
    store
        .query(EntityKind::Lead, &[], 1000)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_call_buffering_more_changes_than_its_cap_fails_naming_the_cap_and_commits_nothing() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    for ignore_errors in [false, true] {
        let mut req = request(
            json!({"do": "create-many", "count": 1_500, "bytes": 10, "ignore_errors": ignore_errors}),
            crm_grants(),
            store.clone(),
        );
        req.limits.changes = 1_000;
        match host.call(&chaos, req).await {
            Err(CallError::Limit(m)) => assert!(
                m.contains("change limit exceeded")
                    && m.contains("at most 1000 CRM changes")
                    && m.contains("raise `max_changes` in plugins.toml"),
                "{m}"
            ),
            other => {
                panic!("expected the change cap (ignore_errors = {ignore_errors}), got {other:?}")
            }
        }
    }
    assert_eq!(
        lead_count(&store).await,
        0,
        "a failed call buffers nothing for commit"
    );

    // Under the cap the same call succeeds.
    let mut req = request(
        json!({"do": "create-many", "count": 1_000, "bytes": 10}),
        crm_grants(),
        store.clone(),
    );
    req.limits.changes = 1_000;
    let ok = host.call(&chaos, req).await.unwrap();
    assert_eq!(ok.output["created"], 1_000);
    assert_eq!(ok.changes.len(), 1_000);
}

#[tokio::test]
async fn buffered_bytes_have_a_cap_too() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let mut req = request(
        json!({"do": "create-many", "count": 1_000, "bytes": 10_000}),
        crm_grants(),
        store.clone(),
    );
    req.limits.change_bytes = 4 << 20;
    match host.call(&chaos, req).await {
        Err(CallError::Limit(m)) => {
            assert!(m.contains("at most 4194304 bytes of host memory"), "{m}")
        }
        other => panic!("expected the byte cap, got {other:?}"),
    }
    assert_eq!(lead_count(&store).await, 0);
}

#[tokio::test]
async fn a_query_answers_at_most_its_cap_with_the_steps_own_rows_included() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let out = host
        .call(
            &chaos,
            request(
                json!({"do": "create-many", "count": 1_500, "bytes": 1, "query_limit": 5_000}),
                crm_grants(),
                store().await,
            ),
        )
        .await
        .unwrap();
    assert_eq!(out.output["created"], 1_500);
    assert_eq!(
        out.output["queried"], 1_000,
        "the documented cap is 1000 rows"
    );
}

#[tokio::test]
async fn the_deadline_covers_a_call_that_keeps_writing() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let mut req = request(
        json!({"do": "create-many", "count": 2_000_000, "bytes": 100}),
        crm_grants(),
        store.clone(),
    );
    // Caps out of the way: only the deadline can stop it.
    req.limits.changes = usize::MAX;
    req.limits.change_bytes = usize::MAX;
    req.limits.deadline = Duration::from_millis(500);
    let started = Instant::now();
    let r = host.call(&chaos, req).await;
    assert!(matches!(r, Err(CallError::Deadline(_))), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        started.elapsed()
    );
    assert_eq!(lead_count(&store).await, 0);
}

#[tokio::test]
async fn a_host_call_carrying_more_than_its_cap_names_the_cap() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let lead = host
        .call(
            &chaos,
            request(
                json!({"do": "create", "kind": "lead", "fields": {"title": "Noted"}}),
                crm_grants(),
                store.clone(),
            ),
        )
        .await
        .unwrap();
    let id = lead.output["id"].as_str().unwrap().to_owned();
    store.commit(&lead.changes).await.unwrap();

    let mut req = request(
        json!({"do": "note", "kind": "lead", "id": id, "bytes": 2 << 20}),
        crm_grants(),
        store.clone(),
    );
    req.limits.host_call_bytes = 1 << 20;
    match host.call(&chaos, req).await {
        Err(CallError::Limit(m)) => assert_eq!(
            m,
            "host call too large: the action passed more than 1048576 bytes to one host call; that is the cap (send less at a time, or raise `max_host_call` in plugins.toml)"
        ),
        other => panic!("expected the host-call cap, got {other:?}"),
    }

    // Under the host-call cap, a note still has a size of its own.
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "note", "kind": "lead", "id": id, "bytes": 100_000}),
                crm_grants(),
                store.clone(),
            ),
        )
        .await;
    assert_refused(
        r,
        "invalid-input",
        "a note is 100000 bytes; at most 65536 are allowed",
    );
}

#[tokio::test]
async fn an_entity_field_has_a_size_cap() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "create", "kind": "lead", "fields": {"title": "Big", "topic": "t".repeat(70_000)}}),
                crm_grants(),
                store.clone(),
            ),
        )
        .await;
    assert_refused(
        r,
        "invalid-input",
        "lead.topic: the text is 70000 bytes; at most 65536 are allowed",
    );
    assert_eq!(lead_count(&store).await, 0);
}

#[tokio::test]
async fn a_stack_overflow_is_called_one() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let r = host
        .call(
            &chaos,
            request(json!({"do": "recurse"}), Grants::none(), store().await),
        )
        .await;
    match r {
        Err(e @ CallError::StackOverflow(_)) => {
            let text = e.to_string();
            assert_eq!(
                text,
                "stack overflow: the action's stack ran out: `chaos::recurse` was calling itself when it went past its stack's end"
            );
            assert!(!text.contains("out of bounds"), "{text}");
        }
        other => panic!("expected a stack overflow, got {other:?}"),
    }
}

#[tokio::test]
async fn a_guest_may_not_set_host_or_hop_by_hop_headers() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let grants = Grants::parse(&["http.fetch=127.0.0.1"]).unwrap();
    for header in [
        "Host",
        "connection",
        "Transfer-Encoding",
        "Upgrade",
        "Content-Length",
    ] {
        let r = host
            .call(
                &chaos,
                request(
                    json!({"do": "fetch-with", "url": "http://127.0.0.1:9/", "headers": [[header, "x"]]}),
                    grants.clone(),
                    store().await,
                ),
            )
            .await;
        assert_refused(
            r,
            "invalid-input",
            &format!("http: header `{header}` is set by the host; an action may not send it"),
        );
    }
}
