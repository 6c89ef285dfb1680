//! Who sees what, through the real binary: every role × read, list and
//! write of each kind of record (issue #14's access model). A record out of
//! reach answers 404 to a read and is absent from lists; a write the role
//! may not make is 403 naming the rule and changes nothing.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::server::{Api, Site};
use common::{created, items};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// The people of one test: two managers, the head of sales, an accountant
/// and the admin, each with their own token (and user id).
struct Crew {
    admin: Api,
    ma: Api,
    ma_id: String,
    mb: Api,
    mb_id: String,
    head: Api,
    head_id: String,
    acc: Api,
    acc_id: String,
}

impl Crew {
    fn new(site: &Site, server: &common::server::Server) -> Crew {
        let api = |t: &str| Api::new(&server.url, Some(t));
        let (ma_id, ma) = site.user("manager");
        let (mb_id, mb) = site.user("manager");
        let (head_id, head) = site.user("head_of_sales");
        let (acc_id, acc) = site.user("accountant");
        Crew {
            admin: Api::new(&server.url, server.token.as_deref()),
            ma: api(&ma),
            ma_id,
            mb: api(&mb),
            mb_id,
            head: api(&head),
            head_id,
            acc: api(&acc),
            acc_id,
        }
    }

    /// Each role's client, named.
    fn all(&self) -> [(&'static str, &Api); 5] {
        [
            ("manager A", &self.ma),
            ("manager B", &self.mb),
            ("head", &self.head),
            ("accountant", &self.acc),
            ("admin", &self.admin),
        ]
    }
}

/// The ids `api` lists at `path` (one page of up to 1000).
async fn listed(api: &Api, path: &str) -> BTreeSet<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let a = api.get(&format!("{path}{sep}limit=1000")).await;
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    items(&a.body)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).clone()).collect()
}

