//! The CRM store on a real SQLite file: atomic change sets, gap-free invoice
//! numbers under concurrency, stage rules, references, workflows, exact money.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use robota::crm::changes::Change;
use robota::crm::filter::FilterOp;
use robota::crm::{EntityKind, EntityRef, Filter};
use robota::store::{CrmStore, SqliteStore};
use serde_json::{Map, Value, json};
use sqlx::Row;
use std::sync::Arc;

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

fn create(kind: EntityKind, id: &str, v: Value) -> Change {
    Change::Create {
        kind,
        id: id.into(),
        fields: fields(v),
    }
}

fn update(kind: EntityKind, id: &str, v: Value) -> Change {
    Change::Update {
        target: EntityRef {
            kind,
            id: id.into(),
        },
        fields: fields(v),
    }
}

async fn file_store(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    let url = format!("sqlite://{}", dir.path().join("crm.db").display());
    Arc::new(SqliteStore::open(&url).await.unwrap())
}

fn invoice(id: &str, issue: &str) -> Change {
    create(
        EntityKind::Invoice,
        id,
        json!({"currency": "RUB", "issue_date": issue, "due_date": issue,
               "items": [{"name": "Консультация", "quantity": "3", "price": "1000.10", "vat_rate": "20"}]}),
    )
}

