//! Scenario 3 as its people live it, through the real binary and the
//! example processes: everyone involved hears of each move of a payment
//! request (in the app, and by e-mail where they asked for it), and the
//! accountant's registry opens with the view they saved.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::server::{Api, Site};
use common::{created, items};
use serde_json::{Value, json};
use std::time::Duration;

const APPROVE: &str = include_str!("../../../examples/processes/approve-payment-request.toml");
const APPROVED: &str = include_str!("../../../examples/processes/payment-request-approved.toml");
const RETURNED: &str = include_str!("../../../examples/processes/payment-request-returned.toml");
const PAID: &str = include_str!("../../../examples/processes/payment-request-paid.toml");

const WAIT: Duration = Duration::from_secs(20);

/// The titles of `api`'s notifications, oldest first, once `done` holds
/// for them.
async fn heard(api: &Api, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let body = api
        .wait_for("/api/v1/me/notifications?limit=1000", WAIT, |b| {
            let mut titles: Vec<String> = items(b)
                .iter()
                .map(|n| n["title"].as_str().unwrap().to_owned())
                .collect();
            titles.reverse();
            done(&titles)
        })
        .await;
    let mut titles: Vec<String> = items(&body)
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect();
    titles.reverse();
    titles
}

fn count(titles: &[String], start: &str) -> usize {
    titles.iter().filter(|t| t.starts_with(start)).count()
}

