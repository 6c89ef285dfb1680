//! Actions written in Python (componentize-py) and JavaScript (componentize-js)
//! from the same WIT, run through the host and calling back into `crm`.
//!
//! They are built by `scripts/build-example-plugins` (which `.ci/run` and the
//! README's test command run) into `target/example-plugins`, or the folder in
//! `ROBOTA_EXAMPLE_PLUGINS`. A missing build fails the test: it never passes
//! by skipping.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{crm_grants, host, request, store};
use robota::crm::{EntityKind, EntityRef};
use robota::plugins::{CallError, Grants};
use robota::store::CrmStore;
use serde_json::json;
use sqlx::Row;
use std::path::PathBuf;

fn example(file: &str) -> PathBuf {
    let dir = std::env::var_os("ROBOTA_EXAMPLE_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/example-plugins")
        });
    let path = dir.join(file);
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-example-plugins first",
        path.display()
    );
    path
}

#[tokio::test]
async fn the_python_action_reads_a_deal_and_writes_a_note() {
    let host = host();
    let python = host.load_file(&example("deal_summary.wasm")).await.unwrap();
    assert_eq!(python.manifest.id, "deal-summary");
    let chaos = host
        .load_file(robota_plugin_artifacts::CHAOS.as_ref())
        .await
        .unwrap();
    let store = store().await;
    let items = json!([{"name": "Стол", "quantity": "2", "price": "1500.10", "vat_rate": "20"}, {"name": "Стул", "quantity": "4", "price": "0.10", "vat_rate": "20"}]);
    let deal = host.call(&chaos, request(json!({"do": "create", "kind": "deal", "fields": {"title": "Мебель", "items": items}}), crm_grants(), store.clone())).await.unwrap();
    store.commit(&deal.changes).await.unwrap();
    let deal_id = deal.output["id"].as_str().unwrap().to_owned();

    let out = host
        .call(
            &python,
            request(json!({"deal_id": deal_id}), crm_grants(), store.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        out.output["summary"],
        "Мебель: 3000.60 RUB, stage new, 2 line(s)"
    );
    assert_eq!(out.logs.len(), 1);
    store.commit(&out.changes).await.unwrap();
    let note: String =
        sqlx::query("SELECT text FROM timeline WHERE entity_id = ? AND kind = 'note'")
            .bind(&deal_id)
            .fetch_one(store.reader())
            .await
            .unwrap()
            .get("text");
    assert_eq!(note, "Мебель: 3000.60 RUB, stage new, 2 line(s)");

    let missing = host
        .call(
            &python,
            request(json!({"deal_id": "nope"}), crm_grants(), store.clone()),
        )
        .await;
    assert!(
        matches!(
            &missing,
            Err(CallError::Action {
                kind: "not-found",
                ..
            })
        ),
        "{missing:?}"
    );
    let denied = host
        .call(
            &python,
            request(
                json!({"deal_id": deal_id}),
                Grants::parse(&["crm.read"]).unwrap(),
                store.clone(),
            ),
        )
        .await;
    assert!(
        matches!(&denied, Err(CallError::Action { kind: "denied", message }) if message.contains("crm.write")),
        "{denied:?}"
    );
    let bad = host
        .call(&python, request(json!({"id": 1}), crm_grants(), store))
        .await;
    assert!(
        matches!(
            &bad,
            Err(CallError::Action {
                kind: "invalid-input",
                ..
            })
        ),
        "{bad:?}"
    );
}

#[tokio::test]
async fn the_js_action_creates_a_lead_once_per_email() {
    let host = host();
    let js = host.load_file(&example("lead_intake.wasm")).await.unwrap();
    assert_eq!(js.manifest.id, "lead-intake");
    let store = store().await;
    let form = json!({"title": "Заявка с сайта", "email": "Ivan@Example.ru", "phone": "8 (900) 123-45-67", "name": "Иван"});
    let first = host
        .call(&js, request(form.clone(), crm_grants(), store.clone()))
        .await
        .unwrap();
    assert_eq!(first.output["created"], true);
    store.commit(&first.changes).await.unwrap();
    let lead_id = first.output["lead_id"].as_str().unwrap().to_owned();
    let lead = store
        .get(&EntityRef {
            kind: EntityKind::Lead,
            id: lead_id.clone(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead["phone"], "+79001234567");
    assert_eq!(lead["email"], "ivan@example.ru");

    let again = host
        .call(&js, request(form, crm_grants(), store.clone()))
        .await
        .unwrap();
    assert_eq!(again.output, json!({"lead_id": lead_id, "created": false}));
    assert!(again.changes.is_empty());

    let bad = host
        .call(
            &js,
            request(
                json!({"title": "x", "email": "a@b.ru", "phone": "12"}),
                crm_grants(),
                store.clone(),
            ),
        )
        .await;
    assert!(
        matches!(&bad, Err(CallError::Action { kind: "invalid-input", message }) if message.contains("phone")),
        "{bad:?}"
    );
    let denied = host
        .call(
            &js,
            request(
                json!({"title": "x", "email": "new@b.ru"}),
                Grants::parse(&["crm.read"]).unwrap(),
                store.clone(),
            ),
        )
        .await;
    assert!(
        matches!(&denied, Err(CallError::Action { kind: "denied", message }) if message.contains("crm.write")),
        "{denied:?}"
    );
    assert_eq!(
        store.query(EntityKind::Lead, &[], 10).await.unwrap().len(),
        1
    );
}
