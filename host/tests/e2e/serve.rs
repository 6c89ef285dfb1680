//! `robota serve` end to end over HTTP: tokens, CRM writes that start
//! processes, the run log, delays on the moved clock, bad input that changes
//! nothing, and a `kill -9` in the middle of 200 runs.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::items;
use robota::store::prelude::*;

use common::server::{Api, Site};
use serde_json::{Value, json};
use std::time::Duration;

const CALL_ON_NEGOTIATION: &str =
    include_str!("../../../examples/processes/call-on-negotiation.toml");

const LATER: &str = r#"
id = "later"
[trigger]
event = "deal.stage_changed"
to = "lost"
[[step]]
id = "remind"
uses = "create-task@1"
after = "3d"
input = { title = "Remind {{ deal.title }}", entity = { kind = "deal", id = "{{ deal.id }}" } }
"#;

async fn create_deal(api: &Api, title: &str, amount: &str) -> String {
    let a = api
        .post(
            "/api/v1/deals",
            &json!({ "title": title, "amount": amount, "currency": "RUB" }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_but_healthz_answers_without_a_token() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let anon = Api::new(&server.url, None);
    assert_eq!(anon.get("/healthz").await.status, 200);
    for path in [
        "/api/v1/deals",
        "/api/v1/runs",
        "/api/v1/processes",
        "/api/v1/openapi.json",
        "/api/v1/companies/x",
    ] {
        let a = anon.get(path).await;
        assert_eq!(a.status, 401, "{path}");
        assert_eq!(a.content_type, "application/problem+json", "{path}");
        assert!(a.body["detail"].as_str().unwrap().contains("bearer token"));
    }
    let wrong = Api::new(&server.url, Some("rbt_not-a-token"));
    assert_eq!(wrong.get("/api/v1/deals").await.status, 401);
    let admin = Api::new(&server.url, server.token.as_deref());
    assert_eq!(admin.get("/api/v1/deals").await.status, 200);
    let plugins = admin.get("/api/v1/plugins").await;
    let chaos = items(&plugins.body)
        .iter()
        .find(|p| p["id"] == "chaos")
        .unwrap();
    assert_eq!(chaos["uses"], "chaos@0");
    assert!(chaos["wants"].as_array().unwrap().len() > chaos["granted"].as_array().unwrap().len());
    assert!(
        items(&plugins.body)
            .iter()
            .any(|p| p["uses"] == "create-task@1")
    );
    let doc = admin.get("/api/v1/openapi.json").await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/api/v1/runs/{id}/retry"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_move_over_http_starts_the_process_and_its_task_appears() {
    let site = Site::new(&[("call.toml", CALL_ON_NEGOTIATION)]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let big = create_deal(&api, "Насосы", "480000.00").await;
    let small = create_deal(&api, "Мелочь", "9500.00").await;
    for id in [&big, &small] {
        let a = api
            .patch(
                &format!("/api/v1/deals/{id}"),
                &json!({ "stage": "negotiation" }),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let runs = api
        .wait_for(
            "/api/v1/runs?process=call-on-negotiation",
            Duration::from_secs(20),
            |b| items(b).len() == 1 && items(b)[0]["status"] == "completed",
        )
        .await;
    assert_eq!(items(&runs)[0]["entity"]["id"], json!(big));
    let tasks = api.get(&format!("/api/v1/tasks?entity_id={big}")).await;
    assert_eq!(items(&tasks.body).len(), 1);
    assert_eq!(items(&tasks.body)[0]["title"], "Позвонить: Насосы");
    let none = api.get(&format!("/api/v1/tasks?entity_id={small}")).await;
    assert!(
        items(&none.body).is_empty(),
        "the condition keeps small deals out"
    );

    // The run log shows the step's input and output.
    let run_id = items(&runs)[0]["id"].as_str().unwrap().to_owned();
    let run = api.get(&format!("/api/v1/runs/{run_id}")).await.body;
    let step = &run["steps"][0];
    assert_eq!(step["status"], "done");
    assert_eq!(step["input"]["due_in_days"], 1);
    assert_eq!(step["output"]["id"], items(&tasks.body)[0]["id"]);
    assert_eq!(step["log"][0]["attempt"], 1);

    // Retrying a completed run is refused and changes nothing.
    let a = api
        .post(&format!("/api/v1/runs/{run_id}/retry"), &json!({}))
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    // The refusal's code and parameters, for a client to say in its words.
    assert_eq!(a.body["code"], "run-status", "{}", a.body);
    assert_eq!(
        a.body["params"],
        json!({ "run": run_id, "status": "completed", "wanted": "failed" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_waits_until_the_moved_clock_passes_it() {
    let site = Site::new(&[("later.toml", LATER)]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let deal = create_deal(&api, "Later", "100").await;
    let a = api
        .patch(
            &format!("/api/v1/deals/{deal}"),
            &json!({ "stage": "lost" }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    api.wait_for("/api/v1/runs?process=later", Duration::from_secs(10), |b| {
        items(b).len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tasks = api.get("/api/v1/tasks").await;
    assert!(items(&tasks.body).is_empty(), "not before three days");
    let moved = api
        .post("/api/v1/dev/clock", &json!({ "advance": "3d" }))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    api.wait_for("/api/v1/runs?process=later", Duration::from_secs(10), |b| {
        items(b)[0]["status"] == "completed"
    })
    .await;
    let tasks = api.get("/api/v1/tasks").await;
    assert_eq!(items(&tasks.body)[0]["title"], "Remind Later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clock_moves_the_engine_the_store_the_actions_and_the_reports() {
    use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
    let site = Site::new(&[("call.toml", CALL_ON_NEGOTIATION)]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let at = |v: &Value| {
        DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .to_utc()
    };

    // To 23:30 UTC ten days on: 02:30 the next day in Moscow.
    let target = (Utc::now() + Days::days(10)).date_naive();
    let to = format!("{target}T23:30:00Z");
    let moved = api.post("/api/v1/dev/clock", &json!({ "to": to })).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let now = at(&moved.body["now"]);
    assert!(
        (now - at(&json!(to))).num_seconds().abs() < 5,
        "{}",
        moved.body
    );
    // A local time without an offset is the company's (Moscow, UTC+3).
    let local = format!("{}T09:00", target + Days::days(2));
    let moved = api.post("/api/v1/dev/clock", &json!({ "to": local })).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let now = at(&moved.body["now"]);
    assert_eq!(
        now.format("%Y-%m-%dT%H:%M").to_string(),
        format!("{}T06:00", target + Days::days(2))
    );
    // Back in time and bad input are refused and move nothing.
    let back = api
        .post(
            "/api/v1/dev/clock",
            &json!({ "to": "2001-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(back.status, 422, "{}", back.body);
    assert!(
        back.body["detail"]
            .as_str()
            .unwrap()
            .contains("moves only forward"),
        "{}",
        back.body
    );
    let bad = api
        .post("/api/v1/dev/clock", &json!({ "to": "soon" }))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.body["detail"].as_str().unwrap().contains("`soon`"),
        "{}",
        bad.body
    );
    let both = api
        .post(
            "/api/v1/dev/clock",
            &json!({ "to": local, "advance": "1d" }),
        )
        .await;
    assert_eq!(both.status, 400, "{}", both.body);

    // The store stamps rows, the engine runs and the action dates its task
    // by the same moved clock.
    let deal = create_deal(&api, "Часы", "480000.00").await;
    let record = api.get(&format!("/api/v1/deals/{deal}")).await.body;
    assert!(
        (at(&record["created_at"]) - now).num_minutes().abs() < 5,
        "{record}"
    );
    api.patch(
        &format!("/api/v1/deals/{deal}"),
        &json!({ "stage": "negotiation" }),
    )
    .await;
    let runs = api
        .wait_for(
            "/api/v1/runs?process=call-on-negotiation",
            Duration::from_secs(20),
            |b| items(b).len() == 1 && items(b)[0]["status"] == "completed",
        )
        .await;
    let run = &items(&runs)[0];
    for field in ["created_at", "finished_at"] {
        assert!(
            (at(&run[field]) - now).num_minutes().abs() < 5,
            "{field}: {run}"
        );
    }
    let tasks = api
        .get(&format!("/api/v1/tasks?entity_id={deal}"))
        .await
        .body;
    let due = at(&items(&tasks)[0]["due_at"]);
    assert!(
        due > now && due - now < Days::days(4),
        "due {due}, now {now}"
    );

    // The invoices report's default day is the company's date.
    api.post(
        "/api/v1/dev/clock",
        &json!({ "to": format!("{}T23:30:00Z", target + Days::days(3)) }),
    )
    .await;
    let report = api.get("/api/v1/reports/invoices").await.body;
    let moscow = target + Days::days(4);
    assert_eq!(report["to"], json!(moscow.to_string()), "{report}");
    assert!(NaiveDate::parse_from_str(report["from"].as_str().unwrap(), "%Y-%m-%d").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let site = Site::new(&[]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());

    let a = api
        .post(
            "/api/v1/companies",
            &json!({ "kind": "organisation", "short_name": "X", "inn": "7707083894" }),
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.content_type, "application/problem+json");
    assert_eq!(a.body["field"], "company.inn");
    assert_eq!(a.body["code"], "bad-checksum", "{}", a.body);
    assert_eq!(a.body["params"], json!({}));
    assert_eq!(
        a.body["detail"],
        "company.inn: control digit does not match"
    );
    let a = api
        .post("/api/v1/deals", &json!({ "title": "x", "colour": "red" }))
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body["detail"].as_str().unwrap().contains("colour"),
        "{}",
        a.body
    );
    let a = api
        .send("POST", "/api/v1/deals", Some("{not json".into()))
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = api.get("/api/v1/deals?amunt.gt=5").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["field"], "amunt");
    let a = api.get("/api/v1/widgets").await;
    assert_eq!(a.status, 404);
    assert!(items(&api.get("/api/v1/deals").await.body).is_empty());
    assert!(items(&api.get("/api/v1/companies").await.body).is_empty());

    // A stage that needs fields the deal lacks: 422 listing them.
    let deal = create_deal(&api, "Пустая", "0").await;
    let a = api
        .patch(
            &format!("/api/v1/deals/{deal}"),
            &json!({ "stage": "invoice" }),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    let missing: Vec<&str> = a.body["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(missing, vec!["company_id", "amount"]);
    let d = api.get(&format!("/api/v1/deals/{deal}")).await;
    assert_eq!(d.body["stage"], "new");

    // A body over the cap.
    let big = json!({ "title": "x".repeat(2 << 20) });
    let a = api.post("/api/v1/deals", &big).await;
    assert_eq!(a.status, 413);

    // A bad process upload names the line and column; nothing is installed.
    let a = api
        .send(
            "PUT",
            "/api/v1/processes/broken",
            Some("id = \"broken\"\n[trigger]\ncron = \"61 * * * *\"\n[[step]]\nid = \"a\"\nuses = \"create-task@1\"\n".into()),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["errors"][0]["line"], 3);
    assert!(
        a.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("bad cron expression")
    );
    assert!(items(&api.get("/api/v1/processes").await.body).is_empty());

    // An input the action's schema refuses is refused at upload, at its line.
    let a = api
        .send(
            "PUT",
            "/api/v1/processes/mover",
            Some("id = \"mover\"\n[trigger]\nevent = \"deal.created\"\n[[step]]\nid = \"m\"\nuses = \"move-stage@1\"\n[step.input]\ndeal_id = \"{{ deal.id }}\"\nstage = \"won\"\nentity = { kind = \"deal\" }\n".into()),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["errors"][0]["line"], 10, "{}", a.body);
    assert_eq!(
        a.body["errors"][0]["message"],
        "step `m`: input `entity`: not an input of `move-stage@1`"
    );
    assert!(items(&api.get("/api/v1/processes").await.body).is_empty());

    // A manual start with bad parameters.
    let good = "id = \"manual\"\n[trigger]\nmanual = true\nparams = { days = \"integer\" }\n[[step]]\nid = \"a\"\nuses = \"create-task@1\"\ninput = { title = \"in {{ params.days }} days\" }\n";
    let a = api
        .send("PUT", "/api/v1/processes/manual", Some(good.into()))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = api
        .post(
            "/api/v1/processes/manual/start",
            &json!({ "params": { "days": "three" } }),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body["detail"]
            .as_str()
            .unwrap()
            .contains("parameter `days`")
    );
    assert!(items(&api.get("/api/v1/runs").await.body).is_empty());
    let a = api
        .post(
            "/api/v1/processes/manual/start",
            &json!({ "params": { "days": 3 } }),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);

    // Only admins upload processes.
    let token = std::process::Command::new(env!("CARGO_BIN_EXE_robota"))
        .args(["token", "create", "--role", "manager", "--db", &site.db()])
        .output()
        .unwrap();
    assert!(token.status.success());
    let manager = Api::new(
        &server.url,
        Some(String::from_utf8(token.stdout).unwrap().trim()),
    );
    assert_eq!(manager.get("/api/v1/deals").await.status, 200);
    let a = manager
        .send("PUT", "/api/v1/processes/manual", Some(good.into()))
        .await;
    assert_eq!(a.status, 403);
}

const SLOW_THEN_TASK: &str = r#"
id = "slow-then-task"
once_per = "{{ deal.id }}"
[trigger]
event = "deal.created"
[[step]]
id = "think"
uses = "chaos@0"
input = { do = "sleep", ms = 30 }
[[step]]
id = "task"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "task for {{ deal.id }}", entity_kind = "deal", entity_id = "{{ deal.id }}" } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_200_runs_then_every_run_completes_exactly_once() {
    let site = Site::new(&[("slow.toml", SLOW_THEN_TASK)]);
    let mut server = site.start(&["--workers", "4"]);
    let token = server.token.clone();
    let api = Api::new(&server.url, token.as_deref());
    let mut ids = Vec::new();
    for n in 0..200 {
        ids.push(create_deal(&api, &format!("deal {n}"), "1").await);
    }
    // Let some runs finish and leave others mid-step, then pull the plug.
    api.wait_for(
        "/api/v1/runs?status=completed&limit=1000",
        Duration::from_secs(30),
        |b| items(b).len() >= 10,
    )
    .await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let done_before = site.database().await.count_runs("completed").await.unwrap();
    assert!(done_before < 200, "the kill came too late to test anything");

    let server = site.start(&["--workers", "4"]);
    let api = Api::new(&server.url, token.as_deref());
    api.wait_for(
        "/api/v1/runs?status=completed&limit=1000",
        Duration::from_secs(60),
        |b| items(b).len() == 200,
    )
    .await;
    let store = site.database().await;
    assert_eq!(store.count_runs("completed").await.unwrap(), 200);
    assert_eq!(store.count_runs("running").await.unwrap(), 0);
    let per_deal: Vec<(String, i64)> = common::server::rows(
        &store,
        "SELECT entity_id, COUNT(*) FROM tasks GROUP BY entity_id",
        vec![],
    )
    .await
    .into_iter()
    .map(|r| (r.string(0).unwrap(), r.int(1).unwrap()))
    .collect();
    assert_eq!(per_deal.len(), 200, "every deal got its task");
    assert!(
        per_deal.iter().all(|(_, n)| *n == 1),
        "no task twice: {per_deal:?}"
    );
    let mut with_tasks: Vec<String> = per_deal.into_iter().map(|(id, _)| id).collect();
    with_tasks.sort();
    ids.sort();
    assert_eq!(with_tasks, ids);
}

const APPROVE_DISCOUNT: &str = r#"
id = "approve-discount"
[trigger]
event = "deal.stage_changed"
to = "negotiation"
[[step]]
id = "ask"
approval = { title = "Discount on {{ deal.title }}?", role = "head_of_sales", on_reject = "no" }
[[step]]
id = "yes"
uses = "create-task@1"
input = { title = "Offer the discount", entity = { kind = "deal", id = "{{ deal.id }}" } }
next = "end"
[[step]]
id = "no"
uses = "create-task@1"
input = { title = "No discount: {{ steps.ask.output.comment }}", entity = { kind = "deal", id = "{{ deal.id }}" } }
"#;

fn token(site: &Site, role: &str) -> String {
    site.token(role)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_step_waits_then_branches_on_approve_and_on_reject() {
    let site = Site::new(&[("discount.toml", APPROVE_DISCOUNT)]);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let head = Api::new(&server.url, Some(&token(&site, "head_of_sales")));
    let manager = Api::new(&server.url, Some(&token(&site, "manager")));
    let yes = create_deal(&admin, "Yes deal", "1000").await;
    let no = create_deal(&admin, "No deal", "1000").await;
    for id in [&yes, &no] {
        admin
            .patch(
                &format!("/api/v1/deals/{id}"),
                &json!({ "stage": "negotiation" }),
            )
            .await;
    }
    let open = head
        .wait_for("/api/v1/approvals", Duration::from_secs(10), |b| {
            items(b).len() == 2
        })
        .await;
    assert!(
        items(&manager.get("/api/v1/approvals").await.body).is_empty(),
        "not the manager's"
    );
    let approval_for = |deal: &str| {
        items(&open)
            .iter()
            .find(|a| a["entity"]["id"] == deal)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let a = manager
        .post(
            &format!("/api/v1/approvals/{}/approve", approval_for(&yes)),
            &json!({}),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = head
        .post(
            &format!("/api/v1/approvals/{}/reject", approval_for(&no)),
            &json!({}),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["field"], "comment");
    assert!(
        items(&admin.get("/api/v1/tasks").await.body).is_empty(),
        "waiting still"
    );

    let a = head
        .post(
            &format!("/api/v1/approvals/{}/approve", approval_for(&yes)),
            &json!({ "comment": "ok" }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "approved");
    let a = head
        .post(
            &format!("/api/v1/approvals/{}/reject", approval_for(&no)),
            &json!({ "comment": "margin too thin" }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = head
        .post(
            &format!("/api/v1/approvals/{}/approve", approval_for(&no)),
            &json!({}),
        )
        .await;
    assert_eq!(a.status, 409, "decided once");
    assert_eq!(a.body["code"], "already-decided", "{}", a.body);

    admin
        .wait_for(
            "/api/v1/runs?status=completed",
            Duration::from_secs(10),
            |b| items(b).len() == 2,
        )
        .await;
    let t = admin.get(&format!("/api/v1/tasks?entity_id={yes}")).await;
    assert_eq!(items(&t.body)[0]["title"], "Offer the discount");
    let t = admin.get(&format!("/api/v1/tasks?entity_id={no}")).await;
    assert_eq!(items(&t.body)[0]["title"], "No discount: margin too thin");
}

const FLAKY: &str = r#"
id = "flaky"
[trigger]
event = "deal.created"
[[step]]
id = "task"
uses = "chaos@0"
retry = { attempts = 5, backoff = "50ms" }
input = { do = "flaky", succeed_at = 3, kind = "task", fields = { title = "made on the third try", entity_kind = "deal", entity_id = "{{ deal.id }}" } }
"#;

const DAILY: &str = r#"
id = "daily"
[trigger]
cron = "0 9 * * *"
timezone = "Europe/Moscow"
[[step]]
id = "t"
uses = "create-task@1"
input = { title = "Daily digest {{ trigger.tick }}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_then_succeeding_action_is_retried_and_the_run_completes() {
    let site = Site::new(&[("flaky.toml", FLAKY)]);
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let deal = create_deal(&api, "Flaky", "1").await;
    let runs = api
        .wait_for("/api/v1/runs?process=flaky", Duration::from_secs(20), |b| {
            items(b).first().is_some_and(|r| r["status"] == "completed")
        })
        .await;
    let run = api
        .get(&format!(
            "/api/v1/runs/{}",
            items(&runs)[0]["id"].as_str().unwrap()
        ))
        .await
        .body;
    let log = run["steps"][0]["log"].as_array().unwrap();
    let statuses: Vec<&str> = log.iter().map(|a| a["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["retrying", "retrying", "done"]);
    assert!(log[0]["error"].as_str().unwrap().contains("transient"));
    let tasks = api.get(&format!("/api/v1/tasks?entity_id={deal}")).await;
    assert_eq!(
        items(&tasks.body).len(),
        1,
        "the failed attempts wrote nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_process_fires_once_per_tick_and_once_after_downtime() {
    let site = Site::new(&[("daily.toml", DAILY)]);
    let server = site.start(&[]);
    let token = server.token.clone();
    let api = Api::new(&server.url, token.as_deref());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        items(&api.get("/api/v1/runs").await.body).is_empty(),
        "no tick yet"
    );
    // One day on: the 09:00 tick fires once.
    api.post("/api/v1/dev/clock", &json!({ "advance": "1d" }))
        .await;
    api.wait_for(
        "/api/v1/runs?status=completed",
        Duration::from_secs(10),
        |b| items(b).len() == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        items(&api.get("/api/v1/runs").await.body).len(),
        1,
        "once per tick"
    );
    drop(server);

    // Down for a while, and the clock of the next start is ahead by a week
    // (the dev clock starts at the real time again: move it past 7 ticks).
    let server = site.start(&[]);
    let api = Api::new(&server.url, token.as_deref());
    api.post("/api/v1/dev/clock", &json!({ "advance": "7d" }))
        .await;
    api.wait_for(
        "/api/v1/runs?status=completed",
        Duration::from_secs(10),
        |b| items(b).len() == 2,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        items(&api.get("/api/v1/runs").await.body).len(),
        2,
        "the missed ticks fire once, not seven times"
    );
}

const SLOW: &str = r#"
id = "slow"
[trigger]
event = "deal.created"
[[step]]
id = "think"
uses = "chaos@0"
timeout = "10s"
input = { do = "sleep", ms = 1500 }
[[step]]
id = "task"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "after thinking" } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_step_in_hand_finish_and_commit() {
    let site = Site::new(&[("slow.toml", SLOW)]);
    let mut server = site.start(&[]);
    let token = server.token.clone();
    let api = Api::new(&server.url, token.as_deref());
    create_deal(&api, "Slow", "1").await;
    // Wait until the first step is in hand.
    let runs = api
        .wait_for("/api/v1/runs", Duration::from_secs(10), |b| {
            items(b).len() == 1
        })
        .await;
    let run_id = items(&runs)[0]["id"].as_str().unwrap().to_owned();
    api.wait_for(
        &format!("/api/v1/runs/{run_id}"),
        Duration::from_secs(10),
        |b| b["steps"][0]["status"] == "running",
    )
    .await;
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "a clean stop: {status:?}");
    let store = site.database().await;
    let steps = store.run_steps(&run_id).await.unwrap();
    assert_eq!(
        steps[0].status, "done",
        "the step in hand finished and committed"
    );
    assert_eq!(steps[0].attempts, 1);
    // The next step waits for the next start, which runs it.
    drop(store);
    let server = site.start(&[]);
    let api = Api::new(&server.url, token.as_deref());
    api.wait_for(
        &format!("/api/v1/runs/{run_id}"),
        Duration::from_secs(10),
        |b| b["status"] == "completed",
    )
    .await;
    assert_eq!(items(&api.get("/api/v1/tasks").await.body).len(), 1);
}

const HOOK: &str = r#"
id = "hook"
[trigger]
webhook = true
secret = "a-long-shared-secret-1234"
[[step]]
id = "t"
uses = "create-task@1"
if = "params.amount > 100"
else = "small"
input = { title = "Big payment from {{ params.payer }}" }
next = "end"
[[step]]
id = "small"
uses = "create-task@1"
input = { title = "Small payment from {{ params.payer }}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_starts_its_process_only_with_its_secret() {
    let site = Site::new(&[("hook.toml", HOOK)]);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let client = reqwest::Client::new();
    let hook = format!("{}/api/v1/hooks/hook", server.url);
    let send = |secret: Option<&'static str>, body: Value| {
        let mut req = client
            .post(&hook)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(s) = secret {
            req = req.header("X-Robota-Secret", s);
        }
        req.send()
    };
    let r = send(None, json!({ "payer": "x", "amount": 1 }))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = send(
        Some("wrong-secret-wrong-secret"),
        json!({ "payer": "x", "amount": 1 }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        items(&admin.get("/api/v1/runs").await.body).is_empty(),
        "nothing started"
    );
    for (payer, amount) in [("ООО Ромашка", 500), ("ИП Иванов", 50)] {
        let r = send(
            Some("a-long-shared-secret-1234"),
            json!({ "payer": payer, "amount": amount }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 202);
    }
    admin
        .wait_for(
            "/api/v1/runs?status=completed",
            Duration::from_secs(10),
            |b| items(b).len() == 2,
        )
        .await;
    let mut titles: Vec<String> = items(&admin.get("/api/v1/tasks").await.body)
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        vec![
            "Big payment from ООО Ромашка",
            "Small payment from ИП Иванов"
        ]
    );
}

const APPROVE_PAYMENT_REQUEST: &str =
    include_str!("../../../examples/processes/approve-payment-request.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_request_is_approved_or_sent_back_by_the_head_of_sales() {
    let site = Site::new(&[("pr.toml", APPROVE_PAYMENT_REQUEST)]);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, server.token.as_deref());
    let head = Api::new(&server.url, Some(&token(&site, "head_of_sales")));
    let author = admin
        .post(
            "/api/v1/users",
            &json!({ "email": "m@x.example", "name": "M", "role": "manager" }),
        )
        .await;
    assert_eq!(author.status, 201, "{}", author.body);
    let author = author.body["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for purpose in ["Аренда офиса", "Яхта"] {
        let a = admin
            .post(
                "/api/v1/payment-requests",
                &json!({ "purpose": purpose, "contractor": "ООО «Ромашка»", "amount": "120000", "currency": "RUB",
                         "pay_by": "2026-12-05", "inn": "7707083893", "kpp": "773601001", "bik": "044525225",
                         "settlement_account": "40702810438000060473", "correspondent_account": "30101810400000000225",
                         "payment_purpose_text": "Оплата по счёту №15", "author_id": author }),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let id = a.body["id"].as_str().unwrap().to_owned();
        let a = admin
            .patch(
                &format!("/api/v1/payment-requests/{id}"),
                &json!({ "status": "on_approval" }),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        ids.push(id);
    }
    let open = head
        .wait_for("/api/v1/approvals", Duration::from_secs(10), |b| {
            items(b).len() == 2
        })
        .await;
    let for_request = |id: &str| {
        items(&open)
            .iter()
            .find(|a| a["entity"]["id"] == id)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        items(&open)[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Оплатить 120\u{a0}000,00\u{a0}₽"),
        "{open}"
    );
    head.post(
        &format!("/api/v1/approvals/{}/approve", for_request(&ids[0])),
        &json!({}),
    )
    .await;
    head.post(
        &format!("/api/v1/approvals/{}/reject", for_request(&ids[1])),
        &json!({ "comment": "не в этом году" }),
    )
    .await;
    admin
        .wait_for(
            "/api/v1/runs?status=completed",
            Duration::from_secs(10),
            |b| items(b).len() == 2,
        )
        .await;
    let approved = admin
        .get(&format!("/api/v1/payment-requests/{}", ids[0]))
        .await;
    assert_eq!(approved.body["status"], "approved");
    let rejected = admin
        .get(&format!("/api/v1/payment-requests/{}", ids[1]))
        .await;
    assert_eq!(rejected.body["status"], "rejected");
    let tasks = admin
        .get(&format!("/api/v1/tasks?assignee_id={author}"))
        .await;
    assert_eq!(
        items(&tasks.body).len(),
        1,
        "the author reworks the rejected one"
    );
    assert!(
        items(&tasks.body)[0]["description"]
            .as_str()
            .unwrap()
            .contains("не в этом году")
    );
}
