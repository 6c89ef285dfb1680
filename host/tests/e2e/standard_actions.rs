//! The invoice actions through the real host against a real store: each
//! takes what its manifest says, does exactly its job, and refuses bad input
//! with a message naming what is wrong — changing nothing.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{host, request, store};
use robota::crm::changes::Change;
use robota::crm::{EntityKind, EntityRef};
use robota::plugins::{CallError, CallOutcome, Grants, PluginHost};
use robota::store::{CrmStore, SqliteStore};
use robota_plugin_artifacts::{
    CREATE_INVOICE, IMPORT_BANK_STATEMENT, NOTIFY, SEND_EMAIL, SET_INVOICE_STATUS,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn grants(list: &[&str]) -> Grants {
    Grants::parse(list).unwrap()
}

/// The demo seller's requisites, as create-invoice's config.
fn seller() -> BTreeMap<String, String> {
    [
        ("seller.name", "ООО «Робота»"),
        ("seller.inn", "7736207543"),
        ("seller.kpp", "773601001"),
        ("seller.address", "Москва"),
        ("seller.bank_name", "ПАО Сбербанк"),
        ("seller.bik", "044525225"),
        ("seller.settlement_account", "40702810500000001234"),
        ("seller.correspondent_account", "30101810400000000225"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn create(kind: EntityKind, id: &str, fields: Value) -> Change {
    let Value::Object(fields) = fields else {
        panic!()
    };
    Change::Create {
        kind,
        id: id.to_owned(),
        fields,
    }
}

/// A manager, a company and a deal with one line of 1 200 ₽.
async fn seeded() -> Arc<SqliteStore> {
    let store = store().await;
    store
        .commit(&[
            create(EntityKind::User, "u1", json!({ "email": "ivan@seller.example", "name": "Иван", "role": "manager" })),
            create(EntityKind::User, "u2", json!({ "name": "Пётр", "email": "petr@seller.example", "role": "manager" })),
            create(EntityKind::Company, "c1", json!({ "kind": "organisation", "short_name": "ООО «Ромашка»", "inn": "7707083893", "email": "buh@romashka.example" })),
            create(EntityKind::Company, "c2", json!({ "kind": "organisation", "short_name": "ООО «Без почты»", "inn": "7736207543" })),
            create(EntityKind::Deal, "d1", json!({ "title": "Насос", "company_id": "c1", "responsible_id": "u1", "currency": "RUB",
                "items": [{ "name": "Насос", "quantity": "1", "price": "1200.00", "vat_rate": "20" }] })),
            create(EntityKind::Deal, "d2", json!({ "title": "Без почты", "company_id": "c2", "responsible_id": "u2", "amount": "500.00", "currency": "RUB" })),
        ])
        .await
        .unwrap();
    store
}

async fn call(
    host: &PluginHost,
    file: &str,
    input: Value,
    grants: Grants,
    config: BTreeMap<String, String>,
    store: &Arc<SqliteStore>,
) -> Result<CallOutcome, CallError> {
    let plugin = host.load_file(file.as_ref()).await.unwrap();
    let mut req = request(input, grants, store.clone());
    req.config = Arc::new(config);
    host.call(&plugin, req).await
}

/// Calls an action that must refuse; returns its error as "kind: message".
async fn refusal(
    host: &PluginHost,
    file: &str,
    input: Value,
    grants: Grants,
    config: BTreeMap<String, String>,
    store: &Arc<SqliteStore>,
) -> String {
    match call(host, file, input, grants, config, store).await {
        Ok(out) => panic!("the call should have failed: {}", out.output),
        Err(e) => message(e),
    }
}

fn message(e: CallError) -> String {
    match e {
        CallError::Action { kind, message } => format!("{kind}: {message}"),
        other => other.to_string(),
    }
}

fn crm() -> Grants {
    grants(&["crm.read", "crm.write"])
}

#[tokio::test]
async fn create_invoice_issues_from_the_deal_and_refuses_a_second_open_one() {
    let host = host();
    let store = seeded().await;
    let input = json!({ "deal_id": "d1", "issue_date": "2026-11-20", "due_in_days": 1, "business_days": true });
    let out = call(
        &host,
        CREATE_INVOICE,
        input.clone(),
        crm(),
        seller(),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(out.output["number"], "2026-00001");
    assert_eq!(out.output["total"], "1200.00");
    // Friday + 1 working day = Monday.
    assert_eq!(out.output["due_date"], "2026-11-23");
    store.commit(&out.changes).await.unwrap();
    let id = out.output["id"].as_str().unwrap();
    let inv = store
        .get(&EntityRef {
            kind: EntityKind::Invoice,
            id: id.to_owned(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv["number"], "2026-00001");
    assert_eq!(inv["buyer"]["inn"], "7707083893");
    assert_eq!(inv["seller"]["bik"], "044525225");
    assert_eq!(inv["vat_total"], "200.00");

    let second = call(
        &host,
        CREATE_INVOICE,
        input.clone(),
        crm(),
        seller(),
        &store,
    )
    .await;
    let e = message(second.unwrap_err());
    assert!(
        e.starts_with("conflict: deal d1 already has open invoice 2026-00001"),
        "{e}"
    );
    let mut allowed = input.clone();
    allowed["allow_second"] = json!(true);
    let out = call(&host, CREATE_INVOICE, allowed, crm(), seller(), &store)
        .await
        .unwrap();
    assert_eq!(out.output["number"], "2026-00002");

    // A concurrent step took 2026-00002 first: this one's commit is refused.
    let racing = call(
        &host,
        CREATE_INVOICE,
        json!({ "deal_id": "d2", "issue_date": "2026-11-20" }),
        crm(),
        seller(),
        &store,
    )
    .await
    .unwrap();
    store.commit(&out.changes).await.unwrap();
    let e = store.commit(&racing.changes).await.unwrap_err();
    assert!(e.to_string().contains("conflict"), "{e}");

    // Bad seller requisites and a bad date name what is wrong.
    let mut bad = seller();
    bad.insert(
        "seller.settlement_account".into(),
        "40702810500000001235".into(),
    );
    let e = refusal(
        &host,
        CREATE_INVOICE,
        json!({ "deal_id": "d2" }),
        crm(),
        bad,
        &store,
    )
    .await;
    assert!(e.contains("seller.settlement_account"), "{e}");
    let e = refusal(
        &host,
        CREATE_INVOICE,
        json!({ "deal_id": "d2" }),
        crm(),
        BTreeMap::new(),
        &store,
    )
    .await;
    assert!(e.contains("config key `seller.name` is not set"), "{e}");
    let e = refusal(
        &host,
        CREATE_INVOICE,
        json!({ "deal_id": "d2", "issue_date": "20.11.2026" }),
        crm(),
        seller(),
        &store,
    )
    .await;
    assert!(e.contains("issue_date `20.11.2026`"), "{e}");
    let e = refusal(
        &host,
        CREATE_INVOICE,
        json!({ "deal_id": "nope" }),
        crm(),
        seller(),
        &store,
    )
    .await;
    assert!(e.starts_with("not-found"), "{e}");
}

async fn issued(host: &PluginHost, store: &Arc<SqliteStore>) -> String {
    let out = call(
        host,
        CREATE_INVOICE,
        json!({ "deal_id": "d1", "issue_date": "2026-11-20" }),
        crm(),
        seller(),
        store,
    )
    .await
    .unwrap();
    store.commit(&out.changes).await.unwrap();
    out.output["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn set_invoice_status_records_the_paid_date_once_and_refuses_bad_moves() {
    let host = host();
    let store = seeded().await;
    let id = issued(&host, &store).await;
    let paid = json!({ "invoice_id": id, "status": "paid", "paid_date": "2026-11-21" });
    let out = call(
        &host,
        SET_INVOICE_STATUS,
        paid.clone(),
        crm(),
        BTreeMap::new(),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(out.output["changed"], true);
    store.commit(&out.changes).await.unwrap();
    let inv = store
        .get(&EntityRef {
            kind: EntityKind::Invoice,
            id: id.clone(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (inv["status"].as_str(), inv["paid_date"].as_str()),
        (Some("paid"), Some("2026-11-21"))
    );
    // Again: nothing to do.
    let again = call(
        &host,
        SET_INVOICE_STATUS,
        paid,
        crm(),
        BTreeMap::new(),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(again.output["changed"], false);
    assert!(again.changes.is_empty());
    // only_from guards: an overdue run skips a paid invoice.
    let guarded = json!({ "invoice_id": id, "status": "overdue", "only_from": ["sent"] });
    let out = call(
        &host,
        SET_INVOICE_STATUS,
        guarded,
        crm(),
        BTreeMap::new(),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(out.output["changed"], false);
    // Bad input.
    for (input, says) in [
        (
            json!({ "invoice_id": "nope", "status": "paid" }),
            "not-found",
        ),
        (
            json!({ "invoice_id": id, "status": "lost" }),
            "status `lost`",
        ),
        (
            json!({ "invoice_id": id, "status": "sent", "paid_date": "2026-11-21" }),
            "paid_date is only for status paid",
        ),
        (
            json!({ "invoice_id": id, "status": "paid", "paid_date": "yesterday" }),
            "paid_date `yesterday`",
        ),
    ] {
        let e = refusal(
            &host,
            SET_INVOICE_STATUS,
            input,
            crm(),
            BTreeMap::new(),
            &store,
        )
        .await;
        assert!(e.contains(says), "{e} should say {says}");
    }
}

#[tokio::test]
async fn notify_reaches_the_responsible_user_and_mails_only_when_asked_and_granted() {
    let host = host();
    let store = seeded().await;
    let input =
        json!({ "entity": { "kind": "deal", "id": "d1" }, "title": "Счёт отправлен", "body": "…" });
    let out = call(
        &host,
        NOTIFY,
        input.clone(),
        grants(&["crm.read", "notify.send"]),
        BTreeMap::new(),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(out.output["user_id"], "u1");
    assert!(matches!(out.changes.as_slice(), [Change::Notify(n)] if n.user_id == "u1"));
    let mut by_mail = input.clone();
    by_mail["email"] = json!(true);
    let e = refusal(
        &host,
        NOTIFY,
        by_mail.clone(),
        grants(&["crm.read", "notify.send"]),
        BTreeMap::new(),
        &store,
    )
    .await;
    assert!(e.contains("denied") && e.contains("mail.send"), "{e}");
    let out = call(
        &host,
        NOTIFY,
        by_mail,
        grants(&["crm.read", "notify.send", "mail.send"]),
        BTreeMap::new(),
        &store,
    )
    .await
    .unwrap();
    assert!(
        matches!(out.changes.as_slice(), [Change::Notify(_), Change::Mail(m)] if m.to == ["ivan@seller.example"])
    );
    let e = refusal(
        &host,
        NOTIFY,
        json!({ "title": "x" }),
        grants(&["crm.read", "notify.send"]),
        BTreeMap::new(),
        &store,
    )
    .await;
    assert!(e.contains("give user_id or entity"), "{e}");
}

#[tokio::test]
async fn send_email_fills_templates_finds_the_recipient_and_attaches_stored_files() {
    let host = host();
    let store = seeded().await;
    let id = issued(&host, &store).await;
    let target = EntityRef {
        kind: EntityKind::Invoice,
        id: id.clone(),
    };
    store
        .commit(&[Change::AttachFile {
            target: target.clone(),
            file: robota::crm::changes::StoredFile {
                name: "invoice.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.7 test".to_vec(),
            },
        }])
        .await
        .unwrap();
    let mail = grants(&["crm.read", "mail.send"]);
    let input = json!({
        "template": "invoice",
        "entity": { "kind": "invoice", "id": id },
        "attachments": [{ "entity": { "kind": "invoice", "id": id }, "file": "invoice.pdf", "filename": "Счёт {{ invoice.number }}.pdf" }]
    });
    let out = call(
        &host,
        SEND_EMAIL,
        input,
        mail.clone(),
        BTreeMap::new(),
        &store,
    )
    .await
    .unwrap();
    let [Change::Mail(m)] = out.changes.as_slice() else {
        panic!("{:?}", out.changes)
    };
    assert_eq!(m.to, ["buh@romashka.example"]);
    assert_eq!(m.subject, "Счёт № 2026-00001 от 20.11.2026");
    // Amounts and dates as the invoice prints them.
    assert!(
        m.text_body.contains("на сумму 1\u{a0}200,00\u{a0}₽."),
        "{}",
        m.text_body
    );
    let due = m
        .text_body
        .split("оплатить его до ")
        .nth(1)
        .unwrap_or_default();
    assert!(
        chrono::NaiveDate::parse_from_str(due.get(..10).unwrap_or_default(), "%d.%m.%Y").is_ok(),
        "the due date prints as dd.mm.yyyy: {}",
        m.text_body
    );
    assert_eq!(m.attachments[0].filename, "Счёт 2026-00001.pdf");
    assert_eq!(m.attachments[0].content, b"%PDF-1.7 test");

    // Config overrides a named template.
    let mut config = BTreeMap::new();
    config.insert(
        "templates.hello.subject".to_owned(),
        "Привет, {{ deal.title }}".to_owned(),
    );
    config.insert(
        "templates.hello.text".to_owned(),
        "Менеджер: {{ manager.name }}".to_owned(),
    );
    let out = call(
        &host,
        SEND_EMAIL,
        json!({ "template": "hello", "entity": { "kind": "deal", "id": "d1" } }),
        mail.clone(),
        config,
        &store,
    )
    .await
    .unwrap();
    let [Change::Mail(m)] = out.changes.as_slice() else {
        panic!()
    };
    assert_eq!(
        (m.subject.as_str(), m.text_body.as_str()),
        ("Привет, Насос", "Менеджер: Иван")
    );

    for (input, says) in [
        (
            json!({ "template": "nope", "to": ["a@b.example"] }),
            "template `nope` is unknown",
        ),
        (
            json!({ "subject": "{{ deal.titel }}", "text": "x", "entity": { "kind": "deal", "id": "d1" } }),
            "subject template",
        ),
        (
            json!({ "subject": "s", "text": "t", "entity": { "kind": "deal", "id": "d2" } }),
            "has no e-mail; give `to`",
        ),
        (
            json!({ "subject": "s", "text": "t", "to": ["not-an-address"] }),
            "`not-an-address` is not an e-mail address",
        ),
        (
            json!({ "subject": "s", "text": "t", "to": ["a@b.example"], "attachments": [{ "entity": { "kind": "invoice", "id": id }, "file": "other.pdf" }] }),
            "has no file named `other.pdf`",
        ),
    ] {
        let e = refusal(
            &host,
            SEND_EMAIL,
            input,
            mail.clone(),
            BTreeMap::new(),
            &store,
        )
        .await;
        assert!(e.contains(says), "{e} should say {says}");
    }
}

#[tokio::test]
async fn import_bank_statement_changes_nothing_when_the_file_is_malformed() {
    let host = host();
    let store = seeded().await;
    let id = issued(&host, &store).await;
    let st = |amount: &str, end: &str| {
        format!(
            "1CClientBankExchange\nРасчСчет=40702810500000001234\nСекцияДокумент=Платежное поручение\nНомер=1\nДата=21.11.2026\n\
             Сумма={amount}\nПлательщикИНН=7707083893\nПолучательСчет=40702810500000001234\nНазначениеПлатежа=Оплата счета 2026-00001\n\
             КонецДокумента\n{end}"
        )
    };
    let out = call(
        &host,
        IMPORT_BANK_STATEMENT,
        json!({ "text": st("1200.00", "КонецФайла\n") }),
        crm(),
        BTreeMap::new(),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(out.output["matched"][0]["invoice_id"], id.as_str());
    assert!(out.changes.iter().any(|c| matches!(c, Change::Update { fields, .. } if fields.get("status") == Some(&json!("paid")))));
    for (input, says) in [
        (json!({ "text": st("1200.00", "") }), "КонецФайла"),
        (json!({ "text": st("abc", "КонецФайла\n") }), "Сумма `abc`"),
        (json!({ "content_base64": "***" }), "not base64"),
        (json!({}), "one of them"),
    ] {
        let e = refusal(
            &host,
            IMPORT_BANK_STATEMENT,
            input,
            crm(),
            BTreeMap::new(),
            &store,
        )
        .await;
        assert!(
            e.starts_with("invalid-input") && e.contains(says),
            "{e} should say {says}"
        );
    }
    let inv: Map<String, Value> = store
        .get(&EntityRef {
            kind: EntityKind::Invoice,
            id,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv["status"], "draft", "nothing was committed");
}
