//! Scenario 2, step 3 end to end: `lookup-company@1` (the real component)
//! against the stand-in registry (a real HTTP server in DaData's shape),
//! triggered by entering the INN (the example process as shipped) or by
//! hand. Every refusal leaves the company as it was.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::items;

use common::server::{Api, Site};
use common::standin::StandIn;
use serde_json::{Value, json};
use std::time::Duration;

const ON_INN: &str = include_str!("../../../examples/processes/lookup-company-on-inn.toml");
const BY_HAND: &str = include_str!("../../../examples/processes/lookup-company.toml");
const KEY: &str = "test-key";

async fn company(api: &Api, fields: Value) -> String {
    let a = api.post("/api/v1/companies", &fields).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

/// Waits for the `n`-th run of `process` to finish; returns it.
async fn finished_run(api: &Api, process: &str, n: usize) -> Value {
    let runs = api
        .wait_for(
            &format!("/api/v1/runs?process={process}"),
            Duration::from_secs(40),
            |b| {
                items(b).len() >= n
                    && items(b)
                        .iter()
                        .all(|r| r["status"] == "completed" || r["status"] == "failed")
            },
        )
        .await;
    let mut all = items(&runs).clone();
    all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    all[n - 1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entering_the_inn_fills_the_company_and_renames_it() {
    let registry = StandIn::registry(KEY);
    let site = Site::with_grants(&[("on-inn.toml", ON_INN)], &registry.registry_grants(KEY));
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());

    let id = company(
        &api,
        json!({ "kind": "organisation", "short_name": "Сбер (из лида)", "bik": "044525225",
                "settlement_account": "40702810438000060473" }),
    )
    .await;
    let path = format!("/api/v1/companies/{id}");
    let a = api.patch(&path, &json!({ "inn": "7707083893" })).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let run = finished_run(&api, "lookup-company-on-inn", 1).await;
    assert_eq!(run["status"], "completed", "{run}");

    let c = api.get(&path).await.body;
    assert_eq!(c["short_name"], "ПАО СБЕРБАНК");
    assert_eq!(
        c["full_name"],
        "ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО \"СБЕРБАНК РОССИИ\""
    );
    assert_eq!(c["legal_form"], "ПАО");
    assert_eq!(c["kpp"], "773601001");
    assert_eq!(c["ogrn"], "1027700132195");
    assert_eq!(c["legal_address"], "117312, г Москва, ул Вавилова, д 19");
    assert_eq!(c["director"], "Греф Герман Оскарович");
    assert_eq!(c["director_post"], "ПРЕЗИДЕНТ, ПРЕДСЕДАТЕЛЬ ПРАВЛЕНИЯ");
    assert_eq!(c["okved"], "64.19");
    assert_eq!(c["registered_on"], "1991-06-20");
    assert_eq!(c["bank_name"], "ПАО СБЕРБАНК");
    assert_eq!(c["correspondent_account"], "30101810400000000225");

    // The timeline says what changed, old → new.
    let timeline = api.get(&format!("{path}/timeline")).await.body;
    let note = items(&timeline)
        .iter()
        .find(|e| e["kind"] == "note")
        .unwrap_or_else(|| panic!("a note: {timeline}"));
    let text = note["text"].as_str().unwrap();
    assert!(
        text.contains("short_name: Сбер (из лида) → ПАО СБЕРБАНК"),
        "{text}"
    );
    assert!(text.contains("kpp: — → 773601001"), "{text}");

    // The run's output lists the changes; the key appears nowhere in it.
    let detail = api
        .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(
        detail["steps"][0]["output"]["changed"]["short_name"][1],
        "ПАО СБЕРБАНК"
    );
    assert!(!detail.to_string().contains(KEY), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sole_trader_is_filled_with_fio_and_no_kpp() {
    let registry = StandIn::registry(KEY);
    let site = Site::with_grants(&[("by-hand.toml", BY_HAND)], &registry.registry_grants(KEY));
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let id = company(
        &api,
        json!({ "kind": "sole_trader", "short_name": "Иванов", "inn": "770712345633" }),
    )
    .await;
    let start = api
        .post(
            "/api/v1/processes/lookup-company/start",
            &json!({ "params": { "company_id": id } }),
        )
        .await;
    assert_eq!(start.status, 202, "{}", start.body);
    let run = finished_run(&api, "lookup-company", 1).await;
    assert_eq!(run["status"], "completed", "{run}");
    let c = api.get(&format!("/api/v1/companies/{id}")).await.body;
    assert_eq!(c["short_name"], "ИП Иванов Иван Иванович");
    assert_eq!(c["director"], "Иванов Иван Иванович");
    assert_eq!(c["ogrn"], "316774600000128");
    assert_eq!(c["kpp"], Value::Null);
    assert_eq!(c["legal_form"], "ИП");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_their_reason_and_change_nothing() {
    let registry = StandIn::registry(KEY);
    let site = Site::with_grants(&[("by-hand.toml", BY_HAND)], &registry.registry_grants(KEY));
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());

    let mut n = 0;
    for (inn, says) in [
        (
            "7702123454",
            "is liquidated since 2021-03-15 (registry status LIQUIDATED)",
        ),
        (
            "7712345671",
            "the registry knows no company with INN 7712345671",
        ),
    ] {
        let id = company(
            &api,
            json!({ "kind": "organisation", "short_name": format!("Было {inn}"), "inn": inn }),
        )
        .await;
        let before = api.get(&format!("/api/v1/companies/{id}")).await.body;
        api.post(
            "/api/v1/processes/lookup-company/start",
            &json!({ "params": { "company_id": id } }),
        )
        .await;
        n += 1;
        let run = finished_run(&api, "lookup-company", n).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert!(
            run["error"].as_str().unwrap().contains(says),
            "{says}: {run}"
        );
        assert_eq!(
            api.get(&format!("/api/v1/companies/{id}")).await.body,
            before
        );
    }

    // A company without an INN is told to get one first.
    let id = company(
        &api,
        json!({ "kind": "organisation", "short_name": "Опечатка" }),
    )
    .await;
    let start = api
        .post(
            "/api/v1/processes/lookup-company/start",
            &json!({ "params": { "company_id": id } }),
        )
        .await;
    assert_eq!(start.status, 202);
    n += 1;
    let run = finished_run(&api, "lookup-company", n).await;
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("has no INN; enter it first"),
        "{run}"
    );
    let bad = api
        .patch(
            &format!("/api/v1/companies/{id}"),
            &json!({ "inn": "7707083894" }),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.body["detail"],
        "company.inn: control digit does not match"
    );

    // 429 first: the step is retried with backoff and then fills.
    let id = company(
        &api,
        json!({ "kind": "organisation", "short_name": "Терпение", "inn": "5002000012" }),
    )
    .await;
    api.post(
        "/api/v1/processes/lookup-company/start",
        &json!({ "params": { "company_id": id } }),
    )
    .await;
    n += 1;
    let run = finished_run(&api, "lookup-company", n).await;
    assert_eq!(run["status"], "completed", "{run}");
    let detail = api
        .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
        .await
        .body;
    let log = detail["steps"][0]["log"].as_array().unwrap();
    assert_eq!(log[0]["status"], "retrying", "{detail}");
    assert!(
        log[0]["error"].as_str().unwrap().contains("429"),
        "{detail}"
    );
    assert_eq!(
        api.get(&format!("/api/v1/companies/{id}")).await.body["short_name"],
        "ООО \"ТЕРПЕНИЕ\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_names_the_config_key_to_fix() {
    let registry = StandIn::registry(KEY);
    let site = Site::with_grants(
        &[("by-hand.toml", BY_HAND)],
        &registry.registry_grants("wrong-key"),
    );
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let id = company(
        &api,
        json!({ "kind": "organisation", "short_name": "Сбер", "inn": "7707083893" }),
    )
    .await;
    let before = api.get(&format!("/api/v1/companies/{id}")).await.body;
    api.post(
        "/api/v1/processes/lookup-company/start",
        &json!({ "params": { "company_id": id } }),
    )
    .await;
    let run = finished_run(&api, "lookup-company", 1).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("refused the API key (HTTP 401)") && error.contains("`registry.key`"),
        "{error}"
    );
    assert!(!error.contains("wrong-key"), "{error}");
    assert_eq!(
        api.get(&format!("/api/v1/companies/{id}")).await.body,
        before
    );
}

/// A lookup of a typed INN, as a "Fill by INN" form would start it.
const TYPED: &str = r#"
id = "lookup-typed"
[trigger]
manual = true
params = { company_id = "string", inn = "string" }
[[step]]
id = "lookup"
uses = "lookup-company@1"
input = { company_id = "{{ params.company_id }}", inn = "{{ params.inn }}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_inn_with_a_wrong_control_digit_makes_no_request() {
    // The registry's address is a closed port: any request would fail as
    // transient and be retried, not fail at once with invalid-input.
    let closed = robota::cli::demo::registry_grants("http://127.0.0.1:9", KEY).unwrap();
    let site = Site::with_grants(&[("typed.toml", TYPED)], &closed);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let id = company(
        &api,
        json!({ "kind": "organisation", "short_name": "Опечатка" }),
    )
    .await;
    let start = api
        .post(
            "/api/v1/processes/lookup-typed/start",
            &json!({ "params": { "company_id": id, "inn": "7707083894" } }),
        )
        .await;
    assert_eq!(start.status, 202, "{}", start.body);
    let run = finished_run(&api, "lookup-typed", 1).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("invalid-input: inn: control digit does not match"),
        "{error}"
    );
    let detail = api
        .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(detail["steps"][0]["attempts"], 1, "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contractor_paid_for_the_first_time_is_looked_up_in_the_registry() {
    let registry = StandIn::registry(KEY);
    let site = Site::with_grants(&[], &registry.registry_grants(KEY));
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let manager = Api::new(&server.url, Some(&site.token("manager")));

    // Asked: what the registry says, and nothing written.
    let a = manager
        .get("/api/v1/payment-requests/prefill?inn=7707083893")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["source"], "registry");
    assert_eq!(a.body["fields"]["contractor"], "ПАО СБЕРБАНК");
    assert_eq!(a.body["fields"]["kpp"], "773601001");
    assert!(items(&admin.get("/api/v1/companies").await.body).is_empty());
    // Unknown there too: 404 saying what the registry said.
    let unknown = manager
        .get("/api/v1/payment-requests/prefill?inn=5001007329")
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .contains("the registry knows no company with INN 5001007329"),
        "{}",
        unknown.body
    );

    // Created with only the INN: the contractor becomes a company, and
    // the request is filled from it.
    let r = manager
        .post(
            "/api/v1/payment-requests",
            &json!({ "purpose": "Комиссия банка", "inn": "7707083893" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["contractor"], "ПАО СБЕРБАНК");
    assert_eq!(r.body["kpp"], "773601001");
    let company = r.body["contractor_company_id"].as_str().unwrap().to_owned();
    let c = admin
        .get(&format!("/api/v1/companies/{company}"))
        .await
        .body;
    assert_eq!(
        (c["inn"].as_str(), c["ogrn"].as_str()),
        (Some("7707083893"), Some("1027700132195"))
    );
    let timeline = admin
        .get(&format!("/api/v1/companies/{company}/timeline"))
        .await
        .body;
    assert!(
        timeline
            .to_string()
            .contains("Created from the company registry by INN 7707083893"),
        "{timeline}"
    );
    // The next request for them takes the company, not another lookup.
    let again = manager
        .post(
            "/api/v1/payment-requests",
            &json!({ "purpose": "Комиссия за декабрь", "inn": "7707083893" }),
        )
        .await;
    assert_eq!(
        again.body["contractor_company_id"].as_str(),
        Some(company.as_str())
    );
    assert_eq!(items(&admin.get("/api/v1/companies").await.body).len(), 1);
    // A contractor the registry does not know: the draft is made as given.
    let plain = manager
        .post(
            "/api/v1/payment-requests",
            &json!({ "purpose": "Аренда", "inn": "5001007329" }),
        )
        .await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    assert_eq!(plain.body["contractor"], Value::Null);
    assert_eq!(items(&admin.get("/api/v1/companies").await.body).len(), 1);
}