/// A request's `detail`.
fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_records_are_seen_by_their_managers_the_head_and_admin_only() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let crew = Crew::new(&site, &server);
    let admin = &crew.admin;
    let (ma, mb) = (&crew.ma_id, &crew.mb_id);

    let company = |name: &str, who: &str| json!({ "kind": "organisation", "short_name": name, "responsible_id": who });
    let ca = created(admin, "/api/v1/companies", company("ООО «Альфа»", ma)).await;
    let cb = created(admin, "/api/v1/companies", company("ООО «Бета»", mb)).await;
    // B's company that A sells to: A sees it through A's deal.
    let cx = created(admin, "/api/v1/companies", company("ООО «Гамма»", mb)).await;
    let ka = created(
        admin,
        "/api/v1/contacts",
        json!({ "first_name": "Анна", "last_name": "Альфина", "responsible_id": ma }),
    )
    .await;
    let kb = created(
        admin,
        "/api/v1/contacts",
        json!({ "first_name": "Борис", "last_name": "Бетин", "responsible_id": mb }),
    )
    .await;
    let la = created(
        admin,
        "/api/v1/leads",
        json!({ "title": "Лид А", "responsible_id": ma }),
    )
    .await;
    let lb = created(
        admin,
        "/api/v1/leads",
        json!({ "title": "Лид Б", "responsible_id": mb }),
    )
    .await;
    let da = created(
        admin,
        "/api/v1/deals",
        json!({ "title": "Сделка А", "responsible_id": ma, "company_id": cx }),
    )
    .await;
    let db = created(
        admin,
        "/api/v1/deals",
        json!({ "title": "Сделка Б", "responsible_id": mb, "company_id": cb }),
    )
    .await;

    // Lists: each role's share of what was made (the demo-less site has
    // nothing else).
    let none = BTreeSet::new();
    let expect: [(&str, [BTreeSet<String>; 5]); 4] = [
        (
            "/api/v1/leads",
            [
                set(&[&la]),
                set(&[&lb]),
                set(&[&la, &lb]),
                none.clone(),
                set(&[&la, &lb]),
            ],
        ),
        (
            "/api/v1/deals",
            [
                set(&[&da]),
                set(&[&db]),
                set(&[&da, &db]),
                none.clone(),
                set(&[&da, &db]),
            ],
        ),
        (
            "/api/v1/companies",
            [
                set(&[&ca, &cx]),
                set(&[&cb, &cx]),
                set(&[&ca, &cb, &cx]),
                set(&[&ca, &cb, &cx]),
                set(&[&ca, &cb, &cx]),
            ],
        ),
        (
            "/api/v1/contacts",
            [
                set(&[&ka]),
                set(&[&kb]),
                set(&[&ka, &kb]),
                none.clone(),
                set(&[&ka, &kb]),
            ],
        ),
    ];
    for (path, wanted) in &expect {
        for ((who, api), want) in crew.all().iter().zip(wanted) {
            assert_eq!(&listed(api, path).await, want, "{who} lists {path}");
        }
    }
    // Reads answer as lists do: 404 out of reach, not 403 (what you may not
    // see, you cannot learn exists).
    for (who, api, path, status) in [
        ("manager A", &crew.ma, format!("/api/v1/leads/{la}"), 200),
        ("manager A", &crew.ma, format!("/api/v1/leads/{lb}"), 404),
        ("manager A", &crew.ma, format!("/api/v1/deals/{db}"), 404),
        (
            "manager A",
            &crew.ma,
            format!("/api/v1/companies/{cx}"),
            200,
        ),
        (
            "manager A",
            &crew.ma,
            format!("/api/v1/companies/{cb}"),
            404,
        ),
        (
            "manager A",
            &crew.ma,
            format!("/api/v1/leads/{lb}/timeline"),
            404,
        ),
        ("accountant", &crew.acc, format!("/api/v1/leads/{la}"), 404),
        ("accountant", &crew.acc, format!("/api/v1/deals/{da}"), 404),
        (
            "accountant",
            &crew.acc,
            format!("/api/v1/contacts/{ka}"),
            404,
        ),
        (
            "accountant",
            &crew.acc,
            format!("/api/v1/companies/{ca}"),
            200,
        ),
        ("head", &crew.head, format!("/api/v1/leads/{lb}"), 200),
    ] {
        let a = api.get(&path).await;
        assert_eq!(a.status, status, "{who} GET {path}: {}", a.body);
    }

    // Writes: out of reach is 404, a role's refusal is 403 naming the
    // rule; neither changes anything.
    let refused = [
        (&crew.ma, "PATCH", format!("/api/v1/leads/{lb}"), 404, ""),
        (&crew.ma, "DELETE", format!("/api/v1/leads/{lb}"), 404, ""),
        (
            &crew.ma,
            "DELETE",
            format!("/api/v1/leads/{la}"),
            403,
            "only the head of sales or an admin may delete a lead",
        ),
        (
            &crew.acc,
            "PATCH",
            format!("/api/v1/companies/{ca}"),
            403,
            "may change a company; your role is accountant",
        ),
        (&crew.acc, "PATCH", format!("/api/v1/deals/{da}"), 404, ""),
        (
            &crew.acc,
            "POST",
            "/api/v1/leads".to_owned(),
            403,
            "accounting does not create sales records",
        ),
        (
            &crew.ma,
            "POST",
            "/api/v1/users".to_owned(),
            403,
            "only an admin may add users",
        ),
        (
            &crew.ma,
            "POST",
            "/api/v1/products".to_owned(),
            403,
            "may change the catalogue",
        ),
        (
            &crew.ma,
            "POST",
            format!("/api/v1/deals/{db}/items"),
            404,
            "",
        ),
    ];
    for (api, method, path, status, rule) in refused {
        let body = json!({ "title": "чужое", "kind": "organisation", "short_name": "x",
                           "email": "x@x.example", "name": "x", "role": "admin",
                           "price": "1", "currency": "RUB", "vat_rate": "20", "quantity": "1" });
        let a = api.send(method, &path, Some(body.to_string())).await;
        assert_eq!(a.status, status, "{method} {path}: {}", a.body);
        assert!(
            detail(&a.body).contains(rule),
            "{method} {path}: {}",
            a.body
        );
    }
    let lead_b = admin.get(&format!("/api/v1/leads/{lb}")).await.body;
    assert_eq!(
        (lead_b["title"].as_str(), lead_b["version"].as_i64()),
        (Some("Лид Б"), Some(1))
    );
    assert_eq!(admin.get(&format!("/api/v1/leads/{la}")).await.status, 200);
    let company_a = admin.get(&format!("/api/v1/companies/{ca}")).await.body;
    assert_eq!(company_a["version"], 1);
    assert_eq!(listed(admin, "/api/v1/leads").await.len(), 2);

    // What a manager writes is theirs and stays in reach; the head of
    // sales's catalogue is the manager's to sell from.
    let mine = created(&crew.ma, "/api/v1/leads", json!({ "title": "Мой лид" })).await;
    let read = crew.ma.get(&format!("/api/v1/leads/{mine}")).await;
    assert_eq!(read.body["responsible_id"].as_str(), Some(ma.as_str()));
    assert_eq!(
        crew.mb.get(&format!("/api/v1/leads/{mine}")).await.status,
        404
    );
    let changed = crew
        .ma
        .patch(
            &format!("/api/v1/leads/{la}"),
            &json!({ "title": "Лид А (уточнён)" }),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let product = created(
        &crew.head,
        "/api/v1/products",
        json!({ "name": "Насос", "price": "100.00", "currency": "RUB", "vat_rate": "20" }),
    )
    .await;
    assert_eq!(listed(&crew.ma, "/api/v1/products").await, set(&[&product]));
    // A client who is someone else's already: the refusal says so, by id
    // and what matched, without showing whose or what it is called.
    let anna = created(
        &crew.ma,
        "/api/v1/contacts",
        json!({ "first_name": "Анна", "last_name": "Клиентова", "emails": ["anna@client.example"] }),
    )
    .await;
    let twin = crew
        .mb
        .post(
            "/api/v1/contacts",
            &json!({ "first_name": "Анна", "last_name": "К.", "emails": ["Anna@Client.example"] }),
        )
        .await;
    assert_eq!(twin.status, 409, "{}", twin.body);
    let candidate = &twin.body["candidates"][0];
    assert_eq!(candidate["id"].as_str(), Some(anna.as_str()));
    assert_eq!(candidate["matched"], json!(["email"]));
    assert_eq!(candidate["name"], "(someone else's)", "{}", twin.body);
    assert!(
        !twin.body.to_string().contains("Клиентова"),
        "{}",
        twin.body
    );
    let own_twin = crew
        .ma
        .post(
            "/api/v1/contacts",
            &json!({ "first_name": "Анна", "last_name": "К.", "emails": ["anna@client.example"] }),
        )
        .await;
    assert_eq!(own_twin.status, 409);
    assert_eq!(own_twin.body["candidates"][0]["name"], "Клиентова Анна");

    // Handing a lead over takes it out of the manager's reach.
    let handed = crew
        .ma
        .patch(
            &format!("/api/v1/leads/{mine}"),
            &json!({ "responsible_id": mb }),
        )
        .await;
    assert_eq!(handed.status, 200, "{}", handed.body);
    assert_eq!(handed.body["visible"], false, "{}", handed.body);
    assert_eq!(
        crew.ma.get(&format!("/api/v1/leads/{mine}")).await.status,
        404
    );
    assert_eq!(
        crew.mb.get(&format!("/api/v1/leads/{mine}")).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_shared_with_a_user_is_theirs_to_see_until_unshared() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let crew = Crew::new(&site, &server);
    let deal = created(
        &crew.admin,
        "/api/v1/deals",
        json!({ "title": "Общая сделка", "responsible_id": crew.ma_id }),
    )
    .await;
    let path = format!("/api/v1/deals/{deal}");
    let access = format!("{path}/access");
    assert_eq!(crew.mb.get(&path).await.status, 404);

    // Only the responsible (or the head of sales, an admin) shares it, and
    // only with a real user.
    let by_b = crew
        .mb
        .put(&format!("{access}/{}", crew.mb_id), &json!({}))
        .await;
    assert_eq!(by_b.status, 404, "{}", by_b.body);
    let nobody = crew
        .ma
        .put(&format!("{access}/no-such-user"), &json!({}))
        .await;
    assert_eq!(nobody.status, 422, "{}", nobody.body);
    assert!(detail(&nobody.body).contains("no active user"));
    let shared = crew
        .ma
        .put(&format!("{access}/{}", crew.mb_id), &json!({}))
        .await;
    assert_eq!(shared.status, 201, "{}", shared.body);
    assert_eq!(
        items(&shared.body)[0]["user_id"].as_str(),
        Some(crew.mb_id.as_str())
    );
    let again = crew
        .ma
        .put(&format!("{access}/{}", crew.mb_id), &json!({}))
        .await;
    assert_eq!(again.status, 200);

    assert_eq!(crew.mb.get(&path).await.status, 200);
    assert!(listed(&crew.mb, "/api/v1/deals").await.contains(&deal));
    // B sees it but does not pass it on.
    let passed = crew
        .mb
        .put(&format!("{access}/{}", crew.head_id), &json!({}))
        .await;
    assert_eq!(passed.status, 403, "{}", passed.body);
    assert!(detail(&passed.body).contains("share a deal they are not responsible for"));

    let timeline = crew.ma.get(&format!("{path}/timeline")).await.body;
    assert!(
        items(&timeline)
            .iter()
            .any(|e| e["kind"] == "access" && e["text"] == "Shared with Test manager"),
        "{timeline}"
    );
    let unshared = crew.ma.delete(&format!("{access}/{}", crew.mb_id)).await;
    assert_eq!(unshared.status, 204);
    assert_eq!(crew.mb.get(&path).await.status, 404);
    assert!(!listed(&crew.mb, "/api/v1/deals").await.contains(&deal));
    let twice = crew.ma.delete(&format!("{access}/{}", crew.mb_id)).await;
    assert_eq!(twice.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_tasks_reports_and_settings_follow_the_roles() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let crew = Crew::new(&site, &server);
    let admin = &crew.admin;
    let deal = |who: &str| json!({ "title": "Сделка", "responsible_id": who });
    let da = created(admin, "/api/v1/deals", deal(&crew.ma_id)).await;
    let db = created(admin, "/api/v1/deals", deal(&crew.mb_id)).await;
    let invoice = |deal: &str| {
        json!({
            "deal_id": deal, "currency": "RUB", "buyer": { "name": "ООО «Покупатель»" },
            "seller": { "name": "ООО «Робота»", "inn": "7736207543" },
            "issue_date": "2026-11-02", "due_date": "2026-11-09", "status": "sent",
            "items": [{ "name": "Насос", "quantity": "1", "price": "1000.00", "vat_rate": "20" }]
        })
    };
    let ia = created(admin, "/api/v1/invoices", invoice(&da)).await;
    let ib = created(admin, "/api/v1/invoices", invoice(&db)).await;
    assert_eq!(listed(&crew.ma, "/api/v1/invoices").await, set(&[&ia]));
    assert_eq!(
        listed(&crew.acc, "/api/v1/invoices").await,
        set(&[&ia, &ib])
    );
    assert_eq!(
        listed(&crew.head, "/api/v1/invoices").await,
        set(&[&ia, &ib])
    );
    assert_eq!(
        crew.ma.get(&format!("/api/v1/invoices/{ib}")).await.status,
        404
    );
    assert_eq!(
        crew.ma
            .get(&format!("/api/v1/invoices/{ib}/pdf"))
            .await
            .status,
        404
    );
    assert_eq!(
        crew.ma
            .get(&format!("/api/v1/invoices/{ib}/files"))
            .await
            .status,
        404
    );
    let paid_by_manager = crew
        .ma
        .patch(
            &format!("/api/v1/invoices/{ia}"),
            &json!({ "status": "paid", "paid_date": "2026-11-05" }),
        )
        .await;
    assert_eq!(paid_by_manager.status, 403, "{}", paid_by_manager.body);
    assert!(detail(&paid_by_manager.body).contains("mark an invoice paid"));
    assert_eq!(
        admin.get(&format!("/api/v1/invoices/{ia}")).await.body["status"],
        "sent"
    );
    let direct = crew.ma.post("/api/v1/invoices", &invoice(&da)).await;
    assert_eq!(direct.status, 403, "{}", direct.body);
    assert!(detail(&direct.body).contains("POST /api/v1/deals/{id}/invoice"));

    // Reports: a manager's are of their own deals (seed 001).
    let report = "/api/v1/reports/invoices?from=2026-11-01&to=2026-11-30";
    for (api, count) in [
        (&crew.ma, 1),
        (&crew.mb, 1),
        (&crew.head, 2),
        (&crew.acc, 2),
    ] {
        let r = api.get(report).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["issued"]["count"], count, "{}", r.body);
    }
    let debt = crew
        .ma
        .get("/api/v1/reports/debt?as_of=2026-11-30")
        .await
        .body;
    assert_eq!(debt["overdue"]["count"], 1, "{debt}");

    // Tasks: one's own; the head of sales sees the team's.
    let task = |who: &str| json!({ "title": "Позвонить", "assignee_id": who });
    let ta = created(admin, "/api/v1/tasks", task(&crew.ma_id)).await;
    let tacc = created(admin, "/api/v1/tasks", task(&crew.acc_id)).await;
    assert_eq!(listed(&crew.ma, "/api/v1/tasks").await, set(&[&ta]));
    assert_eq!(listed(&crew.acc, "/api/v1/tasks").await, set(&[&tacc]));
    assert_eq!(listed(&crew.mb, "/api/v1/tasks").await, BTreeSet::new());
    assert_eq!(
        listed(&crew.head, "/api/v1/tasks").await,
        set(&[&ta, &tacc])
    );
    let done = crew
        .ma
        .patch(&format!("/api/v1/tasks/{ta}"), &json!({ "status": "done" }))
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        crew.mb
            .patch(&format!("/api/v1/tasks/{ta}"), &json!({ "status": "open" }))
            .await
            .status,
        404
    );

    // Settings and the machinery are the admin's: each refusal names it.
    for (method, path) in [
        ("GET", "/api/v1/processes"),
        ("GET", "/api/v1/processes/anything"),
        ("POST", "/api/v1/processes/anything/start"),
        ("GET", "/api/v1/plugins"),
        ("POST", "/api/v1/plugins"),
        ("POST", "/api/v1/plugins/reload"),
        ("POST", "/api/v1/plugins/add-note/upgrade"),
        ("DELETE", "/api/v1/plugins/add-note"),
        ("GET", "/api/v1/outbox"),
        ("GET", "/api/v1/outbox/anything"),
        ("PUT", "/api/v1/custom-fields/deal"),
        ("PUT", "/api/v1/lead-statuses/new"),
        ("POST", "/api/v1/runs/anything/retry"),
        ("POST", "/api/v1/dev/clock"),
        ("GET", "/api/v1/duplicates?kind=company"),
        ("POST", "/api/v1/bank-statements"),
    ] {
        for (who, api) in [("manager", &crew.ma), ("accountant", &crew.acc)] {
            let a = api.send(method, path, Some("{}".into())).await;
            if path == "/api/v1/bank-statements" && who == "accountant" {
                assert_ne!(a.status, 403, "{who} {method} {path}: {}", a.body);
                continue;
            }
            assert_eq!(a.status, 403, "{who} {method} {path}: {}", a.body);
            // The refusal names who may, and the caller's role.
            let role = if who == "manager" {
                "manager"
            } else {
                "accountant"
            };
            assert!(
                detail(&a.body).starts_with("only ")
                    && detail(&a.body).ends_with(&format!("; your role is {role}")),
                "{}",
                a.body
            );
            // Who may, by role code, for clients that say it in their words.
            let may = a.body["may"].as_array().unwrap();
            assert!(
                may.iter().all(|r| r != role) && may.contains(&json!("admin")),
                "{}",
                a.body
            );
        }
    }
    assert_eq!(admin.get("/api/v1/processes").await.status, 200);
    assert_eq!(admin.get("/api/v1/plugins").await.status, 200);
    assert_eq!(
        crew.head
            .get("/api/v1/duplicates?kind=company")
            .await
            .status,
        200
    );
    assert_eq!(
        crew.acc
            .get("/api/v1/exports/invoices?from=2026-11-01&to=2026-11-30")
            .await
            .status,
        200
    );
    assert_eq!(
        crew.ma
            .get("/api/v1/exports/invoices?from=2026-11-01&to=2026-11-30")
            .await
            .status,
        403
    );
}