async fn number(store: &SqliteStore, id: &str) -> String {
    let inv = store
        .get(&EntityRef {
            kind: EntityKind::Invoice,
            id: id.into(),
        })
        .await
        .unwrap()
        .unwrap();
    inv["number"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn invoice_numbers_are_gap_free_per_year_even_when_a_change_set_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    store.commit(&[invoice("i1", "2026-03-01")]).await.unwrap();
    // The second change fails, so the whole set (and its number) rolls back.
    let failed = store
        .commit(&[
            invoice("i2", "2026-03-02"),
            create(
                EntityKind::Company,
                "c1",
                json!({"kind": "organisation", "short_name": "X", "inn": "123"}),
            ),
        ])
        .await;
    assert!(failed.unwrap_err().to_string().contains("company.inn"));
    assert!(
        store
            .get(&EntityRef {
                kind: EntityKind::Invoice,
                id: "i2".into()
            })
            .await
            .unwrap()
            .is_none()
    );
    store.commit(&[invoice("i3", "2026-12-31")]).await.unwrap();
    store.commit(&[invoice("i4", "2027-01-01")]).await.unwrap();
    assert_eq!(number(&store, "i1").await, "2026-00001");
    assert_eq!(number(&store, "i3").await, "2026-00002");
    assert_eq!(number(&store, "i4").await, "2027-00001");
    let inv = store
        .get(&EntityRef {
            kind: EntityKind::Invoice,
            id: "i1".into(),
        })
        .await
        .unwrap()
        .unwrap();
    // 3 × 1000.10 = 3000.30 including 20% VAT = 500.05
    assert_eq!(inv["total"], "3000.30");
    assert_eq!(inv["vat_total"], "500.05");
    assert_eq!(inv["subtotal"], "2500.25");
    assert_eq!(inv["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_invoices_get_distinct_consecutive_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .commit(&[invoice(&format!("inv-{i}"), "2026-05-05")])
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut numbers = Vec::new();
    for i in 0..20 {
        numbers.push(number(&store, &format!("inv-{i}")).await);
    }
    numbers.sort();
    let expected: Vec<String> = (1..=20).map(|n| format!("2026-{n:05}")).collect();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn moving_a_deal_into_a_stage_needs_its_required_fields() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    store
        .commit(&[create(EntityKind::Deal, "d1", json!({"title": "Поставка"}))])
        .await
        .unwrap();
    let e = store
        .commit(&[update(EntityKind::Deal, "d1", json!({"stage": "invoice"}))])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("invoice") && e.contains("company_id") && e.contains("amount"),
        "{e}"
    );
    let deal = store
        .get(&EntityRef {
            kind: EntityKind::Deal,
            id: "d1".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deal["stage"], "new");
    let e = store
        .commit(&[update(
            EntityKind::Deal,
            "d1",
            json!({"stage": "no-such-stage"}),
        )])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no-such-stage"), "{e}");

    store
        .commit(&[
            create(
                EntityKind::Company,
                "c1",
                json!({"kind": "organisation", "short_name": "ООО «Ромашка»", "inn": "7707083893"}),
            ),
            update(
                EntityKind::Deal,
                "d1",
                json!({"stage": "invoice", "company_id": "c1", "amount": "5000"}),
            ),
        ])
        .await
        .unwrap();
    let deal = store
        .get(&EntityRef {
            kind: EntityKind::Deal,
            id: "d1".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deal["stage"], "invoice");
    assert_eq!(deal["amount"], "5000.00");
    let kinds: Vec<String> =
        sqlx::query("SELECT kind FROM timeline WHERE entity_id = 'd1' ORDER BY at, rowid")
            .fetch_all(store.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("kind"))
            .collect();
    assert_eq!(kinds, ["created", "stage_changed"]);
}

#[tokio::test]
async fn references_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let e = store
        .commit(&[create(
            EntityKind::Deal,
            "d1",
            json!({"title": "x", "company_id": "ghost"}),
        )])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("deal.company_id") && e.contains("ghost"), "{e}");
    let e = store
        .commit(&[update(EntityKind::Deal, "nope", json!({"title": "y"}))])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found"), "{e}");
}

#[tokio::test]
async fn payment_requests_keep_their_history_and_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let request = json!({"purpose": "Аренда офиса за декабрь", "contractor": "ООО «Ромашка»", "amount": "120000", "currency": "RUB",
        "pay_by": "2026-12-05", "inn": "7707083893", "kpp": "773601001", "bik": "044525225", "settlement_account": "40702810438000060473",
        "correspondent_account": "30101810400000000225", "payment_purpose_text": "Оплата по счёту №15 от 01.12.2026, НДС не облагается"});
    store
        .commit(&[create(EntityKind::PaymentRequest, "pr1", request.clone())])
        .await
        .unwrap();
    let e = store
        .commit(&[update(
            EntityKind::PaymentRequest,
            "pr1",
            json!({"status": "paid"}),
        )])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("payment-request.status"), "{e}");
    store
        .commit(&[update(
            EntityKind::PaymentRequest,
            "pr1",
            json!({"status": "on_approval"}),
        )])
        .await
        .unwrap();
    store
        .commit(&[update(
            EntityKind::PaymentRequest,
            "pr1",
            json!({"status": "approved"}),
        )])
        .await
        .unwrap();
    let history: Vec<(Option<String>, Option<String>)> =
        sqlx::query("SELECT from_status, to_status FROM payment_request_history WHERE request_id = 'pr1' ORDER BY at, rowid")
            .fetch_all(store.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("from_status"), r.get("to_status")))
            .collect();
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        history,
        vec![
            (None, s("draft")),
            (s("draft"), s("on_approval")),
            (s("on_approval"), s("approved"))
        ]
    );

    // A required field missing from a request sent for approval (a draft
    // may lack it), a bad account key: named, nothing written. (A new
    // contractor: pr1's INN would fill the text in from pr1.)
    let mut missing = request.clone();
    missing
        .as_object_mut()
        .unwrap()
        .remove("payment_purpose_text");
    missing["inn"] = json!("5001007329");
    missing["status"] = json!("on_approval");
    let e = store
        .commit(&[create(EntityKind::PaymentRequest, "pr2", missing)])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("payment_purpose_text"), "{e}");
    let mut bad = request;
    bad["settlement_account"] = json!("40702810438000060474");
    let e = store
        .commit(&[create(EntityKind::PaymentRequest, "pr3", bad)])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("settlement_account"), "{e}");
    assert_eq!(
        store
            .query(EntityKind::PaymentRequest, &[], 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn money_filters_compare_exact_decimals() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    store
        .commit(&[
            create(
                EntityKind::Deal,
                "small",
                json!({"title": "a", "amount": "99999.99"}),
            ),
            create(
                EntityKind::Deal,
                "big",
                json!({"title": "b", "amount": "100000.01"}),
            ),
            create(
                EntityKind::Deal,
                "edge",
                json!({"title": "c", "amount": "100000"}),
            ),
        ])
        .await
        .unwrap();
    let over = store
        .query(
            EntityKind::Deal,
            &[Filter {
                field: "amount".into(),
                op: FilterOp::Gt,
                value: json!("100000"),
            }],
            10,
        )
        .await
        .unwrap();
    let ids: Vec<&str> = over.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["big"]);
    let e = store
        .query(
            EntityKind::Deal,
            &[Filter {
                field: "colour".into(),
                op: FilterOp::Eq,
                value: json!("red"),
            }],
            10,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
}

/// A database made by the migrations before scenario 2 keeps its records
/// through the table rebuilds: old lead statuses take their new names, and
/// payment requests keep their history.
#[tokio::test]
async fn older_databases_keep_their_leads_and_payment_requests() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let mut before = sqlx::migrate!("../migrations/sqlite");
        let older: Vec<_> = before
            .migrations
            .iter()
            .filter(|m| m.version < 20261203000000)
            .cloned()
            .collect();
        before.migrations = std::borrow::Cow::Owned(older);
        before.run(&pool).await.unwrap();
        let now = "2026-11-30T10:00:00.000000Z";
        for (id, status) in [("l1", "agreement"), ("l2", "lost"), ("l3", "meeting")] {
            sqlx::query("INSERT INTO leads (id, title, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
                .bind(id)
                .bind(format!("Lead {id}"))
                .bind(status)
                .bind(now)
                .bind(now)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO payment_requests (id, purpose, contractor, amount, currency, pay_by, inn, settlement_account,
             payment_purpose_text, status, created_at, updated_at)
             VALUES ('pr1', 'Аренда', 'ПАО Сбербанк', '100.00', 'RUB', '2026-12-01', '7707083893',
             '40702810438000060473', 'Оплата аренды', 'approved', ?, ?)",
        )
        .bind(now)
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO payment_request_history (id, request_id, at, from_status, to_status, comment)
             VALUES ('h1', 'pr1', ?, 'on_approval', 'approved', 'ok')",
        )
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = SqliteStore::open(&url).await.unwrap();
    let status = |id: &str| EntityRef {
        kind: EntityKind::Lead,
        id: id.to_owned(),
    };
    for (id, want) in [
        ("l1", "agreement_received"),
        ("l2", "junk"),
        ("l3", "meeting"),
    ] {
        let lead = store.get(&status(id)).await.unwrap().unwrap();
        assert_eq!(lead["status"], want, "{id}");
    }
    let pr = store
        .get(&EntityRef {
            kind: EntityKind::PaymentRequest,
            id: "pr1".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (pr["status"].as_str(), pr["amount"].as_str()),
        (Some("approved"), Some("100.00"))
    );
    let comment: String =
        sqlx::query_scalar("SELECT comment FROM payment_request_history WHERE request_id = 'pr1'")
            .fetch_one(store.reader())
            .await
            .unwrap();
    assert_eq!(comment, "ok");
    // The history still belongs to its request: deleting one takes the other.
    store
        .commit(&[Change::Delete {
            target: EntityRef {
                kind: EntityKind::PaymentRequest,
                id: "pr1".into(),
            },
        }])
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payment_request_history")
        .fetch_one(store.reader())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
