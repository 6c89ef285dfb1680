//! Helpers shared by the integration tests: a host with a test cache, a
//! fresh in-memory CRM, and a call request with sensible defaults.
#![allow(dead_code, missing_docs)]

use robota::plugins::{CallRequest, Grants, HostSettings, Limits, PluginHost};
use robota::store::{SqliteStore, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The compile cache the tests share, so each test binary compiles a component once.
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// A host with a few slots and the shared cache.
pub fn host() -> PluginHost {
    PluginHost::new(HostSettings {
        cache_dir: Some(shared_cache()),
        max_concurrent_calls: 4,
        ..HostSettings::default()
    })
    .expect("the host starts")
}

/// A fresh, migrated, in-memory CRM.
pub async fn store() -> Arc<SqliteStore> {
    Arc::new(
        SqliteStore::open("sqlite::memory:")
            .await
            .expect("the in-memory store opens"),
    )
}

/// A call of `input` with `grants` against `store`, default limits.
pub fn request(input: serde_json::Value, grants: Grants, store: Store) -> CallRequest {
    CallRequest {
        run_id: "run-1".into(),
        step_id: "step-1".into(),
        idempotency_key: "run-1/step-1".into(),
        attempt: 1,
        input: input.to_string(),
        grants,
        config: Arc::new(BTreeMap::new()),
        limits: Limits::default(),
        store,
        read: Vec::new(),
    }
}

/// Every CRM capability but HTTP.
pub fn crm_grants() -> Grants {
    Grants::parse(&["crm.read", "crm.write"]).expect("valid grants")
}

pub mod browser;
pub mod server;
pub mod smtp;
pub mod standin;

/// `text` in Windows-1251, by hand for the tests' alphabet so a test does
/// not lean on the decoder it checks.
pub fn cp1251(text: &str) -> Vec<u8> {
    // Cyrillic letters map to 0xC0.. (А..я), Ё/ё to 0xA8/0xB8, « » to
    // 0xAB/0xBB, № to 0xB9.
    text.chars()
        .map(|c| match c {
            'А'..='я' => (c as u32 - 'А' as u32 + 0xC0) as u8,
            'Ё' => 0xA8,
            'ё' => 0xB8,
            '«' => 0xAB,
            '»' => 0xBB,
            '№' => 0xB9,
            c if c.is_ascii() => c as u8,
            other => panic!("no cp1251 for {other}"),
        })
        .collect()
}

/// The `items` of a list answer.
pub fn items(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["items"].as_array().expect("a list answer has items")
}

/// POSTs `body` to `path`, which must answer 201; returns the record.
pub async fn created_record(
    api: &server::Api,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let a = api.post(path, &body).await;
    assert_eq!(a.status, 201, "{path}: {}", a.body);
    a.body
}

/// POSTs `body` to `path`, which must answer 201; returns the new id.
pub async fn created(api: &server::Api, path: &str, body: serde_json::Value) -> String {
    created_record(api, path, body).await["id"]
        .as_str()
        .expect("a created record has an id")
        .to_owned()
}
