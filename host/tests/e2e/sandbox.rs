//! The sandbox against a real misbehaving component (`tests/plugins/chaos`):
//! deadlines, memory, traps, output caps, grants and stdout capture.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{host, request, store};
use robota::plugins::{CallError, Grants, Limits};
use robota_plugin_artifacts::CHAOS;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "current_thread")]
async fn a_looping_action_is_stopped_at_its_deadline_while_the_host_answers_another_call() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let mut looping = request(json!({"do": "loop"}), Grants::none(), store.clone());
    looping.limits.deadline = Duration::from_millis(800);
    let started = Instant::now();
    // One thread only: the echo can answer only if the loop yields the thread.
    let (looped, echoed) = tokio::join!(host.call(&chaos, looping), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = host
            .call(
                &chaos,
                request(
                    json!({"do": "echo", "value": 7}),
                    Grants::none(),
                    store.clone(),
                ),
            )
            .await;
        (r, started.elapsed())
    });
    let (echo, echo_at) = echoed;
    assert_eq!(echo.unwrap().output["value"], 7);
    assert!(
        echo_at < Duration::from_millis(700),
        "the echo waited for the loop: {echo_at:?}"
    );
    assert!(
        matches!(looped, Err(CallError::Deadline(d)) if d == Duration::from_millis(800)),
        "{looped:?}"
    );
    let stopped_at = started.elapsed();
    assert!(
        stopped_at >= Duration::from_millis(800) && stopped_at < Duration::from_millis(1500),
        "stopped after {stopped_at:?}"
    );
}

#[tokio::test]
async fn an_action_blocked_in_a_host_call_is_stopped_at_its_deadline() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let mut req = request(
        json!({"do": "sleep", "ms": 10_000}),
        Grants::none(),
        store().await,
    );
    req.limits.deadline = Duration::from_millis(300);
    let started = Instant::now();
    let r = host.call(&chaos, req).await;
    assert!(matches!(r, Err(CallError::Deadline(_))), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn growing_memory_past_the_cap_fails_cleanly_and_the_host_goes_on() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let mut req = request(json!({"do": "grow"}), Grants::none(), store.clone());
    req.limits.memory_bytes = 16 << 20;
    let err = host.call(&chaos, req).await.unwrap_err();
    match err {
        CallError::Memory { cap, tried } => {
            assert_eq!(cap, 16 << 20);
            assert!(tried > cap);
        }
        other => panic!("expected a memory failure, got {other:?}"),
    }
    assert!(
        err_text(
            host.call(
                &chaos,
                request(json!({"do": "grow"}), Grants::none(), store.clone())
            )
            .await
        )
        .contains("memory limit exceeded")
    );
    let ok = host
        .call(
            &chaos,
            request(
                json!({"do": "echo", "value": "still here"}),
                Grants::none(),
                store,
            ),
        )
        .await
        .unwrap();
    assert_eq!(ok.output["value"], "still here");
}

fn err_text<T: std::fmt::Debug>(r: Result<T, CallError>) -> String {
    r.unwrap_err().to_string()
}

#[tokio::test]
async fn a_panic_message_reaches_the_error() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "panic", "message": "invoice template missing"}),
                Grants::none(),
                store().await,
            ),
        )
        .await;
    match r {
        Err(CallError::Trap(m)) => {
            assert!(m.contains("invoice template missing"), "{m}");
            assert!(m.contains("panicked at"), "{m}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[tokio::test]
async fn an_action_error_keeps_its_kind() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "fail", "kind": "transient", "message": "registry down"}),
                Grants::none(),
                store.clone(),
            ),
        )
        .await;
    let e = r.unwrap_err();
    assert!(
        matches!(&e, CallError::Action { kind: "transient", message } if message == "registry down"),
        "{e:?}"
    );
    assert!(e.is_transient());
    let e = host
        .call(
            &chaos,
            request(
                json!({"do": "fail", "kind": "failed", "message": "no"}),
                Grants::none(),
                store,
            ),
        )
        .await
        .unwrap_err();
    assert!(!e.is_transient());
}

