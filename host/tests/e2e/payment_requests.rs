//! Scenario 3's form through the real binary: a draft may be incomplete,
//! sending it for approval needs every required field with valid
//! requisites, what a contractor was paid with before fills the next
//! request, and comments go on the request's history.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::server::{Api, Site};
use common::{created, created_record, items};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_may_be_incomplete_but_not_a_request_sent_for_approval() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, Some(&site.token("manager")));
    let draft = created_record(
        &api,
        "/api/v1/payment-requests",
        json!({ "purpose": "Аренда склада" }),
    )
    .await;
    assert_eq!(
        (draft["status"].as_str(), draft["currency"].as_str()),
        (Some("draft"), Some("RUB"))
    );
    let path = format!("/api/v1/payment-requests/{}", draft["id"].as_str().unwrap());

    let sent = api.patch(&path, &json!({ "status": "on_approval" })).await;
    assert_eq!(sent.status, 422, "{}", sent.body);
    assert_eq!(sent.body["payment_request_status"], "on_approval");
    assert_eq!(
        sent.body["missing"],
        json!([
            "contractor",
            "amount",
            "pay_by",
            "inn",
            "settlement_account",
            "payment_purpose_text"
        ])
    );
    for (bad, field) in [
        (json!({ "inn": "7707083894" }), "payment-request.inn"),
        (json!({ "kpp": "77360100" }), "payment-request.kpp"),
        (
            json!({ "settlement_account": "40702810438000060473" }),
            "payment-request.settlement_account",
        ),
        (
            json!({ "bik": "044525225", "settlement_account": "40702810438000060474" }),
            "payment-request.settlement_account",
        ),
        (json!({ "amount": "0" }), "payment-request.amount"),
    ] {
        let a = api.patch(&path, &bad).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.body);
        assert_eq!(a.body["field"], field, "{}", a.body);
    }
    let unchanged = api.get(&path).await.body;
    assert_eq!(
        (unchanged["status"].as_str(), unchanged["version"].as_i64()),
        (Some("draft"), Some(1))
    );
    // An incomplete draft is edited like any other (no amount yet is fine).
    let renamed = api
        .patch(&path, &json!({ "purpose": "Аренда склада, декабрь" }))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);

    let sent = api
        .patch(
            &path,
            &json!({ "status": "on_approval", "contractor": "ПАО Сбербанк", "amount": "120000.00", "pay_by": "2026-12-20",
                     "inn": "7707083893", "kpp": "773601001", "bik": "044525225", "settlement_account": "40702810438000060473",
                     "payment_purpose_text": "Оплата аренды склада за декабрь 2026 г. НДС не облагается" }),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["status"], "on_approval");
    // Once sent, a required field cannot be emptied; no request is born
    // approved or paid.
    let born = api
        .post(
            "/api/v1/payment-requests",
            &json!({ "purpose": "x", "contractor": "y", "amount": "1.00", "pay_by": "2026-12-20", "inn": "7707083893",
                     "bik": "044525225", "settlement_account": "40702810438000060473", "payment_purpose_text": "z",
                     "status": "approved" }),
        )
        .await;
    assert_eq!(born.status, 422, "{}", born.body);
    assert!(
        born.body["detail"]
            .as_str()
            .unwrap()
            .contains("starts as draft or on_approval")
    );
    // On approval the request is what the approver sees: it is not edited.
    let emptied = api
        .patch(&path, &json!({ "payment_purpose_text": null }))
        .await;
    assert_eq!(emptied.status, 403, "{}", emptied.body);
    assert!(
        emptied.body["detail"]
            .as_str()
            .unwrap()
            .contains("on_approval is not edited"),
        "{}",
        emptied.body
    );
    assert_eq!(
        api.get(&path).await.body["payment_purpose_text"],
        "Оплата аренды склада за декабрь 2026 г. НДС не облагается"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_contractor_was_paid_with_fills_the_next_request() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let first = created(
        &api,
        "/api/v1/payment-requests",
        json!({ "purpose": "Аренда за ноябрь", "contractor": "ПАО Сбербанк", "amount": "120000.00", "pay_by": "2026-11-20",
                "inn": "7707083893", "kpp": "773601001", "bik": "044525225", "settlement_account": "40702810438000060473",
                "correspondent_account": "30101810400000000225", "payment_purpose_text": "Оплата аренды склада" }),
    )
    .await;

    let a = api
        .get("/api/v1/payment-requests/prefill?inn=7707083893")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["source"], format!("payment-request {first}"));
    assert_eq!(
        a.body["fields"]["settlement_account"],
        "40702810438000060473"
    );
    assert_eq!(
        a.body["fields"]["payment_purpose_text"],
        "Оплата аренды склада"
    );
    let by_name = api.get("/api/v1/payment-requests/prefill?contractor=%D0%BF%D0%B0%D0%BE%20%D1%81%D0%B1%D0%B5%D1%80%D0%B1%D0%B0%D0%BD%D0%BA").await;
    assert_eq!(
        by_name.body["source"],
        format!("payment-request {first}"),
        "{}",
        by_name.body
    );

    // A new request with only the INN takes the rest from the last one.
    let next = created_record(
        &api,
        "/api/v1/payment-requests",
        json!({ "inn": "7707083893", "purpose": "Аренда за декабрь", "amount": "120000.00", "pay_by": "2026-12-20" }),
    )
    .await;
    assert_eq!(next["contractor"], "ПАО Сбербанк");
    assert_eq!(next["bik"], "044525225");
    assert_eq!(next["correspondent_account"], "30101810400000000225");
    assert_eq!(next["payment_purpose_text"], "Оплата аренды склада");
    assert_eq!(next["purpose"], "Аренда за декабрь", "what was given stays");
    // A later draft begun with only the contractor's name (no bank details)
    // does not shadow how they were paid.
    created(
        &api,
        "/api/v1/payment-requests",
        json!({ "purpose": "Черновик", "contractor": "ПАО Сбербанк", "inn": "7707083893",
                "settlement_account": null, "bik": null }),
    )
    .await;
    for query in [
        "inn=7707083893",
        "contractor=%D0%BF%D0%B0%D0%BE%20%D1%81%D0%B1%D0%B5%D1%80%D0%B1%D0%B0%D0%BD%D0%BA",
    ] {
        let again = api
            .get(&format!("/api/v1/payment-requests/prefill?{query}"))
            .await;
        assert_eq!(
            again.body["fields"]["settlement_account"], "40702810438000060473",
            "{query}: {}",
            again.body
        );
    }

    // Never paid: the company record's requisites.
    let company = created(
        &api,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "ООО «Вектор»", "inn": "5001007329", "kpp": "500101001",
                "bik": "044525225", "settlement_account": "40702810438000060473" }),
    )
    .await;
    let a = api
        .get("/api/v1/payment-requests/prefill?inn=5001007329")
        .await;
    assert_eq!(a.body["source"], format!("company {company}"), "{}", a.body);
    assert_eq!(a.body["fields"]["contractor"], "ООО «Вектор»");
    assert_eq!(a.body["fields"]["contractor_company_id"], company.as_str());

    for (path, status) in [
        ("/api/v1/payment-requests/prefill?inn=7712345671", 404),
        ("/api/v1/payment-requests/prefill?inn=7707083894", 400),
        ("/api/v1/payment-requests/prefill", 400),
        ("/api/v1/payment-requests/prefill?bik=044525225", 400),
    ] {
        let a = api.get(path).await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_go_on_the_history_and_the_timeline() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let id = created(
        &api,
        "/api/v1/payment-requests",
        json!({ "purpose": "Аренда" }),
    )
    .await;
    let a = api
        .post(
            &format!("/api/v1/payment-requests/{id}/comments"),
            &json!({ "text": "Счёт поставщика будет завтра" }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["status"], "draft");
    let timeline = api
        .get(&format!("/api/v1/payment-requests/{id}/timeline"))
        .await
        .body;
    let comments: Vec<&str> = items(&timeline)
        .iter()
        .filter(|e| e["kind"] == "comment")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(comments, ["Счёт поставщика будет завтра"]);
    for (path, body, status) in [
        (
            format!("/api/v1/payment-requests/{id}/comments"),
            json!({ "text": "  " }),
            422,
        ),
        (
            format!("/api/v1/payment-requests/{id}/comments"),
            json!({ "comment": "x" }),
            422,
        ),
        (
            "/api/v1/payment-requests/nope/comments".to_owned(),
            json!({ "text": "x" }),
            404,
        ),
    ] {
        let a = api.post(&path, &body).await;
        assert_eq!(a.status, status, "{path} {body}: {}", a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_paid_only_with_its_payment_order_stored() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let id = created(
        &api,
        "/api/v1/payment-requests",
        json!({ "purpose": "Аренда", "contractor": "ПАО Сбербанк", "amount": "1000.00", "pay_by": "2026-12-20",
                "inn": "7707083893", "bik": "044525225", "settlement_account": "40702810438000060473",
                "payment_purpose_text": "Оплата аренды", "status": "on_approval" }),
    )
    .await;
    let path = format!("/api/v1/payment-requests/{id}");
    assert_eq!(
        api.patch(&path, &json!({ "status": "approved" }))
            .await
            .status,
        200
    );

    let paid = api.patch(&path, &json!({ "status": "paid" })).await;
    assert_eq!(paid.status, 422, "{}", paid.body);
    assert!(
        paid.body["detail"]
            .as_str()
            .unwrap()
            .contains("payment order"),
        "{}",
        paid.body
    );
    assert_eq!(api.get(&path).await.body["status"], "approved");

    // The manager attaches the contractor's invoice, the accountant the order.
    let put = |name: &str, body: Vec<u8>| {
        let (api, file) = (api.clone(), format!("{path}/files/{name}"));
        async move { api.put_bytes(&file, "application/pdf", body).await.status }
    };
    assert_eq!(
        put("contractor-invoice.pdf", b"%PDF-1.4 invoice".to_vec()).await,
        201
    );
    assert_eq!(
        api.patch(&path, &json!({ "status": "paid" })).await.status,
        422,
        "not the order"
    );
    assert_eq!(
        put("payment-order.pdf", Vec::new()).await,
        400,
        "an empty file"
    );
    assert_eq!(
        put("payment-order.pdf", vec![b'x'; 11 << 20]).await,
        413,
        "too large"
    );
    let files = api.get(&format!("{path}/files")).await.body;
    assert_eq!(items(&files).len(), 1, "{files}");
    assert_eq!(
        put("payment-order.pdf", b"%PDF-1.4 order".to_vec()).await,
        201
    );
    let paid = api.patch(&path, &json!({ "status": "paid" })).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    let (status, content_type, bytes) = api
        .get_bytes(&format!("{path}/files/payment-order.pdf"))
        .await;
    assert_eq!(
        (status, content_type.as_str(), bytes.as_slice()),
        (200, "application/pdf", &b"%PDF-1.4 order"[..])
    );

    let missing = api
        .put_bytes(
            "/api/v1/payment-requests/nope/files/x.pdf",
            "application/pdf",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_shows_approved_requests_by_day_with_exact_totals() {
    use chrono::{Datelike as _, Duration, Utc};
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let today = Utc::now().date_naive();
    let monday = today + Duration::days(7 - i64::from(today.weekday().num_days_from_monday()));
    let tuesday = monday + Duration::days(1);
    let past = today - Duration::days(10);
    let request = |contractor: &str,
                   amount: &str,
                   currency: &str,
                   pay_by: chrono::NaiveDate,
                   status: &str| {
        json!({ "purpose": format!("Оплата {contractor}"), "contractor": contractor, "amount": amount,
                "currency": currency, "pay_by": pay_by.to_string(), "inn": "7707083893", "bik": "044525225",
                "settlement_account": "40702810438000060473", "payment_purpose_text": "Оплата по счёту", "status": status })
    };
    let a = created(
        &api,
        "/api/v1/payment-requests",
        request("ООО «Альфа»", "1000.10", "RUB", monday, "on_approval"),
    )
    .await;
    let b = created(
        &api,
        "/api/v1/payment-requests",
        request("ООО «Бета»", "2000.20", "RUB", monday, "on_approval"),
    )
    .await;
    let c = created(
        &api,
        "/api/v1/payment-requests",
        request("Gamma GmbH", "50.00", "EUR", tuesday, "on_approval"),
    )
    .await;
    for id in [&a, &b, &c] {
        let path = format!("/api/v1/payment-requests/{id}");
        assert_eq!(
            api.patch(&path, &json!({ "status": "approved" }))
                .await
                .status,
            200
        );
    }
    api.put_bytes(
        &format!("/api/v1/payment-requests/{c}/files/payment-order.pdf"),
        "application/pdf",
        b"%PDF order".to_vec(),
    )
    .await;
    assert_eq!(
        api.patch(
            &format!("/api/v1/payment-requests/{c}"),
            &json!({ "status": "paid" })
        )
        .await
        .status,
        200
    );
    let hidden = [
        created(
            &api,
            "/api/v1/payment-requests",
            json!({ "purpose": "Черновик", "pay_by": monday.to_string() }),
        )
        .await,
        created(
            &api,
            "/api/v1/payment-requests",
            request("ООО «Дельта»", "5.00", "RUB", monday, "on_approval"),
        )
        .await,
    ];
    let rejected = created(
        &api,
        "/api/v1/payment-requests",
        request("ООО «Эпсилон»", "7.00", "RUB", monday, "on_approval"),
    )
    .await;
    api.patch(
        &format!("/api/v1/payment-requests/{rejected}"),
        &json!({ "status": "rejected" }),
    )
    .await;
    let late = created(
        &api,
        "/api/v1/payment-requests",
        request("ООО «Поздно»", "10.00", "RUB", past, "on_approval"),
    )
    .await;
    api.patch(
        &format!("/api/v1/payment-requests/{late}"),
        &json!({ "status": "approved" }),
    )
    .await;

    let week = api
        .get(&format!(
            "/api/v1/payment-registry?period=week&date={monday}"
        ))
        .await;
    assert_eq!(week.status, 200, "{}", week.body);
    let body = week.body.to_string();
    for id in hidden.iter().chain([&rejected, &late]) {
        assert!(!body.contains(id.as_str()), "{id} must not show: {body}");
    }
    let days = week.body["days"].as_array().unwrap();
    assert_eq!(days.len(), 2, "{body}");
    assert_eq!(days[0]["date"], monday.to_string());
    let ids: Vec<&str> = days[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    assert_eq!(days[0]["totals"], json!({ "RUB": "3000.30" }));
    assert_eq!(days[1]["totals"], json!({ "EUR": "50.00" }));
    assert_eq!(
        week.body["totals"],
        json!({ "EUR": "50.00", "RUB": "3000.30" })
    );
    assert_eq!(days[1]["rows"][0]["files"][0]["name"], "payment-order.pdf");
    assert_eq!(
        days[0]["rows"][0]["url"],
        format!("/api/v1/payment-requests/{a}")
    );
    assert_eq!(week.body["overdue"], 0);

    let day = api
        .get(&format!(
            "/api/v1/payment-registry?period=day&date={tuesday}&status=paid"
        ))
        .await
        .body;
    assert_eq!(day["days"][0]["rows"][0]["id"], c.as_str());
    let euro = api
        .get(&format!(
            "/api/v1/payment-registry?date={monday}&currency=eur"
        ))
        .await
        .body;
    assert_eq!(euro["totals"], json!({ "EUR": "50.00" }));
    let by_name = api
        .get(&format!(
            "/api/v1/payment-registry?date={monday}&contractor=%D0%B1%D0%B5%D1%82%D0%B0"
        ))
        .await
        .body;
    assert_eq!(by_name["totals"], json!({ "RUB": "2000.20" }), "{by_name}");
    let overdue = api
        .get(&format!(
            "/api/v1/payment-registry?period=month&date={past}"
        ))
        .await
        .body;
    let flagged: Vec<&Value> = overdue["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["rows"].as_array().unwrap())
        .filter(|r| r["overdue"] == true)
        .collect();
    assert_eq!(flagged.len(), 1, "{overdue}");
    assert_eq!(flagged[0]["id"], late.as_str());

    for (path, says) in [
        ("/api/v1/payment-registry?period=year", "period `year`"),
        ("/api/v1/payment-registry?date=03.12.2026", "is not a date"),
        ("/api/v1/payment-registry?status=draft", "status `draft`"),
        (
            "/api/v1/payment-registry?sort=amount",
            "unknown parameter `sort`",
        ),
    ] {
        let a = api.get(path).await;
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap().contains(says),
            "{says}: {}",
            a.body
        );
    }
}

const APPROVE: &str = include_str!("../../../examples/processes/approve-payment-request.toml");
const RETURNED: &str = include_str!("../../../examples/processes/payment-request-returned.toml");
const PAID: &str = include_str!("../../../examples/processes/payment-request-paid.toml");
const APPROVED: &str = include_str!("../../../examples/processes/payment-request-approved.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_returned_resent_paid_and_the_contractor_told() {
    use std::time::Duration;
    let site = Site::new(&[
        ("approve.toml", APPROVE),
        ("returned.toml", RETURNED),
        ("paid.toml", PAID),
        ("approved.toml", APPROVED),
    ]);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let head = Api::new(&server.url, Some(&site.token("head_of_sales")));
    let accountant = Api::new(&server.url, Some(&site.token("accountant")));
    let author = created(
        &admin,
        "/api/v1/users",
        json!({ "email": "ivan@s.example", "name": "Иван", "role": "manager" }),
    )
    .await;
    let bookkeeper = created(
        &admin,
        "/api/v1/users",
        json!({ "email": "buh@s.example", "name": "Мария", "role": "accountant" }),
    )
    .await;
    let company = created(
        &admin,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "ООО «Арендодатель»", "inn": "5001007329", "email": "buh@landlord.example" }),
    )
    .await;
    let id = created(
        &admin,
        "/api/v1/payment-requests",
        json!({ "purpose": "Аренда склада", "contractor": "ООО «Арендодатель»", "contractor_company_id": company,
                "amount": "120000.00", "pay_by": "2026-12-20", "inn": "5001007329", "bik": "044525225",
                "settlement_account": "40702810438000060473", "payment_purpose_text": "Оплата аренды за декабрь",
                "author_id": author, "status": "on_approval" }),
    )
    .await;
    let path = format!("/api/v1/payment-requests/{id}");
    let approve = |n: usize| {
        let head = head.clone();
        async move {
            let open = head
                .wait_for(
                    "/api/v1/approvals?status=pending",
                    Duration::from_secs(20),
                    |b| !items(b).is_empty(),
                )
                .await;
            let approval = items(&open)[0]["id"].as_str().unwrap().to_owned();
            let a = head
                .post(
                    &format!("/api/v1/approvals/{approval}/approve"),
                    &json!({ "comment": format!("ok {n}") }),
                )
                .await;
            assert_eq!(a.status, 200, "{}", a.body);
        }
    };
    approve(1).await;
    admin
        .wait_for(&path, Duration::from_secs(20), |r| {
            r["status"] == "approved"
        })
        .await;

    // Accounting returns it: out of the registry, a task for the author.
    let not_yet = accountant
        .post(
            "/api/v1/payment-requests/nope/return",
            &json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(not_yet.status, 404);
    let a = accountant
        .post(
            &format!("{path}/return"),
            &json!({ "reason": "Нет счёта арендодателя" }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(admin.get(&path).await.body["status"], "draft");
    let again = accountant
        .post(&format!("{path}/return"), &json!({ "reason": "x" }))
        .await;
    assert_eq!(again.status, 409, "only an approved one: {}", again.body);
    let tasks = admin
        .wait_for(
            &format!("/api/v1/tasks?assignee_id={author}"),
            Duration::from_secs(20),
            |b| !items(b).is_empty(),
        )
        .await;
    assert!(
        items(&tasks)[0]["description"]
            .as_str()
            .unwrap()
            .contains("Нет счёта арендодателя"),
        "{tasks}"
    );
    let registry = admin
        .get("/api/v1/payment-registry?period=month&date=2026-12-20")
        .await
        .body;
    assert!(!registry.to_string().contains(&id), "{registry}");

    // The author fixes it and sends it again; approved again, then paid.
    assert_eq!(
        admin
            .put_bytes(
                &format!("{path}/files/contractor-invoice.pdf"),
                "application/pdf",
                b"%PDF inv".to_vec()
            )
            .await
            .status,
        201
    );
    assert_eq!(
        admin
            .patch(&path, &json!({ "status": "on_approval" }))
            .await
            .status,
        200
    );
    approve(2).await;
    admin
        .wait_for(&path, Duration::from_secs(20), |r| {
            r["status"] == "approved"
        })
        .await;
    // The author and every accountant heard of each approval (the
    // process runs after the status it reacts to).
    let db = site.database().await;
    let started = std::time::Instant::now();
    loop {
        let heard: Vec<(String, String)> = common::server::rows(
            &db,
            "SELECT user_id, title FROM notifications WHERE entity_id = ?1 ORDER BY created_at",
            vec![id.as_str().into()],
        )
        .await
        .into_iter()
        .map(|r| (r.string(0).unwrap(), r.string(1).unwrap()))
        .collect();
        let count = |user: &str, title: &str| {
            heard
                .iter()
                .filter(|(u, t)| u == user && t.starts_with(title))
                .count()
        };
        let counts = (
            count(&author, "Заявка согласована"),
            count(&bookkeeper, "К оплате до 20.12.2026"),
        );
        if counts == (2, 2) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{heard:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        accountant
            .put_bytes(
                &format!("{path}/files/payment-order.pdf"),
                "application/pdf",
                b"%PDF order".to_vec()
            )
            .await
            .status,
        201
    );
    let paid = accountant.patch(&path, &json!({ "status": "paid" })).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert!(paid.body["paid_date"].is_string(), "{}", paid.body);

    let outbox = admin
        .wait_for("/api/v1/outbox", Duration::from_secs(20), |b| {
            !items(b).is_empty()
        })
        .await;
    let mail = admin
        .get(&format!(
            "/api/v1/outbox/{}",
            items(&outbox)[0]["id"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(mail["to"], json!(["buh@landlord.example"]), "{mail}");
    assert_eq!(mail["subject"], "Оплата: Аренда склада");
    assert!(
        mail["text_body"]
            .as_str()
            .unwrap()
            .contains("120\u{a0}000,00\u{a0}₽"),
        "{mail}"
    );
    assert!(
        mail.to_string().contains("Платёжное поручение.pdf"),
        "{mail}"
    );
    let history = admin.get(&format!("{path}/timeline")).await.body;
    let comments: Vec<&str> = items(&history)
        .iter()
        .filter(|e| e["kind"] == "comment")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(comments, ["Returned for rework: Нет счёта арендодателя"]);
}