const APPROVE: &str = include_str!("../../../examples/processes/approve-payment-request.toml");

/// A complete request for `author` (a user id), as a draft.
fn request(author: Option<&str>, purpose: &str) -> Value {
    let mut r = json!({ "purpose": purpose, "contractor": "ООО «Арендодатель»", "amount": "1000.00",
        "pay_by": "2026-12-20", "inn": "5001007329", "bik": "044525225",
        "settlement_account": "40702810438000060473", "payment_purpose_text": "Оплата" });
    if let Some(a) = author {
        r["author_id"] = json!(a);
    }
    r
}

/// Asserts who reads and lists payment request `id`: 200 (and listed) or
/// 404 (and not listed) for manager A, manager B, the head, the
/// accountant and the admin.
async fn seen_by(crew: &Crew, id: &str, want: [u16; 5]) {
    let path = format!("/api/v1/payment-requests/{id}");
    for ((who, api), status) in crew.all().iter().zip(want) {
        let a = api.get(&path).await;
        assert_eq!(a.status, status, "{who} GET {path}: {}", a.body);
        let listed = listed(api, "/api/v1/payment-requests").await.contains(id);
        assert_eq!(listed, status == 200, "{who} lists it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounting_never_sees_a_request_before_it_is_approved() {
    let site = Site::new(&[("approve.toml", APPROVE)]);
    let server = site.start(&[]);
    let crew = Crew::new(&site, &server);

    let p1 = created(
        &crew.ma,
        "/api/v1/payment-requests",
        request(None, "Аренда"),
    )
    .await;
    let path = format!("/api/v1/payment-requests/{p1}");
    let registry = "/api/v1/payment-registry?period=month&date=2026-12-01";
    let in_registry = |api: Api| async move {
        let r = api.get(registry).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["days"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["rows"].as_array().unwrap().clone())
            .map(|row| row["id"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<String>>()
    };
    // A draft: its author's, the head's and the admin's; never accounting's.
    seen_by(&crew, &p1, [200, 404, 200, 404, 200]).await;
    assert!(in_registry(crew.acc.clone()).await.is_empty());
    let created_by = crew.ma.get(&path).await.body;
    assert_eq!(created_by["author_id"].as_str(), Some(crew.ma_id.as_str()));

    // On approval: still not accounting's. The author does not decide it.
    let sent = crew
        .ma
        .patch(&path, &json!({ "status": "on_approval" }))
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    seen_by(&crew, &p1, [200, 404, 200, 404, 200]).await;
    let own = crew.ma.patch(&path, &json!({ "status": "approved" })).await;
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(detail(&own.body).contains("nobody decides their own payment request"));
    let early = crew.acc.patch(&path, &json!({ "status": "paid" })).await;
    assert_eq!(early.status, 404, "{}", early.body);

    // The approval: the head's inbox; the author may look at it, manager B
    // may not; the run's log goes with the request.
    let inbox = crew
        .head
        .wait_for("/api/v1/approvals", Duration::from_secs(20), |b| {
            !items(b).is_empty()
        })
        .await;
    let approval = items(&inbox)[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        crew.ma
            .get(&format!("/api/v1/approvals/{approval}"))
            .await
            .status,
        200
    );
    assert_eq!(
        crew.mb
            .get(&format!("/api/v1/approvals/{approval}"))
            .await
            .status,
        404
    );
    assert_eq!(
        crew.acc
            .get(&format!("/api/v1/approvals/{approval}"))
            .await
            .status,
        404
    );
    let mine = crew
        .ma
        .post(&format!("/api/v1/approvals/{approval}/approve"), &json!({}))
        .await;
    assert_eq!(mine.status, 403, "{}", mine.body);
    let runs = |api: &Api| {
        let api = api.clone();
        async move { listed(&api, "/api/v1/runs").await }
    };
    let run = runs(&crew.admin).await.into_iter().next().unwrap();
    assert_eq!(runs(&crew.ma).await, BTreeSet::from([run.clone()]));
    assert_eq!(runs(&crew.mb).await, BTreeSet::new());
    assert_eq!(runs(&crew.acc).await, BTreeSet::new());
    assert_eq!(
        crew.mb.get(&format!("/api/v1/runs/{run}")).await.status,
        404
    );
    assert_eq!(
        crew.ma.get(&format!("/api/v1/runs/{run}")).await.status,
        200
    );

    let approved = crew
        .head
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            &json!({ "comment": "ок" }),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    crew.admin
        .wait_for(&path, Duration::from_secs(20), |b| {
            b["status"] == "approved"
        })
        .await;
    // Approved: accounting's now, in the registry; still not manager B's.
    seen_by(&crew, &p1, [200, 404, 200, 200, 200]).await;
    assert_eq!(in_registry(crew.acc.clone()).await, set(&[&p1]));
    assert_eq!(in_registry(crew.mb.clone()).await, BTreeSet::new());
    assert_eq!(runs(&crew.acc).await, BTreeSet::from([run.clone()]));

    // Paying is accounting's, with the payment order they attach.
    let by_head = crew.head.patch(&path, &json!({ "status": "paid" })).await;
    assert_eq!(by_head.status, 403, "{}", by_head.body);
    let order = format!("{path}/files/payment-order.pdf");
    let by_author = crew
        .ma
        .put_bytes(&order, "application/pdf", b"%PDF order".to_vec())
        .await;
    assert_eq!(by_author.status, 403, "{}", by_author.body);
    let edit = crew.acc.patch(&path, &json!({ "amount": "1.00" })).await;
    assert_eq!(edit.status, 403, "{}", edit.body);
    assert_eq!(
        crew.acc
            .put_bytes(&order, "application/pdf", b"%PDF order".to_vec())
            .await
            .status,
        201
    );
    let paid = crew
        .acc
        .patch(
            &path,
            &json!({ "status": "paid", "paid_date": "2026-12-05" }),
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(crew.admin.get(&path).await.body["amount"], "1000.00");
    // The registry's link opens the request with all its materials.
    let card = crew.acc.get(&path).await.body;
    let materials = &card["materials"];
    assert_eq!(materials["files"][0]["name"], "payment-order.pdf", "{card}");
    assert_eq!(
        materials["files"][0]["url"],
        format!("{path}/files/payment-order.pdf")
    );
    assert_eq!(
        materials["approver_id"].as_str(),
        Some(crew.head_id.as_str())
    );
    let moves: Vec<(Value, Value)> = materials["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["to_status"].clone(), h["user_id"].clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (json!("draft"), json!(crew.ma_id)),
            (json!("on_approval"), json!(crew.ma_id)),
            (json!("approved"), Value::Null),
            (json!("paid"), json!(crew.acc_id)),
        ],
        "{card}"
    );
    let comment = crew
        .acc
        .post(&format!("{path}/comments"), &json!({ "text": "Оплачено" }))
        .await;
    assert_eq!(comment.status, 201, "{}", comment.body);
    assert_eq!(
        crew.mb
            .post(&format!("{path}/comments"), &json!({ "text": "?" }))
            .await
            .status,
        404
    );

    // Accounting pays; it does not write requests.
    let by_acc = crew
        .acc
        .post("/api/v1/payment-requests", &request(None, "x"))
        .await;
    assert_eq!(by_acc.status, 403, "{}", by_acc.body);
    let as_other = crew
        .ma
        .post("/api/v1/payment-requests", &request(Some(&crew.mb_id), "x"))
        .await;
    assert_eq!(as_other.status, 403, "{}", as_other.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_returned_requests_go_where_the_rules_say() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let crew = Crew::new(&site, &server);
    let move_to = |api: &Api, id: &str, status: &str| {
        let (api, path) = (api.clone(), format!("/api/v1/payment-requests/{id}"));
        let body = json!({ "status": status });
        async move { api.patch(&path, &body).await }
    };

    // Rejected: never accounting's.
    let rejected = created(&crew.ma, "/api/v1/payment-requests", request(None, "Отказ")).await;
    assert_eq!(
        move_to(&crew.ma, &rejected, "on_approval").await.status,
        200
    );
    assert_eq!(move_to(&crew.head, &rejected, "rejected").await.status, 200);
    assert_eq!(
        crew.acc
            .get(&format!("/api/v1/payment-requests/{rejected}"))
            .await
            .status,
        404
    );
    // Its author sends it again (as it is, or reworked as a draft first);
    // nobody else does.
    assert_eq!(move_to(&crew.mb, &rejected, "draft").await.status, 404);
    assert_eq!(
        move_to(&crew.head, &rejected, "on_approval").await.status,
        403
    );
    assert_eq!(
        move_to(&crew.ma, &rejected, "on_approval").await.status,
        200
    );
    assert_eq!(move_to(&crew.head, &rejected, "rejected").await.status, 200);
    assert_eq!(move_to(&crew.ma, &rejected, "draft").await.status, 200);

    // Returned by accounting: back to its author as a draft, and still in
    // sight of the accountant who returned it (to follow up), not another's.
    let (_, other_acc) = site.user("accountant");
    let other_acc = Api::new(&server.url, Some(&other_acc));
    let returned = created(
        &crew.ma,
        "/api/v1/payment-requests",
        request(None, "Возврат"),
    )
    .await;
    let path = format!("/api/v1/payment-requests/{returned}");
    assert_eq!(
        move_to(&crew.ma, &returned, "on_approval").await.status,
        200
    );
    assert_eq!(move_to(&crew.head, &returned, "approved").await.status, 200);
    let by_manager = crew
        .ma
        .post(&format!("{path}/return"), &json!({ "reason": "x" }))
        .await;
    assert_eq!(by_manager.status, 403, "{}", by_manager.body);
    let back = crew
        .acc
        .post(&format!("{path}/return"), &json!({ "reason": "Нет счёта" }))
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let as_returned = crew.acc.get(&path).await;
    assert_eq!(as_returned.status, 200, "{}", as_returned.body);
    assert_eq!(as_returned.body["status"], "draft");
    assert_eq!(
        as_returned.body["returned_by"].as_str(),
        Some(crew.acc_id.as_str())
    );
    assert_eq!(other_acc.get(&path).await.status, 404);
    // Sent again, it is on approval: out of accounting's sight once more.
    assert_eq!(
        move_to(&crew.ma, &returned, "on_approval").await.status,
        200
    );
    assert_eq!(crew.acc.get(&path).await.status, 404);
    // A head of sales who wrote a request does not approve it either.
    let heads = created(
        &crew.admin,
        "/api/v1/payment-requests",
        request(Some(&crew.head_id), "Своя"),
    )
    .await;
    assert_eq!(move_to(&crew.head, &heads, "on_approval").await.status, 200);
    let own = move_to(&crew.head, &heads, "approved").await;
    assert_eq!(own.status, 403, "{}", own.body);
    assert_eq!(move_to(&crew.admin, &heads, "approved").await.status, 200);

    // The request's timeline says who did each thing and when.
    let timeline = crew.ma.get(&format!("{path}/timeline")).await.body;
    let by = |kind: &str, text: &str| {
        items(&timeline)
            .iter()
            .find(|e| e["kind"] == kind && e["text"].as_str().unwrap().contains(text))
            .map(|e| {
                (
                    e["user_id"].as_str().map(str::to_owned),
                    e["at"].is_string(),
                )
            })
    };
    assert_eq!(
        by("created", "created"),
        Some((Some(crew.ma_id.clone()), true))
    );
    assert_eq!(
        by("updated", "changed status"),
        Some((Some(crew.ma_id.clone()), true)),
        "{timeline}"
    );
    let decided = items(&timeline)
        .iter()
        .filter(|e| e["kind"] == "updated" && e["data"]["status"][1] == "approved")
        .map(|e| e["user_id"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(decided, [crew.head_id.as_str()], "{timeline}");
    let sent_back = items(&timeline)
        .iter()
        .filter(|e| e["kind"] == "updated" && e["data"]["status"][0] == "approved")
        .map(|e| e["user_id"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(sent_back, [crew.acc_id.as_str()], "{timeline}");
    assert_eq!(
        by("comment", "Нет счёта"),
        Some((Some(crew.acc_id.clone()), true))
    );
}

/// One row of the matrix: a kind, a path to create it at, a record of
/// manager A's to read and change, what a change sends, and what each of
/// manager A, manager B, the head, the accountant and the admin gets.
struct Row {
    kind: &'static str,
    collection: &'static str,
    /// The record (manager A's where records have owners).
    id: String,
    /// A harmless change, a different one for each of the five.
    patch: fn(usize) -> Value,
    /// A new record's fields (a fresh name each time).
    new: fn(&Crew, usize) -> Value,
    read: [u16; 5],
    update: [u16; 5],
    create: [u16; 5],
    delete: [u16; 5],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_reads_lists_and_writes_each_kind_as_the_rules_say() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let crew = Crew::new(&site, &server);
    let admin = &crew.admin;
    let a = crew.ma_id.clone();
    let owned = |extra: Value| {
        let mut v = extra;
        v["responsible_id"] = json!(a);
        v
    };
    let lead = created(admin, "/api/v1/leads", owned(json!({ "title": "Лид" }))).await;
    let contact = created(
        admin,
        "/api/v1/contacts",
        owned(json!({ "first_name": "Анна", "last_name": "Первая" })),
    )
    .await;
    let company = created(
        admin,
        "/api/v1/companies",
        owned(json!({ "kind": "organisation", "short_name": "ООО «Первая»" })),
    )
    .await;
    let deal = created(admin, "/api/v1/deals", owned(json!({ "title": "Сделка" }))).await;
    let invoice_of = |deal: &str| {
        json!({ "deal_id": deal, "currency": "RUB", "buyer": { "name": "ООО «Первая»" },
                "seller": { "name": "ООО «Робота»", "inn": "7736207543" },
                "issue_date": "2026-11-02", "due_date": "2026-11-09", "status": "sent",
                "items": [{ "name": "Насос", "quantity": "1", "price": "10.00", "vat_rate": "20" }] })
    };
    let invoice = created(admin, "/api/v1/invoices", invoice_of(&deal)).await;
    let request = created(
        admin,
        "/api/v1/payment-requests",
        json!({ "purpose": "Черновик", "author_id": a }),
    )
    .await;
    let task = created(
        admin,
        "/api/v1/tasks",
        json!({ "title": "Позвонить", "assignee_id": a }),
    )
    .await;
    let product = created(
        admin,
        "/api/v1/products",
        json!({ "name": "Насос", "price": "10.00", "currency": "RUB", "vat_rate": "20" }),
    )
    .await;
    let rows = [
        Row {
            kind: "lead",
            collection: "leads",
            id: lead,
            patch: |i| json!({ "title": format!("Лид ({i})") }),
            new: |_, n| json!({ "title": format!("Новый лид {n}") }),
            read: [200, 404, 200, 404, 200],
            update: [200, 404, 200, 404, 200],
            create: [201, 201, 201, 403, 201],
            delete: [403, 404, 204, 404, 204],
        },
        Row {
            kind: "contact",
            collection: "contacts",
            id: contact,
            patch: |i| json!({ "position": format!("Директор {i}") }),
            new: |_, n| json!({ "first_name": "Новый", "last_name": format!("Контакт{n}") }),
            read: [200, 404, 200, 404, 200],
            update: [200, 404, 200, 404, 200],
            create: [201, 201, 201, 403, 201],
            delete: [403, 404, 204, 404, 204],
        },
        Row {
            kind: "company",
            collection: "companies",
            id: company,
            patch: |i| json!({ "region": format!("Регион {i}") }),
            new: |_, n| json!({ "kind": "organisation", "short_name": format!("ООО «Новая {n}»") }),
            read: [200, 404, 200, 200, 200],
            update: [200, 404, 200, 403, 200],
            create: [201, 201, 201, 403, 201],
            delete: [403, 404, 204, 403, 204],
        },
        Row {
            kind: "deal",
            collection: "deals",
            id: deal.clone(),
            patch: |i| json!({ "title": format!("Сделка ({i})") }),
            new: |_, n| json!({ "title": format!("Новая сделка {n}") }),
            read: [200, 404, 200, 404, 200],
            update: [200, 404, 200, 404, 200],
            create: [201, 201, 201, 403, 201],
            delete: [403, 404, 204, 404, 204],
        },
        Row {
            kind: "invoice",
            collection: "invoices",
            id: invoice,
            patch: |i| json!({ "due_date": format!("2026-11-1{i}") }),
            new: |_, _| {
                json!({ "currency": "RUB", "buyer": { "name": "ООО «Первая»" },
                        "seller": { "name": "ООО «Робота»", "inn": "7736207543" },
                        "issue_date": "2026-11-02", "due_date": "2026-11-09",
                        "items": [{ "name": "Насос", "quantity": "1", "price": "10.00", "vat_rate": "20" }] })
            },
            read: [200, 404, 200, 200, 200],
            update: [200, 404, 200, 200, 200],
            create: [403, 403, 201, 201, 201],
            delete: [403, 404, 204, 403, 204],
        },
        Row {
            kind: "payment-request",
            collection: "payment-requests",
            id: request,
            patch: |i| json!({ "purpose": format!("Черновик ({i})") }),
            new: |_, n| json!({ "purpose": format!("Заявка {n}") }),
            read: [200, 404, 200, 404, 200],
            update: [200, 404, 200, 404, 200],
            create: [201, 201, 201, 403, 201],
            delete: [403, 404, 204, 404, 204],
        },
        Row {
            kind: "task",
            collection: "tasks",
            id: task,
            patch: |i| json!({ "title": format!("Позвонить ({i})") }),
            new: |_, n| json!({ "title": format!("Задача {n}") }),
            read: [200, 404, 200, 404, 200],
            update: [200, 404, 200, 404, 200],
            create: [201, 201, 201, 201, 201],
            delete: [204, 404, 204, 404, 204],
        },
        Row {
            kind: "product",
            collection: "products",
            id: product,
            patch: |i| json!({ "name": format!("Насос ЦН-4{i}") }),
            new: |_, n| json!({ "name": format!("Товар {n}"), "price": "1.00", "currency": "RUB", "vat_rate": "20" }),
            read: [200, 200, 200, 200, 200],
            update: [403, 403, 200, 403, 200],
            create: [403, 403, 201, 403, 201],
            delete: [403, 403, 204, 403, 204],
        },
        Row {
            kind: "user",
            collection: "users",
            id: crew.ma_id.clone(),
            patch: |i| json!({ "name": format!("Иван Петров {i}") }),
            new: |_, n| json!({ "email": format!("new{n}@test.example"), "name": "Новый", "role": "manager" }),
            read: [200, 200, 200, 200, 200],
            update: [403, 403, 403, 403, 200],
            create: [403, 403, 403, 403, 201],
            delete: [403, 403, 403, 403, 0],
        },
    ];
    let mut n = 0;
    for row in &rows {
        let path = format!("/api/v1/{}/{}", row.collection, row.id);
        for (i, (who, api)) in crew.all().iter().enumerate() {
            let what = format!("{who} × {}", row.kind);
            let read = api.get(&path).await;
            assert_eq!(read.status, row.read[i], "{what}: read {}", read.body);
            let list = listed(api, &format!("/api/v1/{}", row.collection)).await;
            assert_eq!(list.contains(&row.id), row.read[i] == 200, "{what}: list");

            let before = admin.get(&path).await.body["version"].clone();
            let update = api.patch(&path, &(row.patch)(i)).await;
            assert_eq!(
                update.status, row.update[i],
                "{what}: update {}",
                update.body
            );
            let after = admin.get(&path).await.body["version"].clone();
            assert_eq!(
                before != after,
                row.update[i] == 200,
                "{what}: a refused update changes nothing"
            );

            n += 1;
            let new = (row.new)(&crew, n);
            let create = api.post(&format!("/api/v1/{}", row.collection), &new).await;
            assert_eq!(
                create.status, row.create[i],
                "{what}: create {}",
                create.body
            );
            if create.status == 201 {
                // What one makes, one sees (the owner is the maker).
                let id = create.body["id"].as_str().unwrap();
                let own = api.get(&format!("/api/v1/{}/{id}", row.collection)).await;
                assert_eq!(own.status, 200, "{what}: reads what it made");
            }

            if row.delete[i] == 0 {
                continue;
            }
            // Each delete on a fresh copy of the record (made by the admin,
            // owned like the row's), so allowed ones leave the next roles
            // something to try.
            n += 1;
            let mut copy = (row.new)(&crew, n);
            for owner in ["responsible_id", "author_id", "assignee_id"] {
                let kind_has = matches!(
                    (row.kind, owner),
                    ("lead" | "contact" | "company" | "deal", "responsible_id")
                        | ("payment-request", "author_id")
                        | ("task", "assignee_id")
                );
                if kind_has {
                    copy[owner] = json!(crew.ma_id);
                }
            }
            if row.kind == "invoice" {
                copy["deal_id"] = json!(deal);
            }
            let victim = if row.kind == "user" {
                crew.mb_id.clone()
            } else {
                created(admin, &format!("/api/v1/{}", row.collection), copy).await
            };
            let gone = api
                .delete(&format!("/api/v1/{}/{victim}", row.collection))
                .await;
            assert_eq!(gone.status, row.delete[i], "{what}: delete {}", gone.body);
            let still = admin
                .get(&format!("/api/v1/{}/{victim}", row.collection))
                .await
                .status;
            assert_eq!(
                still == 404,
                row.delete[i] == 204,
                "{what}: deleted or kept"
            );
        }
    }
}