#[tokio::test]
async fn oversize_output_and_input_are_refused() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let mut req = request(
        json!({"do": "big-output", "bytes": 200_000}),
        Grants::none(),
        store.clone(),
    );
    req.limits.output_bytes = 100_000;
    let r = host.call(&chaos, req).await;
    assert!(
        matches!(r, Err(CallError::OutputTooLarge { cap: 100_000, size }) if size > 200_000),
        "{r:?}"
    );

    let mut req = request(
        json!({"do": "echo", "value": "x".repeat(5000)}),
        Grants::none(),
        store.clone(),
    );
    req.limits.input_bytes = 1000;
    assert!(
        matches!(host.call(&chaos, req).await, Err(CallError::InvalidInput(m)) if m.contains("the cap is 1000 bytes"))
    );

    let mut req = request(json!({}), Grants::none(), store);
    req.input = "{not json".into();
    assert!(
        matches!(host.call(&chaos, req).await, Err(CallError::InvalidInput(m)) if m.contains("not JSON"))
    );
}

#[tokio::test]
async fn stdout_is_captured_and_capped() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let mut req = request(
        json!({"do": "print", "lines": 10_000}),
        Grants::none(),
        store().await,
    );
    req.limits.log_bytes = 4096;
    let out = host.call(&chaos, req).await.unwrap();
    assert!(
        out.stdout.starts_with("line 0 of chaos output\n"),
        "{}",
        &out.stdout[..40]
    );
    assert!(
        out.stdout.len() <= 4096 + 100,
        "kept {} bytes",
        out.stdout.len()
    );
}

