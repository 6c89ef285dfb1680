//! Scenario 2, step 1 end to end: a meeting (a task of kind `meeting` about a
//! lead) reminds the client a day before by e-mail (a real SMTP server) and
//! by SMS (`send-sms@1`, the real component, against the stand-in SMS.ru
//! gateway), with the clock moved instead of waiting; refused and failing
//! messages, and a key that must never show.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{created, items};

use chrono::{Duration as Span, SecondsFormat, Utc};
use common::server::{Api, Site};
use common::smtp::{Smtp, free_port, read_message, serve_args, wait_for_mail};
use common::standin::StandIn;
use serde_json::{Value, json};
use std::time::Duration;

const REMINDER: &str = include_str!("../../../examples/processes/meeting-reminder.toml");
const KEY: &str = "sms-test-key";

async fn sent(gateway: &StandIn) -> Vec<Value> {
    let body = reqwest::get(format!("{}/_sent", gateway.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_reminds_the_client_a_day_before_by_email_and_sms() {
    let gateway = StandIn::sms(KEY);
    let site = Site::with_grants(&[("reminder.toml", REMINDER)], &gateway.sms_grants(KEY));
    let maildir = site.dir.path().join("maildir");
    let port = free_port();
    let _smtp = Smtp::start(port, &maildir);
    let args = serve_args(port, "sales@seller.example");
    let server = site.start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let api = Api::new(&server.url, server.token.as_deref());
    let manager = created(
        &api,
        "/api/v1/users",
        json!({ "email": "ivan@seller.example", "name": "Иван Петров", "role": "manager" }),
    )
    .await;
    let lead = created(
        &api,
        "/api/v1/leads",
        json!({ "title": "Фитнес-клуб", "name": "Андрей Волков", "phone": "8 921 444-55-66", "email": "volkov@sila.example" }),
    )
    .await;

    // A meeting needs its time, place, holder and what it is about.
    let starts = (Utc::now() + Span::days(3))
        .date_naive()
        .and_hms_opt(11, 0, 0)
        .unwrap()
        .and_utc();
    let meeting = json!({ "title": "Встреча на объекте", "kind": "meeting", "assignee_id": manager,
        "starts_at": starts.to_rfc3339_opts(SecondsFormat::Secs, true), "place": "Москва, ул. Лесная, 5",
        "entity_kind": "lead", "entity_id": lead });
    for (drop, field) in [
        ("place", "task.place"),
        ("starts_at", "task.starts_at"),
        ("assignee_id", "task.assignee_id"),
        ("entity_kind", "task.entity_kind"),
    ] {
        let mut bad = meeting.clone();
        bad.as_object_mut().unwrap().remove(drop);
        let a = api.post("/api/v1/tasks", &bad).await;
        assert_eq!(a.status, 422, "{drop}: {}", a.body);
        assert_eq!(a.body["field"], field, "{}", a.body);
    }
    assert!(items(&api.get("/api/v1/tasks").await.body).is_empty());
    created(&api, "/api/v1/tasks", meeting).await;

    // Nothing yet: the reminder waits for a day before the meeting.
    api.wait_for(
        "/api/v1/runs?process=meeting-reminder",
        Duration::from_secs(20),
        |b| !items(b).is_empty(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sent(&gateway).await.is_empty());

    let day_before = starts - Span::hours(24) + Span::minutes(1);
    let moved = api
        .post(
            "/api/v1/dev/clock",
            &json!({ "to": day_before.to_rfc3339_opts(SecondsFormat::Secs, true) }),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let runs = api
        .wait_for(
            "/api/v1/runs?process=meeting-reminder",
            Duration::from_secs(30),
            |b| items(b).first().is_some_and(|r| r["status"] != "running"),
        )
        .await;
    assert_eq!(items(&runs)[0]["status"], "completed", "{runs}");

    let messages = sent(&gateway).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["to"], "79214445566");
    let local = (starts + Span::hours(3))
        .format("%d.%m.%Y %H:%M")
        .to_string();
    assert_eq!(
        messages[0]["msg"],
        format!("Напоминаем о встрече {local}: Москва, ул. Лесная, 5.")
    );

    let mail = wait_for_mail(&maildir, 1, Duration::from_secs(20)).await;
    let message = read_message(&mail[0]);
    assert_eq!(message["to"], "volkov@sila.example", "{message}");
    assert_eq!(message["subject"], format!("Напоминание о встрече {local}"));
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("Вас встретит Иван Петров"),
        "{message}"
    );

    let run = api
        .get(&format!(
            "/api/v1/runs/{}",
            items(&runs)[0]["id"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(run["steps"][1]["output"]["to"], "+79214445566");
    assert!(
        !run.to_string().contains(KEY),
        "the key shows in the run: {run}"
    );
}

/// An SMS to a given number, as a manual process with quick retries.
const SMS: &str = r#"
id = "sms"
[trigger]
manual = true
params = { to = "string" }
[[step]]
id = "send"
uses = "send-sms@1"
retry = { attempts = 3, backoff = "1s" }
input = { to = "{{ params.to }}", text = "Проверка связи" }
"#;

async fn send(api: &Api, to: &str, n: usize) -> Value {
    let a = api
        .post(
            "/api/v1/processes/sms/start",
            &json!({ "params": { "to": to } }),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let runs = api
        .wait_for("/api/v1/runs?process=sms", Duration::from_secs(30), |b| {
            items(b).len() >= n && items(b).iter().all(|r| r["status"] != "running")
        })
        .await;
    let mut all = items(&runs).clone();
    all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let id = all[n - 1]["id"].as_str().unwrap().to_owned();
    api.get(&format!("/api/v1/runs/{id}")).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_messages_fail_clearly_and_a_failing_gateway_is_retried() {
    let gateway = StandIn::sms(KEY);
    let site = Site::with_grants(&[("sms.toml", SMS)], &gateway.sms_grants(KEY));
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());

    let run = send(&api, "+7 900 000-00-01", 1).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("was refused: На этот номер нельзя отправлять сообщения (code 207)"),
        "{run}"
    );
    assert_eq!(run["steps"][0]["attempts"], 1, "a refusal is final: {run}");

    let run = send(&api, "8 900 000-00-02", 2).await;
    assert_eq!(run["status"], "completed", "{run}");
    let log = run["steps"][0]["log"].as_array().unwrap();
    assert_eq!(log[0]["status"], "retrying", "{run}");
    assert!(
        log[0]["error"].as_str().unwrap().contains("HTTP 503"),
        "{run}"
    );

    let run = send(&api, "12", 3).await;
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("invalid-input: to: `12` is not a phone number"),
        "{run}"
    );
    let numbers: Vec<String> = sent(&gateway)
        .await
        .iter()
        .map(|m| m["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(numbers, ["79000000002"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_names_the_config_key_and_never_shows_itself() {
    let gateway = StandIn::sms(KEY);
    let site = Site::with_grants(&[("sms.toml", SMS)], &gateway.sms_grants("not-the-key"));
    let server = site.start(&[]);
    let api = Api::new(&server.url, server.token.as_deref());
    let run = send(&api, "+7 916 123-45-67", 1).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("Неправильный api_id (code 200); check `gateway.api_id`"),
        "{error}"
    );
    assert!(!run.to_string().contains("not-the-key"), "{run}");
    assert!(sent(&gateway).await.is_empty());
}
