//! Scenario 2, step 2 end to end through the real binary: a lead converted
//! into Contact + Company + Deal (or Contact + Deal), the duplicate check on
//! conversion and on every API create, merging records with every link
//! re-pointed, and the duplicate groups of a base that rotted.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{created, items};

use common::server::{Api, Site};
use serde_json::{Value, json};
use std::time::Duration;

const AFTER: &str = include_str!("../../../examples/processes/after-lead-conversion.toml");

/// A new company's manager is told of it: a run and a notification about
/// the company, for the merge to re-point.
const WELCOME: &str = r#"
id = "welcome"
[trigger]
event = "company.created"
[[step]]
id = "tell"
uses = "notify@1"
if = "company.responsible_id"
input = { entity = { kind = "company", id = "{{ company.id }}" }, title = "Новая компания {{ company.short_name }}" }
"#;

async fn count(api: &Api, collection: &str) -> usize {
    items(
        &api.get(&format!("/api/v1/{collection}?limit=1000"))
            .await
            .body,
    )
    .len()
}

async fn counts(api: &Api) -> (usize, usize, usize) {
    (
        count(api, "contacts").await,
        count(api, "companies").await,
        count(api, "deals").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_becomes_company_contact_and_deal_once_with_a_hint_for_the_manager() {
    let site = Site::new(&[("after.toml", AFTER)]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let manager = created(
        &api,
        "/api/v1/users",
        json!({ "email": "ivan@s.example", "name": "Иван", "role": "manager" }),
    )
    .await;
    let lead = created(
        &api,
        "/api/v1/leads",
        json!({ "title": "Пекарня на Лесной", "name": "Пётр Соколов", "phone": "8 916 555-12-34",
                "email": "petr@bakery.example", "city": "Тверь", "topic": "Оборудование цеха",
                "source": "website", "status": "agreement_received", "responsible_id": manager }),
    )
    .await;

    let a = api
        .post(
            &format!("/api/v1/leads/{lead}/convert"),
            &json!({ "into": "company" }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        (a.body["contact"].clone(), a.body["company"].clone()),
        (json!("created"), json!("created"))
    );
    let copied: Vec<(&str, &str, bool)> = a.body["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["defined_now"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(copied, [("deal", "source", true), ("deal", "topic", true)]);
    let (deal, contact, company) = (
        a.body["deal_id"].as_str().unwrap().to_owned(),
        a.body["contact_id"].as_str().unwrap().to_owned(),
        a.body["company_id"].as_str().unwrap().to_owned(),
    );

    let c = api.get(&format!("/api/v1/contacts/{contact}")).await.body;
    assert_eq!(
        (c["first_name"].as_str(), c["last_name"].as_str()),
        (Some("Пётр"), Some("Соколов"))
    );
    assert_eq!(c["phones"], json!(["8 916 555-12-34"]));
    assert_eq!(c["emails"], json!(["petr@bakery.example"]));
    assert_eq!(c["company_id"], company.as_str());
    assert_eq!(c["responsible_id"], manager.as_str());
    let co = api.get(&format!("/api/v1/companies/{company}")).await.body;
    assert_eq!(co["short_name"], "Пекарня на Лесной");
    assert_eq!(co["region"], "Тверь");
    let d = api.get(&format!("/api/v1/deals/{deal}")).await.body;
    assert_eq!(d["title"], "Пекарня на Лесной");
    assert_eq!(
        (d["company_id"].as_str(), d["contact_id"].as_str()),
        (Some(company.as_str()), Some(contact.as_str()))
    );
    assert_eq!(
        d["custom_fields"],
        json!({ "source": "website", "topic": "Оборудование цеха" })
    );
    let l = api.get(&format!("/api/v1/leads/{lead}")).await.body;
    assert_eq!(l["status"], "converted");
    assert_eq!(l["converted_deal_id"], deal.as_str());
    assert_eq!(l["converted_company_id"], company.as_str());

    // Linked to each other and the lead, on every timeline.
    let links = |t: &Value| items(t).iter().filter(|e| e["kind"] == "link").count();
    assert_eq!(
        links(
            &api.get(&format!("/api/v1/leads/{lead}/timeline"))
                .await
                .body
        ),
        3
    );
    assert_eq!(
        links(
            &api.get(&format!("/api/v1/companies/{company}/timeline"))
                .await
                .body
        ),
        3
    );

    // The robot's hint lands on the deal.
    let timeline = api
        .wait_for(
            &format!("/api/v1/deals/{deal}/timeline"),
            Duration::from_secs(30),
            |t| items(t).iter().any(|e| e["kind"] == "note"),
        )
        .await;
    let note = items(&timeline)
        .iter()
        .find(|e| e["kind"] == "note")
        .unwrap();
    assert!(
        note["text"].as_str().unwrap().contains("Введите ИНН"),
        "{note}"
    );

    let again = api
        .post(
            &format!("/api/v1/leads/{lead}/convert"),
            &json!({ "into": "company" }),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        again.body["detail"]
            .as_str()
            .unwrap()
            .contains("already converted"),
        "{}",
        again.body
    );
    assert_eq!(counts(&api).await, (1, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_becomes_contact_and_deal_and_bad_conversions_change_nothing() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let lead = created(
        &api,
        "/api/v1/leads",
        json!({ "title": "Ремонт квартиры", "name": "Смирнова Елена Викторовна", "phone": "+7 903 111-22-33", "city": "Тверь" }),
    )
    .await;
    let path = format!("/api/v1/leads/{lead}/convert");
    for (bad, status, says) in [
        (json!({ "into": "org" }), 422, "unknown variant `org`"),
        (
            json!({ "into": "person", "company": { "short_name": "x" } }),
            422,
            "a private person has no company",
        ),
        (
            json!({ "into": "person", "use_existing": { "contact_id": "nope" } }),
            422,
            "use_existing.contact_id: no contact with id `nope`",
        ),
        (
            json!({ "into": "person", "contact": { "emails": ["not-an-email"] } }),
            422,
            "contact.emails",
        ),
        (
            json!({ "into": "person", "colour": "red" }),
            422,
            "unknown field `colour`",
        ),
    ] {
        let a = api.post(&path, &bad).await;
        assert_eq!(a.status, status, "{bad}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap_or_default().contains(says),
            "{says}: {}",
            a.body
        );
        assert_eq!(counts(&api).await, (0, 0, 0), "{bad}");
        assert_eq!(
            api.get(&format!("/api/v1/leads/{lead}")).await.body["status"],
            "new"
        );
    }
    assert_eq!(
        api.get("/api/v1/custom-fields/contact").await.body["fields"],
        json!([])
    );
    let missing = api.post("/api/v1/nope/x/convert", &json!({})).await;
    assert_eq!(missing.status, 404);

    let a = api.post(&path, &json!({ "into": "person" })).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["company_id"], Value::Null);
    let c = api
        .get(&format!(
            "/api/v1/contacts/{}",
            a.body["contact_id"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(
        (
            c["last_name"].as_str(),
            c["first_name"].as_str(),
            c["middle_name"].as_str()
        ),
        (Some("Смирнова"), Some("Елена"), Some("Викторовна"))
    );
    // A person has no region: the city went into a custom field.
    assert_eq!(c["custom_fields"]["city"], "Тверь");
    assert_eq!(counts(&api).await, (1, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversion_finds_duplicates_and_offers_three_ways_on() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let company = created(
        &api,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "ООО «Ромашка»", "inn": "7707083893" }),
    )
    .await;
    let contact = created(
        &api,
        "/api/v1/contacts",
        json!({ "first_name": "Сергей", "last_name": "Кузнецов", "phones": ["+7 495 123-45-67"],
                "emails": ["s.kuznetsov@romashka.example"], "company_id": company }),
    )
    .await;
    let lead = |title: &str| {
        json!({ "title": title, "name": "Сергей Кузнецов", "phone": "8 (495) 123-45-67",
                "email": "S.Kuznetsov@Romashka.example" })
    };
    let first = created(&api, "/api/v1/leads", lead("Ромашка ООО")).await;
    let path = format!("/api/v1/leads/{first}/convert");
    let a = api.post(&path, &json!({ "into": "company" })).await;
    assert_eq!(a.status, 409, "{}", a.body);
    let found: Vec<(String, String, Vec<String>)> = a.body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
                c["matched"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "contact".to_owned(),
                contact.clone(),
                vec!["email".to_owned(), "phone".to_owned()]
            ),
            (
                "company".to_owned(),
                company.clone(),
                vec!["name".to_owned()]
            ),
        ]
    );
    assert_eq!(a.body["ways_on"].as_array().unwrap().len(), 3);
    assert_eq!(counts(&api).await, (1, 1, 0));
    assert_eq!(
        api.get(&format!("/api/v1/leads/{first}")).await.body["status"],
        "new"
    );

    // Use what exists.
    let a = api
        .post(&path, &json!({ "into": "company", "use_existing": { "contact_id": contact, "company_id": company } }))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        (a.body["contact"].as_str(), a.body["company"].as_str()),
        (Some("existing"), Some("existing"))
    );
    assert_eq!(a.body["contact_id"], contact.as_str());
    assert_eq!(counts(&api).await, (1, 1, 1));

    // Merge: the stored contact gets the lead's other phone.
    let second = created(
        &api,
        "/api/v1/leads",
        json!({ "title": "Ромашка, склад", "name": "Сергей Кузнецов", "phone": "+7 916 000-00-01",
                "email": "s.kuznetsov@romashka.example" }),
    )
    .await;
    let a = api
        .post(
            &format!("/api/v1/leads/{second}/convert"),
            &json!({ "into": "person", "merge": { "contact_id": contact } }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["contact"], "merged");
    let c = api.get(&format!("/api/v1/contacts/{contact}")).await.body;
    assert_eq!(c["phones"], json!(["+7 495 123-45-67", "+7 916 000-00-01"]));
    assert_eq!(c["emails"], json!(["s.kuznetsov@romashka.example"]));

    // Field by field: the refusal lists where stored and lead disagree; a
    // merge takes the lead's value for the fields it names, keeps the rest.
    let fourth = created(
        &api,
        "/api/v1/leads",
        json!({ "title": "Ромашка, офис", "name": "Серёжа Кузнецов",
                "email": "s.kuznetsov@romashka.example" }),
    )
    .await;
    let path = format!("/api/v1/leads/{fourth}/convert");
    let a = api.post(&path, &json!({ "into": "person" })).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(
        a.body["candidates"][0]["differs"],
        json!([{ "field": "first_name", "stored": "Сергей", "lead": "Серёжа" }]),
        "{}",
        a.body
    );
    let wrong = api
        .post(
            &path,
            &json!({ "into": "person", "merge": { "contact_id": contact, "take": ["contact.position"] } }),
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(
        wrong.body["detail"]
            .as_str()
            .unwrap()
            .contains("contact.position"),
        "{}",
        wrong.body
    );
    let a = api
        .post(
            &path,
            &json!({ "into": "person", "merge": { "contact_id": contact, "take": ["contact.first_name"] } }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let c = api.get(&format!("/api/v1/contacts/{contact}")).await.body;
    assert_eq!(
        (c["first_name"].as_str(), c["last_name"].as_str()),
        (Some("Серёжа"), Some("Кузнецов"))
    );

    // Or create anyway.
    let third = created(&api, "/api/v1/leads", lead("Ромашка")).await;
    let a = api
        .post(
            &format!("/api/v1/leads/{third}/convert"),
            &json!({ "into": "company", "create_anyway": true }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    // Four deals: one per conversion; still the one stored contact and
    // company from before, plus this one's.
    assert_eq!(counts(&api).await, (2, 2, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_create_is_checked_by_each_key_and_groups_are_listed() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let vector = created(
        &api,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "ООО \"Вектор\"", "inn": "5001007329",
                "phone": "8 (495) 700-00-01", "email": "Office@Vector.example" }),
    )
    .await;
    for (body, key) in [
        (
            json!({ "kind": "organisation", "short_name": "Вектор ООО" }),
            "name",
        ),
        (
            json!({ "kind": "organisation", "short_name": "Другая", "inn": "5001007329" }),
            "inn",
        ),
        (
            json!({ "kind": "organisation", "short_name": "Третья", "phone": "+7 495 700 00 01" }),
            "phone",
        ),
        (
            json!({ "kind": "organisation", "short_name": "Четвёртая", "email": "office@vector.EXAMPLE" }),
            "email",
        ),
    ] {
        let a = api.post("/api/v1/companies", &body).await;
        assert_eq!(a.status, 409, "{body}: {}", a.body);
        assert_eq!(a.body["candidates"][0]["id"], vector.as_str());
        assert_eq!(
            a.body["candidates"][0]["matched"],
            json!([key]),
            "{}",
            a.body
        );
        assert_eq!(count(&api, "companies").await, 1);
    }
    let bad = api
        .post(
            "/api/v1/companies?on_duplicate=maybe",
            &json!({ "kind": "organisation", "short_name": "x" }),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let twin = created(
        &api,
        "/api/v1/companies?on_duplicate=create",
        json!({ "kind": "organisation", "short_name": "вектор" }),
    )
    .await;

    let ada = created(
        &api,
        "/api/v1/contacts",
        json!({ "first_name": "Ада", "last_name": "Лавлейс", "phones": ["8 916 123-45-67"] }),
    )
    .await;
    for body in [
        json!({ "first_name": "А", "last_name": "Л", "phones": ["+7 (916) 123-45-67"] }),
        json!({ "first_name": "А", "last_name": "Л", "phones": ["+7 999 000-00-00", "9161234567"] }),
    ] {
        let a = api.post("/api/v1/contacts", &body).await;
        assert_eq!(a.status, 409, "{body}: {}", a.body);
        assert_eq!(a.body["candidates"][0]["id"], ada.as_str());
    }
    // A changed record is keyed by its new values.
    api.patch(
        &format!("/api/v1/contacts/{ada}"),
        &json!({ "phones": ["+7 916 765-43-21"] }),
    )
    .await;
    created(
        &api,
        "/api/v1/contacts",
        json!({ "first_name": "Б", "last_name": "В", "phones": ["8 916 123-45-67"] }),
    )
    .await;

    let groups = api.get("/api/v1/duplicates?kind=company").await;
    assert_eq!(groups.status, 200, "{}", groups.body);
    let groups = groups.body["groups"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let mut ids: Vec<&str> = groups[0]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![vector.as_str(), twin.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert_eq!(groups[0]["shared"], json!([["name", "вектор"]]));
    assert_eq!(
        api.get("/api/v1/duplicates?kind=contact").await.body["groups"],
        json!([])
    );
    assert_eq!(api.get("/api/v1/duplicates").await.status, 400);
    assert_eq!(api.get("/api/v1/duplicates?kind=deal").await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_repoints_every_kind_of_link_and_deletes_the_other() {
    let site = Site::new(&[("welcome.toml", WELCOME)]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let manager = created(
        &api,
        "/api/v1/users",
        json!({ "email": "ivan@s.example", "name": "Иван", "role": "manager" }),
    )
    .await;
    let into = created(
        &api,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "Альфа", "inn": "7707083893" }),
    )
    .await;
    let from = created(
        &api,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "Альфа-Трейд", "phone": "+7 495 111-11-11", "region": "Москва", "responsible_id": manager }),
    )
    .await;
    let contact = created(
        &api,
        "/api/v1/contacts",
        json!({ "first_name": "Ия", "last_name": "Ли", "company_id": from }),
    )
    .await;
    let deal = created(
        &api,
        "/api/v1/deals",
        json!({ "title": "Поставка", "company_id": from, "contact_id": contact }),
    )
    .await;
    let invoice = created(
        &api,
        "/api/v1/invoices",
        json!({ "buyer_company_id": from, "currency": "RUB", "issue_date": "2026-12-03", "due_date": "2026-12-10",
                "items": [{ "name": "Насос", "quantity": "1", "price": "100.00", "vat_rate": "20" }] }),
    )
    .await;
    let task = created(
        &api,
        "/api/v1/tasks",
        json!({ "title": "Позвонить", "entity_kind": "company", "entity_id": from }),
    )
    .await;
    let request = created(
        &api,
        "/api/v1/payment-requests",
        json!({ "purpose": "Аренда", "contractor": "Альфа-Трейд", "contractor_company_id": from, "amount": "1000.00",
                "currency": "RUB", "pay_by": "2026-12-20", "inn": "7707083893", "bik": "044525225",
                "settlement_account": "40702810438000060473", "payment_purpose_text": "Оплата аренды" }),
    )
    .await;
    // Its welcome run and notification are about it too.
    api.wait_for(
        &format!("/api/v1/runs?entity_kind=company&entity_id={from}&status=completed"),
        std::time::Duration::from_secs(20),
        |b| !items(b).is_empty(),
    )
    .await;
    let lead = created(
        &api,
        "/api/v1/leads",
        json!({ "title": "Альфа: склад", "name": "Ия Ли" }),
    )
    .await;
    let converted = api
        .post(
            &format!("/api/v1/leads/{lead}/convert"),
            &json!({ "into": "company", "use_existing": { "company_id": from, "contact_id": contact } }),
        )
        .await;
    assert_eq!(converted.status, 201, "{}", converted.body);
    let lead_deal = converted.body["deal_id"].as_str().unwrap().to_owned();
    let merge = format!("/api/v1/companies/{into}/merge");

    for (bad, says) in [
        (json!({ "from": into }), "the record itself"),
        (json!({ "from": "nope" }), "from: no company with id `nope`"),
        (
            json!({ "from": from, "fields": { "fax": "from" } }),
            "fields.fax",
        ),
        (
            json!({ "from": from, "fields": { "phone": "maybe" } }),
            "unknown variant `maybe`",
        ),
    ] {
        let a = api.post(&merge, &bad).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap().contains(says),
            "{says}: {}",
            a.body
        );
        assert_eq!(
            api.get(&format!("/api/v1/companies/{from}")).await.status,
            200
        );
        assert_eq!(
            api.get(&format!("/api/v1/deals/{deal}")).await.body["company_id"],
            from.as_str()
        );
    }

    let a = api
        .post(
            &merge,
            &json!({ "from": from, "fields": { "short_name": "from" } }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let record = &a.body["record"];
    assert_eq!(record["short_name"], "Альфа-Трейд", "chosen from `from`");
    assert_eq!(record["inn"], "7707083893", "kept: `from` had none");
    assert_eq!(
        record["phone"], "+7 495 111-11-11",
        "filled: the survivor had none"
    );
    assert_eq!(
        a.body["repointed"],
        json!({ "contacts": 1, "deals": 2, "invoices": 1, "leads": 1, "notifications": 1, "payment_requests": 1, "runs": 1, "tasks": 1, "timeline": 4 })
    );

    assert_eq!(
        api.get(&format!("/api/v1/companies/{from}")).await.status,
        404
    );
    let runs = api
        .get(&format!(
            "/api/v1/runs?entity_kind=company&entity_id={into}&process=welcome"
        ))
        .await
        .body;
    assert_eq!(
        items(&runs).len(),
        2,
        "its own run and the merged one's: {runs}"
    );
    // Every record that pointed at `from` points at the survivor.
    for (path, field) in [
        (format!("/api/v1/contacts/{contact}"), "company_id"),
        (format!("/api/v1/deals/{deal}"), "company_id"),
        (format!("/api/v1/deals/{lead_deal}"), "company_id"),
        (format!("/api/v1/leads/{lead}"), "converted_company_id"),
        (format!("/api/v1/invoices/{invoice}"), "buyer_company_id"),
        (format!("/api/v1/tasks/{task}"), "entity_id"),
        (
            format!("/api/v1/payment-requests/{request}"),
            "contractor_company_id",
        ),
    ] {
        assert_eq!(
            api.get(&path).await.body[field],
            into.as_str(),
            "{path} {field}"
        );
    }
    let timeline = api
        .get(&format!("/api/v1/companies/{into}/timeline"))
        .await
        .body;
    let kinds: Vec<&str> = items(&timeline)
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "created").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"merged"), "{kinds:?}");

    // Contacts: phones and e-mails are united, the same number once.
    let x = created(
        &api,
        "/api/v1/contacts",
        json!({ "first_name": "Икс", "last_name": "Игрек", "phones": ["8 916 000-00-02"] }),
    )
    .await;
    let y = created(
        &api,
        "/api/v1/contacts?on_duplicate=create",
        json!({ "first_name": "Икс", "last_name": "Игреков", "phones": ["+7 916 000-00-02", "+7 916 000-00-03"], "emails": ["x@y.example"] }),
    )
    .await;
    let a = api
        .post(
            &format!("/api/v1/contacts/{x}/merge"),
            &json!({ "from": y }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["record"]["phones"],
        json!(["8 916 000-00-02", "+7 916 000-00-03"])
    );
    assert_eq!(a.body["record"]["emails"], json!(["x@y.example"]));
    assert_eq!(a.body["record"]["last_name"], "Игрек");
    assert_eq!(
        api.get("/api/v1/duplicates?kind=contact").await.body["groups"],
        json!([])
    );
}