/// Decides the one pending approval as the head of sales.
async fn decide(head: &Api, how: &str, comment: &str) {
    let open = head
        .wait_for("/api/v1/approvals", WAIT, |b| !items(b).is_empty())
        .await;
    let id = items(&open)[0]["id"].as_str().unwrap();
    let a = head
        .post(
            &format!("/api/v1/approvals/{id}/{how}"),
            &json!({ "comment": comment }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_involved_hears_of_each_move_and_by_email_where_they_asked() {
    let site = Site::new(&[
        ("approve.toml", APPROVE),
        ("approved.toml", APPROVED),
        ("returned.toml", RETURNED),
        ("paid.toml", PAID),
    ]);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let (author_id, author) = site.user("manager");
    let (_, head) = site.user("head_of_sales");
    let (acc_id, acc) = site.user("accountant");
    let (author, head, acc) = (
        Api::new(&server.url, Some(&author)),
        Api::new(&server.url, Some(&head)),
        Api::new(&server.url, Some(&acc)),
    );

    // Who am I, and the accountant wants notifications by e-mail too.
    let me = acc.get("/api/v1/me").await.body;
    assert_eq!(
        (me["role"].as_str(), me["user"]["id"].as_str()),
        (Some("accountant"), Some(acc_id.as_str()))
    );
    let acc_email = me["user"]["email"].as_str().unwrap().to_owned();
    let bad = acc
        .put(
            "/api/v1/me/preferences",
            &json!({ "notify_by_email": "yes" }),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    let wants = acc
        .put(
            "/api/v1/me/preferences",
            &json!({ "notify_by_email": true }),
        )
        .await;
    assert_eq!(wants.status, 200, "{}", wants.body);
    assert_eq!(
        admin.get(&format!("/api/v1/users/{acc_id}")).await.body["notify_by_email"],
        true
    );
    let nobody = admin.get("/api/v1/me/notifications").await;
    assert_eq!(nobody.status, 422, "a role-only token has no inbox");

    let id = created(
        &author,
        "/api/v1/payment-requests",
        json!({ "purpose": "Аренда склада", "contractor": "ООО «Арендодатель»", "amount": "120000.00",
                "pay_by": "2026-12-20", "inn": "5001007329", "bik": "044525225",
                "settlement_account": "40702810438000060473", "payment_purpose_text": "Оплата аренды за декабрь" }),
    )
    .await;
    let path = format!("/api/v1/payment-requests/{id}");
    let send = |api: Api, status: &'static str| {
        let path = path.clone();
        async move {
            let a = api.patch(&path, &json!({ "status": status })).await;
            assert_eq!(a.status, 200, "{status}: {}", a.body);
        }
    };

    // Sent: the heads of sales hear of it.
    send(author.clone(), "on_approval").await;
    heard(&head, |t| count(t, "На согласование: Аренда склада") == 1).await;
    // Rejected: the author hears why (and gets a task to rework it).
    decide(&head, "reject", "Нет договора аренды").await;
    let told = heard(&author, |t| count(t, "Заявка отклонена") == 1).await;
    let inbox = author.get("/api/v1/me/notifications").await.body;
    let rejected = items(&inbox)
        .iter()
        .find(|n| n["title"].as_str().unwrap().starts_with("Заявка отклонена"))
        .unwrap();
    assert_eq!(rejected["body"], "Причина: Нет договора аренды", "{told:?}");
    assert_eq!(rejected["entity_id"].as_str(), Some(id.as_str()));

    // Reworked, sent again, approved: the author and accounting hear.
    send(author.clone(), "draft").await;
    send(author.clone(), "on_approval").await;
    decide(&head, "approve", "ок").await;
    heard(&author, |t| count(t, "Заявка согласована") == 1).await;
    heard(&acc, |t| count(t, "К оплате до 20.12.2026") == 1).await;
    // Returned by accounting: the author hears the reason.
    let back = acc
        .post(&format!("{path}/return"), &json!({ "reason": "Нет счёта" }))
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    heard(&author, |t| count(t, "Бухгалтерия вернула заявку") == 1).await;
    // Sent, approved and paid: everyone hears again.
    send(author.clone(), "on_approval").await;
    decide(&head, "approve", "ок").await;
    heard(&acc, |t| count(t, "К оплате до") == 2).await;
    let order = acc
        .put_bytes(
            &format!("{path}/files/payment-order.pdf"),
            "application/pdf",
            b"%PDF order".to_vec(),
        )
        .await;
    assert_eq!(order.status, 201);
    send(acc.clone(), "paid").await;
    let all = heard(&author, |t| count(t, "Заявка оплачена") == 1).await;
    assert_eq!(
        [
            count(&all, "Заявка отклонена"),
            count(&all, "Заявка согласована"),
            count(&all, "Бухгалтерия вернула"),
            count(&all, "Заявка оплачена")
        ],
        [1, 2, 1, 1],
        "{all:?}"
    );
    assert_eq!(count(&heard(&head, |_| true).await, "На согласование"), 3);

    // The accountant's notifications came by e-mail too; the author's not.
    let outbox = admin.get("/api/v1/outbox?limit=1000").await.body;
    let to = |who: &str| {
        items(&outbox)
            .iter()
            .filter(|m| m["to"].to_string().contains(who))
            .map(|m| m["subject"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let mailed = to(&acc_email);
    assert_eq!(count(&mailed, "К оплате до 20.12.2026"), 2, "{outbox}");
    let author_email = admin.get(&format!("/api/v1/users/{author_id}")).await.body["email"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(to(&author_email).is_empty(), "{outbox}");

    // Read one: the counter drops; another's notification is not yours.
    let unread = author.get("/api/v1/me").await.body["unread_notifications"]
        .as_i64()
        .unwrap();
    assert_eq!(unread, 5);
    let first = author
        .get("/api/v1/me/notifications?unread=true&limit=1")
        .await
        .body;
    let first_id = items(&first)[0]["id"].as_str().unwrap().to_owned();
    assert!(first["next_cursor"].is_string());
    assert_eq!(
        acc.post(
            &format!("/api/v1/me/notifications/{first_id}/read"),
            &json!({})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        author
            .post(
                &format!("/api/v1/me/notifications/{first_id}/read"),
                &json!({})
            )
            .await
            .status,
        204
    );
    let after = author
        .get("/api/v1/me/notifications?unread=true")
        .await
        .body;
    assert_eq!(after["unread"], 4);
    assert!(!after.to_string().contains(&first_id));
}

/// The ids and statuses of a registry answer's rows.
fn rows(registry: &Value) -> Vec<(String, String)> {
    registry["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["rows"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_opens_with_the_view_its_user_saved() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let (_, author) = site.user("manager");
    let (_, head) = site.user("head_of_sales");
    let (_, acc) = site.user("accountant");
    let (_, other) = site.user("accountant");
    let api = |t: &str| Api::new(&server.url, Some(t));
    let (author, head, acc, other) = (api(&author), api(&head), api(&acc), api(&other));
    let request = |pay_by: &str| {
        json!({ "purpose": "Поставка", "contractor": "ООО «Арендодатель»", "amount": "10.00",
                "pay_by": pay_by, "inn": "5001007329", "bik": "044525225",
                "settlement_account": "40702810438000060473", "payment_purpose_text": "Оплата" })
    };
    let mut ids = Vec::new();
    for pay_by in ["2026-12-02", "2026-12-21"] {
        let id = created(&author, "/api/v1/payment-requests", request(pay_by)).await;
        let path = format!("/api/v1/payment-requests/{id}");
        for (api, status) in [(&author, "on_approval"), (&head, "approved")] {
            let a = api.patch(&path, &json!({ "status": status })).await;
            assert_eq!(a.status, 200, "{}", a.body);
        }
        ids.push(id);
    }
    let path = format!("/api/v1/payment-requests/{}", ids[0]);
    acc.put_bytes(
        &format!("{path}/files/payment-order.pdf"),
        "application/pdf",
        b"%PDF".to_vec(),
    )
    .await;
    let paid = acc.patch(&path, &json!({ "status": "paid" })).await;
    assert_eq!(paid.status, 200, "{}", paid.body);

    // Nothing saved: the week around the date, every status.
    let week = acc
        .get("/api/v1/payment-registry?date=2026-12-21")
        .await
        .body;
    assert_eq!(week["period"], "week");
    assert_eq!(rows(&week), [(ids[1].clone(), "approved".to_owned())]);

    // Bad views are refused by name and change nothing.
    for (body, what) in [
        (json!({ "period": "year" }), "period `year`"),
        (json!({ "status": "draft" }), "status `draft`"),
        (json!({ "currency": "рубли" }), "currency"),
        (json!({ "colour": "red" }), "unknown field"),
    ] {
        let a = acc.put("/api/v1/me/filters/payment-registry", &body).await;
        assert!(matches!(a.status, 400 | 422), "{body}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap().contains(what),
            "{}",
            a.body
        );
    }
    assert_eq!(
        acc.get("/api/v1/me/filters/payment-registry").await.body["filter"],
        Value::Null
    );
    assert_eq!(
        acc.put("/api/v1/me/filters/deals", &json!({})).await.status,
        404
    );

    // Saved: the month, approved only; the query still wins where it speaks.
    let saved = acc
        .put(
            "/api/v1/me/filters/payment-registry",
            &json!({ "period": "month", "status": "approved", "currency": "rub" }),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(saved.body["filter"]["currency"], "RUB");
    let mine = acc
        .get("/api/v1/payment-registry?date=2026-12-21")
        .await
        .body;
    assert_eq!(mine["period"], "month");
    assert_eq!(mine["view"]["status"], "approved");
    assert_eq!(rows(&mine), [(ids[1].clone(), "approved".to_owned())]);
    let paid_too = acc
        .get("/api/v1/payment-registry?date=2026-12-21&status=paid")
        .await
        .body;
    assert_eq!(rows(&paid_too), [(ids[0].clone(), "paid".to_owned())]);
    // It is the accountant's own: a colleague's registry opens as before.
    let theirs = other
        .get("/api/v1/payment-registry?date=2026-12-21")
        .await
        .body;
    assert_eq!(theirs["period"], "week");
    // And it can be dropped.
    assert_eq!(
        acc.delete("/api/v1/me/filters/payment-registry")
            .await
            .status,
        204
    );
    let dropped = acc
        .get("/api/v1/payment-registry?date=2026-12-21")
        .await
        .body;
    assert_eq!(dropped["period"], "week");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_days_payment_orders_go_to_the_bank_and_its_statement_marks_them_paid() {
    let site = Site::new(&[("paid.toml", PAID)]);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let api = |t: &str| Api::new(&server.url, Some(t));
    let (author, head, acc) = (
        api(&site.token("manager")),
        api(&site.token("head_of_sales")),
        api(&site.token("accountant")),
    );
    let landlord = created(
        &admin,
        "/api/v1/companies",
        json!({ "kind": "organisation", "short_name": "ООО «Арендодатель»", "inn": "5001007329",
                "email": "buh@landlord.example" }),
    )
    .await;
    let approved = |pay_by: &str, amount: &str, currency: &str| {
        let (author, head) = (author.clone(), head.clone());
        let body = json!({ "purpose": "Аренда", "contractor": "ООО «Арендодатель»",
            "contractor_company_id": landlord, "amount": amount, "currency": currency,
            "pay_by": pay_by, "inn": "5001007329", "kpp": "500101001", "bik": "044525225",
            "settlement_account": "40702810438000060473",
            "payment_purpose_text": format!("Оплата аренды, сумма {amount}. НДС не облагается") });
        async move {
            let id = created(&author, "/api/v1/payment-requests", body).await;
            let path = format!("/api/v1/payment-requests/{id}");
            for (who, status) in [(&author, "on_approval"), (&head, "approved")] {
                let a = who.patch(&path, &json!({ "status": status })).await;
                assert_eq!(a.status, 200, "{}", a.body);
            }
            id
        }
    };
    let rent = approved("2026-12-20", "120000.00", "RUB").await;
    let deposit = approved("2026-12-20", "50000.50", "RUB").await;
    let in_dollars = approved("2026-12-20", "100.00", "USD").await;
    let tomorrow = approved("2026-12-21", "7.00", "RUB").await;

    // Who may, and what a bad date says.
    let path = "/api/v1/exports/payment-orders?date=2026-12-20";
    assert_eq!(author.get(path).await.status, 403);
    assert_eq!(head.get(path).await.status, 403);
    let bad = acc
        .get("/api/v1/exports/payment-orders?date=20.12.2026")
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let (status, content_type, bytes) = acc.get_bytes(path).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(content_type, "text/plain; charset=windows-1251");
    // Windows-1251, as bank clients read it: not UTF-8.
    assert!(std::str::from_utf8(&bytes).is_err());
    let text = robota_client_bank::decode(&bytes);
    let file = robota_client_bank::parse(&text).unwrap();
    assert_eq!(file.accounts, ["40702810500000001234"]);
    let docs = &file.documents;
    assert_eq!(docs.len(), 2, "{text}");
    let mut amounts: Vec<String> = docs.iter().map(|d| d.get("Сумма").to_owned()).collect();
    amounts.sort();
    assert_eq!(amounts, ["120000.00", "50000.50"]);
    for d in docs {
        assert_eq!(d.kind, "Платежное поручение");
        assert_eq!(d.get("Дата"), "20.12.2026");
        assert_eq!(d.get("Очередность"), "5");
        assert_eq!(d.get("ПлательщикИНН"), "7736207543");
        assert_eq!(d.get("ПлательщикСчет"), "40702810500000001234");
        assert_eq!(d.get("ПолучательИНН"), "5001007329");
        assert_eq!(d.get("ПолучательКПП"), "500101001");
        assert_eq!(d.get("ПолучательСчет"), "40702810438000060473");
        assert_eq!(d.get("ПолучательБИК"), "044525225");
        assert!(d.get("НазначениеПлатежа").ends_with("НДС не облагается"));
    }

    // The bank's statement lists the same orders as paid out: the requests
    // they pay become paid, with the order stored; the others stay.
    let report = acc
        .post_bytes("/api/v1/bank-statements", "text/plain", bytes.clone())
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    let mut paid: Vec<&str> = report.body["paid_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["request_id"].as_str().unwrap())
        .collect();
    paid.sort();
    let mut want = [rent.as_str(), deposit.as_str()];
    want.sort();
    assert_eq!(paid, want, "{}", report.body);
    for (id, status) in [
        (&rent, "paid"),
        (&deposit, "paid"),
        (&in_dollars, "approved"),
        (&tomorrow, "approved"),
    ] {
        let r = acc
            .get(&format!("/api/v1/payment-requests/{id}"))
            .await
            .body;
        assert_eq!(r["status"], status, "{r}");
        if status == "paid" {
            assert_eq!(r["paid_date"], "2026-12-20");
        }
    }
    let (s, _, order) = acc
        .get_bytes(&format!(
            "/api/v1/payment-requests/{rent}/files/payment-order.txt"
        ))
        .await;
    assert_eq!(s, 200);
    assert!(
        String::from_utf8(order)
            .unwrap()
            .contains("Сумма=120000.00")
    );
    // The contractor hears, with the bank's order attached.
    let outbox = admin
        .wait_for("/api/v1/outbox", WAIT, |b| items(b).len() >= 2)
        .await;
    let first = items(&outbox)[0]["id"].as_str().unwrap().to_owned();
    let mail = admin.get(&format!("/api/v1/outbox/{first}")).await.body;
    assert_eq!(mail["to"], json!(["buh@landlord.example"]), "{mail}");
    assert!(
        mail["files"]
            .to_string()
            .contains("Платёжное поручение.txt"),
        "{mail}"
    );
    // The same statement again pays nothing twice.
    let again = acc
        .post_bytes("/api/v1/bank-statements", "text/plain", bytes)
        .await;
    assert_eq!(again.body["paid_requests"], json!([]), "{}", again.body);
    // Nothing is due that day any more: an empty file, still well-formed.
    let (_, _, empty) = acc.get_bytes(path).await;
    let empty = robota_client_bank::parse(&robota_client_bank::decode(&empty)).unwrap();
    assert!(empty.documents.is_empty());
}