#[tokio::test]
async fn ungranted_capabilities_are_denied_by_name() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let create = json!({"do": "create", "kind": "lead", "fields": {"title": "From the site"}});
    // Read granted, write not.
    let r = host
        .call(
            &chaos,
            request(
                create.clone(),
                Grants::parse(&["crm.read"]).unwrap(),
                store.clone(),
            ),
        )
        .await;
    assert!(
        matches!(&r, Err(CallError::Action { kind: "denied", message }) if message.contains("crm.write")),
        "{r:?}"
    );
    for (input, cap) in [
        (json!({"do": "get", "kind": "lead", "id": "x"}), "crm.read"),
        (
            json!({"do": "mail", "to": "a@example.ru", "subject": "Hi"}),
            "mail.send",
        ),
        (json!({"do": "notify", "user_id": "u1"}), "notify.send"),
        (
            json!({"do": "fetch", "url": "http://127.0.0.1:9/"}),
            "http.fetch",
        ),
    ] {
        let r = host
            .call(&chaos, request(input, Grants::none(), store.clone()))
            .await;
        assert!(
            matches!(&r, Err(CallError::Action { kind: "denied", message }) if message.contains(cap)),
            "{cap}: {r:?}"
        );
    }
    // Nothing reached the store.
    assert!(
        robota::store::CrmStore::query(&*store, robota::crm::EntityKind::Lead, &[], 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_grant_the_manifest_did_not_ask_for_gives_nothing() {
    let host = host();
    let hello = host
        .load_file(robota_plugin_artifacts::HELLO_RUST.as_ref())
        .await
        .unwrap();
    assert!(
        !hello
            .manifest
            .capabilities
            .iter()
            .any(|c| c.name() == "mail.send")
    );
    // hello-rust asks for crm only; its manifest is what limits it even when an admin grants more.
    let grants = Grants::parse(&["crm.read", "crm.write", "mail.send"]).unwrap();
    let out = host
        .call(
            &hello,
            request(json!({"name": "Ирина"}), grants, store().await),
        )
        .await
        .unwrap();
    assert!(
        out.output["greeting"].as_str().unwrap().contains("Ирина"),
        "{}",
        out.output
    );
}

#[tokio::test]
async fn config_values_reach_the_action() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let mut req = request(
        json!({"do": "config", "key": "due_days"}),
        Grants::none(),
        store().await,
    );
    req.config = std::sync::Arc::new([("due_days".to_owned(), "5".to_owned())].into());
    assert_eq!(host.call(&chaos, req).await.unwrap().output["value"], "5");
}

#[tokio::test]
async fn a_default_limit_call_succeeds_and_reports_context() {
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let mut req = request(
        json!({"do": "echo", "value": [1, 2]}),
        Grants::none(),
        store().await,
    );
    req.attempt = 3;
    req.limits = Limits::default();
    let out = host.call(&chaos, req).await.unwrap();
    assert_eq!(
        out.output,
        json!({"value": [1, 2], "run_id": "run-1", "step_id": "step-1", "idempotency_key": "run-1/step-1", "attempt": 3})
    );
}

#[tokio::test]
async fn every_call_gets_a_never_used_instance() {
    counts_one_call_per_instance(&host(), false).await;
}

/// Ten calls of the chaos action's `count`, each of which must be its
/// instance's first; with `made_ahead`, each after the next instance is made.
async fn counts_one_call_per_instance(host: &robota::plugins::PluginHost, made_ahead: bool) {
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    assert!(
        !host.next_call_is_warm(&chaos),
        "made ahead before any call"
    );
    let store = store().await;
    for i in 0..10 {
        if made_ahead && i > 0 {
            until_ready(host, &chaos).await;
        }
        let out = host
            .call(
                &chaos,
                request(json!({"do": "count"}), Grants::none(), store.clone()),
            )
            .await
            .unwrap();
        assert_eq!(out.output["calls"], 1, "call {i} ran in a used instance");
        assert_eq!(out.stdout, "call 1 of this instance\n", "call {i}");
    }
}

/// A host that makes an instance ahead for every action, however cheap.
fn warm_host() -> robota::plugins::PluginHost {
    robota::plugins::PluginHost::new(robota::plugins::HostSettings {
        cache_dir: Some(common::shared_cache()),
        max_concurrent_calls: 4,
        warm_above: Some(Duration::ZERO),
        ..robota::plugins::HostSettings::default()
    })
    .unwrap()
}

/// Waits until `plugin`'s next instance is made.
async fn until_ready(host: &robota::plugins::PluginHost, plugin: &robota::plugins::LoadedPlugin) {
    let started = Instant::now();
    while !host.next_call_is_warm(plugin) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no instance was made ahead"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn instances_made_ahead_serve_one_call_each_with_its_own_output() {
    counts_one_call_per_instance(&warm_host(), true).await;
}

#[tokio::test]
async fn an_instance_made_ahead_keeps_the_calls_deadline_memory_cap_and_grants() {
    let host = warm_host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    let limits = Limits {
        deadline: Duration::from_millis(600),
        memory_bytes: 8 << 20,
        ..Limits::default()
    };
    let with = |input: serde_json::Value, grants: Grants| {
        let mut req = request(input, grants, store.clone());
        req.limits = limits;
        req
    };
    host.call(
        &chaos,
        with(json!({"do": "echo", "value": 1}), Grants::none()),
    )
    .await
    .unwrap();
    until_ready(&host, &chaos).await;
    // Made longer ago than the deadline: the deadline counts from the call.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let out = host
        .call(
            &chaos,
            with(json!({"do": "echo", "value": 2}), Grants::none()),
        )
        .await
        .unwrap();
    assert_eq!(out.output["value"], 2);
    until_ready(&host, &chaos).await;
    let started = Instant::now();
    let looped = host
        .call(&chaos, with(json!({"do": "loop"}), Grants::none()))
        .await;
    assert!(matches!(looped, Err(CallError::Deadline(_))), "{looped:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    until_ready(&host, &chaos).await;
    let grown = host
        .call(&chaos, with(json!({"do": "grow"}), Grants::none()))
        .await;
    assert!(matches!(grown, Err(CallError::Memory { .. })), "{grown:?}");
    // Grants are each call's own (the instance was made with none).
    let create = json!({"do": "create", "kind": "lead", "fields": {"title": "Made ahead"}});
    until_ready(&host, &chaos).await;
    let denied = host
        .call(
            &chaos,
            with(create.clone(), Grants::parse(&["crm.read"]).unwrap()),
        )
        .await;
    assert!(
        matches!(&denied, Err(CallError::Action { kind: "denied", .. })),
        "{denied:?}"
    );
    until_ready(&host, &chaos).await;
    let created = host
        .call(
            &chaos,
            with(create, Grants::parse(&["crm.read", "crm.write"]).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(created.changes.len(), 1);
    // A call under other limits does not take an instance made under these.
    until_ready(&host, &chaos).await;
    let mut other = request(json!({"do": "count"}), Grants::none(), store.clone());
    other.limits = Limits::default();
    let out = host.call(&chaos, other).await.unwrap();
    assert_eq!(out.output["calls"], 1);
}
