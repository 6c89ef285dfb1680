//! The process engine in-process, with the real `chaos` component, on each
//! database — a real SQLite file and a real PostgreSQL server (every test
//! runs on both: `on_sqlite::…`, `on_postgres::…`): entity events start
//! runs whose CRM effects commit with the step, transient failures retry,
//! `once_per` stops duplicates, delays wait for the clock, cron ticks fire
//! once, and bad process files change nothing.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use robota::crm::changes::Change;
use robota::crm::{EntityKind, EntityRef};
use robota::engine::catalog::InstalledAction;
use robota::engine::{Catalog, Engine, ShiftedClock};
use robota::plugins::{Grants, Limits};
use robota::store::postgres::PgStore;
use robota::store::prelude::*;
use robota::store::{CrmStore, Database, SqliteStore};
use robota_test_postgres::TestPostgres;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

struct World {
    engine: Arc<Engine>,
    store: Arc<Database>,
    clock: Arc<ShiftedClock>,
    _dir: tempfile::TempDir,
    /// The PostgreSQL server of a world on PostgreSQL (stopped on drop).
    _server: Option<TestPostgres>,
}

/// Which database a world runs on.
#[derive(Clone, Copy)]
enum On {
    Sqlite,
    Postgres,
}

async fn world(on: On) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (store, server) = match on {
        On::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("crm.db").display());
            let store = SqliteStore::open(&url).await.unwrap();
            (Database::from(store), None)
        }
        On::Postgres => {
            let server = TestPostgres::start().unwrap();
            let url = server.create_database("crm").unwrap();
            (
                Database::from(PgStore::open(&url).await.unwrap()),
                Some(server),
            )
        }
    };
    let store = Arc::new(store);
    let host = Arc::new(common::host());
    let plugin = host
        .load_file(std::path::Path::new(robota_plugin_artifacts::CHAOS))
        .await
        .unwrap();
    let mut catalog = Catalog::new();
    catalog
        .insert(InstalledAction {
            plugin,
            grants: Grants::parse(&["crm.read", "crm.write"]).unwrap(),
            config: Arc::new(BTreeMap::new()),
            limits: Limits::default(),
        })
        .unwrap();
    let clock = Arc::new(ShiftedClock::new());
    let engine = Arc::new(
        Engine::new(store.clone(), host, catalog, clock.clone())
            .await
            .unwrap(),
    );
    World {
        engine,
        store,
        clock,
        _dir: dir,
        _server: server,
    }
}

impl World {
    /// Dispatches events and ticks and runs due steps until nothing moves.
    async fn settle(&self) {
        loop {
            let started = self.engine.dispatch_events().await.unwrap()
                + self.engine.fire_schedules().await.unwrap()
                + self.engine.expire_approvals().await.unwrap();
            let mut worked = false;
            while self.engine.work_one().await.unwrap() {
                worked = true;
            }
            if started == 0 && !worked {
                break;
            }
        }
    }

    async fn commit(&self, changes: Vec<Change>) {
        self.store.commit(&changes).await.unwrap();
    }

    async fn tasks(&self) -> Vec<Map<String, Value>> {
        self.store.query(EntityKind::Task, &[], 100).await.unwrap()
    }

    async fn run_statuses(&self) -> Vec<String> {
        let runs = self
            .store
            .list_runs(&robota::store::runs::RunFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        runs.into_iter().map(|r| r.status).collect()
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn create_deal(id: &str, title: &str, amount: &str) -> Change {
    Change::Create {
        kind: EntityKind::Deal,
        id: id.into(),
        fields: obj(json!({ "title": title, "amount": amount, "currency": "RUB" })),
    }
}

fn move_deal(id: &str, stage: &str) -> Change {
    Change::Update {
        target: EntityRef {
            kind: EntityKind::Deal,
            id: id.into(),
        },
        fields: obj(json!({ "stage": stage })),
    }
}

const ON_NEGOTIATION: &str = r#"
id = "call-on-negotiation"
title = "Plan a call when a big deal reaches negotiation"
condition = "deal.amount > 10000"
once_per = "{{ deal.id }}"

[trigger]
event = "deal.stage_changed"
to = "negotiation"

[[step]]
id = "task"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "Call about {{ deal.title }}", entity_kind = "deal", entity_id = "{{ deal.id }}" } }

[[step]]
id = "note"
uses = "chaos@0"
input = { do = "echo", value = "{{ steps.task.output.id }}" }
"#;

async fn a_stage_move_runs_the_process_and_its_effects_commit(w: World) {
    w.engine.install("call.toml", ON_NEGOTIATION).await.unwrap();
    w.commit(vec![
        create_deal("d1", "Насосы", "15000.00"),
        create_deal("d2", "Мелочь", "10000.00"),
    ])
    .await;
    w.commit(vec![
        move_deal("d1", "negotiation"),
        move_deal("d2", "negotiation"),
    ])
    .await;
    w.settle().await;

    let tasks = w.tasks().await;
    assert_eq!(
        tasks.len(),
        1,
        "only the deal above 10000 gets a task: {tasks:?}"
    );
    assert_eq!(tasks[0]["title"], "Call about Насосы");
    assert_eq!(tasks[0]["entity_id"], "d1");
    assert_eq!(w.run_statuses().await, vec!["completed"]);

    // The second step read the first one's output.
    let run = &w.store.list_runs(&Default::default()).await.unwrap()[0];
    let steps = w.store.run_steps(&run.id).await.unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1].output.as_ref().unwrap()["value"], tasks[0]["id"]);
    assert_eq!(steps[0].log.len(), 1, "one attempt logged");

    // Back and forth: once_per keeps it to one run per deal.
    w.commit(vec![move_deal("d1", "new")]).await;
    w.commit(vec![move_deal("d1", "negotiation")]).await;
    w.settle().await;
    assert_eq!(w.tasks().await.len(), 1);
    assert_eq!(w.run_statuses().await.len(), 1);
}

async fn a_transient_failure_is_retried_and_its_writes_land_once(w: World) {
    w.engine
        .install(
            "flaky.toml",
            r#"
id = "flaky"
[trigger]
event = "deal.created"
[[step]]
id = "task"
uses = "chaos@0"
retry = { attempts = 4, backoff = "10ms" }
input = { do = "flaky", succeed_at = 3, kind = "task", fields = { title = "Flaky {{ deal.title }}" } }
"#,
        )
        .await
        .unwrap();
    w.commit(vec![create_deal("d1", "A", "1.00")]).await;
    // Retries wait for their backoff: keep settling until the run ends.
    for _ in 0..100 {
        w.settle().await;
        if w.run_statuses().await == vec!["completed"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(w.run_statuses().await, vec!["completed"]);
    let tasks = w.tasks().await;
    assert_eq!(
        tasks.len(),
        1,
        "failed attempts' buffered writes are dropped"
    );
    let run = &w.store.list_runs(&Default::default()).await.unwrap()[0];
    let steps = w.store.run_steps(&run.id).await.unwrap();
    assert_eq!(steps[0].attempts, 3);
    let statuses: Vec<&str> = steps[0]
        .log
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["retrying", "retrying", "done"]);
    assert!(
        steps[0].log[0]["error"]
            .as_str()
            .unwrap()
            .contains("attempt 1 of 3: not yet")
    );
    // The kind of failure, for a client to say in its language.
    assert_eq!(steps[0].log[0]["error_kind"], "transient");
    assert_eq!(steps[0].log[2]["error_kind"], serde_json::Value::Null);
}

async fn a_final_failure_fails_the_run_with_the_actions_message(w: World) {
    w.engine
        .install(
            "fails.toml",
            r#"
id = "fails"
[trigger]
event = "deal.created"
[[step]]
id = "boom"
uses = "chaos@0"
input = { do = "fail", kind = "failed", message = "the registry said no" }
[[step]]
id = "never"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "never" } }
"#,
        )
        .await
        .unwrap();
    w.commit(vec![create_deal("d1", "A", "1.00")]).await;
    w.settle().await;
    let runs = w.store.list_runs(&Default::default()).await.unwrap();
    assert_eq!(runs[0].status, "failed");
    let error = runs[0].error.as_deref().unwrap();
    assert!(error.contains("step `boom` failed"), "{error}");
    assert!(error.contains("the registry said no"), "{error}");
    assert!(w.tasks().await.is_empty());

    // Retrying runs the failed step again (and it fails again, logged).
    assert!(
        w.store
            .retry_run(&runs[0].id, chrono::Utc::now())
            .await
            .unwrap()
    );
    w.settle().await;
    let steps = w.store.run_steps(&runs[0].id).await.unwrap();
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|s| s.status == "failed"));
}

async fn a_delay_waits_for_the_clock(w: World) {
    w.engine
        .install(
            "later.toml",
            r#"
id = "later"
[trigger]
event = "deal.created"
[[step]]
id = "wait-then-task"
uses = "chaos@0"
after = "3d"
input = { do = "create", kind = "task", fields = { title = "Three days later" } }
"#,
        )
        .await
        .unwrap();
    w.commit(vec![create_deal("d1", "A", "1.00")]).await;
    w.settle().await;
    assert!(w.tasks().await.is_empty(), "the step waits three days");
    assert_eq!(w.run_statuses().await, vec!["running"]);
    w.clock.advance(Duration::from_secs(2 * 86_400));
    w.settle().await;
    assert!(w.tasks().await.is_empty(), "two days are not enough");
    w.clock.advance(Duration::from_secs(86_400 + 1));
    w.settle().await;
    assert_eq!(w.tasks().await.len(), 1);
    assert_eq!(w.run_statuses().await, vec!["completed"]);
}

async fn a_cron_tick_fires_once_even_after_missed_ticks(w: World) {
    w.engine
        .install(
            "daily.toml",
            r#"
id = "daily"
[trigger]
cron = "0 9 * * *"
timezone = "Europe/Moscow"
[[step]]
id = "t"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "Daily {{ trigger.tick }}" } }
"#,
        )
        .await
        .unwrap();
    w.settle().await;
    let before = w.tasks().await.len();
    // Five days pass while "down": one run, not five.
    w.clock.advance(Duration::from_secs(5 * 86_400));
    w.settle().await;
    w.settle().await;
    assert_eq!(w.tasks().await.len(), before + 1);
    // The next tick is in the future again: nothing more fires now.
    w.settle().await;
    assert_eq!(w.tasks().await.len(), before + 1);
    w.clock.advance(Duration::from_secs(86_400));
    w.settle().await;
    assert_eq!(w.tasks().await.len(), before + 2);
}

async fn a_new_version_leaves_started_runs_on_theirs(w: World) {
    let slow = ON_NEGOTIATION.replace("id = \"task\"\n", "id = \"task\"\nafter = \"1h\"\n");
    let v1 = w.engine.install("call.toml", &slow).await.unwrap();
    w.commit(vec![create_deal("d1", "Old", "20000")]).await;
    w.commit(vec![move_deal("d1", "negotiation")]).await;
    w.settle().await;
    let changed = slow.replace("Call about", "Ring");
    let v2 = w.engine.install("call.toml", &changed).await.unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert!(v2.new_version);
    // Installing the same text again makes no new version.
    assert!(
        !w.engine
            .install("call.toml", &changed)
            .await
            .unwrap()
            .new_version
    );
    w.clock.advance(Duration::from_secs(3601));
    w.settle().await;
    let tasks = w.tasks().await;
    assert_eq!(
        tasks[0]["title"], "Call about Old",
        "the run kept version 1"
    );
}

async fn bad_process_files_are_refused_with_their_place_and_change_nothing(w: World) {
    let bad = ON_NEGOTIATION.replace("deal.amount > 10000", "deal.amout > 10000");
    let err = w.engine.install("call.toml", &bad).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("call.toml:4:13: condition: `deal.amout`: a deal has no field `amout`"),
        "{err}"
    );
    let bad = ON_NEGOTIATION.replace("chaos@0", "chaos@7");
    let err = w.engine.install("call.toml", &bad).await.unwrap_err();
    assert!(
        err.to_string().contains("unknown action `chaos@7`"),
        "{err}"
    );
    assert!(w.store.current_processes().await.unwrap().is_empty());
    // Nothing was installed, so a stage move starts nothing.
    w.commit(vec![create_deal("d1", "A", "20000")]).await;
    w.commit(vec![move_deal("d1", "negotiation")]).await;
    w.settle().await;
    assert!(w.run_statuses().await.is_empty());
}

const APPROVE_PAYMENT: &str = r#"
id = "approve-payment"
[trigger]
manual = true
params = { what = "string" }
[[step]]
id = "approve"
approval = { title = "Pay for {{ params.what }}?", role = "head_of_sales", timeout = "2d", on_timeout = "approve", on_reject = "refused" }
[[step]]
id = "pay"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "Pay {{ params.what }} ({{ steps.approve.output.decision }})" } }
next = "end"
[[step]]
id = "refused"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "Refused {{ params.what }}: {{ steps.approve.output.comment }}" } }
"#;

fn head_of_sales() -> robota::engine::approvals::Decider {
    robota::engine::approvals::Decider {
        user_id: None,
        role: "head_of_sales".into(),
    }
}

async fn an_approval_waits_then_branches_on_the_decision(w: World) {
    use robota::engine::approvals::{DecideError, Decider};
    use robota::engine::definition::Decision;
    w.engine.install("pay.toml", APPROVE_PAYMENT).await.unwrap();
    let approve_run = w
        .engine
        .start_manual("approve-payment", json!({ "what": "rent" }), None)
        .await
        .unwrap();
    let reject_run = w
        .engine
        .start_manual("approve-payment", json!({ "what": "yacht" }), None)
        .await
        .unwrap();
    w.settle().await;
    assert!(
        w.tasks().await.is_empty(),
        "nothing happens before a decision"
    );
    let open = w
        .store
        .list_approvals("pending", None, "head_of_sales", false)
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    let by_run = |run: &str| open.iter().find(|a| a.run_id == run).unwrap().id.clone();

    // A manager may not decide the head of sales' approval.
    let manager = Decider {
        user_id: None,
        role: "manager".into(),
    };
    let e = w
        .engine
        .decide(&by_run(&approve_run), &manager, Decision::Approve, None)
        .await
        .unwrap_err();
    assert!(matches!(e, DecideError::NotYours(..)), "{e}");
    // A rejection needs a reason.
    let e = w
        .engine
        .decide(
            &by_run(&reject_run),
            &head_of_sales(),
            Decision::Reject,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DecideError::CommentRequired), "{e}");

    w.engine
        .decide(
            &by_run(&approve_run),
            &head_of_sales(),
            Decision::Approve,
            None,
        )
        .await
        .unwrap();
    w.engine
        .decide(
            &by_run(&reject_run),
            &head_of_sales(),
            Decision::Reject,
            Some("not this year".into()),
        )
        .await
        .unwrap();
    // Deciding twice is a conflict.
    let e = w
        .engine
        .decide(
            &by_run(&approve_run),
            &head_of_sales(),
            Decision::Reject,
            Some("x".into()),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DecideError::Conflict(_)), "{e}");
    w.settle().await;
    let mut titles: Vec<String> = w
        .tasks()
        .await
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        vec!["Pay rent (approved)", "Refused yacht: not this year"]
    );
    assert_eq!(w.run_statuses().await, vec!["completed", "completed"]);
}

async fn an_approval_timeout_decides_as_configured(w: World) {
    w.engine.install("pay.toml", APPROVE_PAYMENT).await.unwrap();
    w.engine
        .start_manual("approve-payment", json!({ "what": "coffee" }), None)
        .await
        .unwrap();
    w.settle().await;
    w.clock.advance(Duration::from_secs(86_400));
    w.settle().await;
    assert!(w.tasks().await.is_empty(), "one day is within the timeout");
    w.clock.advance(Duration::from_secs(86_400 + 1));
    w.settle().await;
    let tasks = w.tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "Pay coffee (approved)");
    let all = w
        .store
        .list_approvals("expired", None, "admin", true)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].decided_by.as_deref(), Some("timeout"));
}

async fn for_each_runs_the_action_once_per_found_entity_durably(w: World) {
    w.engine
        .install(
            "sweep.toml",
            r#"
id = "sweep"
[trigger]
manual = true
params = { min = "decimal" }
[[step]]
id = "each"
uses = "chaos@0"
for_each = { kind = "deal", where = { "amount.ge" = "{{ params.min }}", stage = "new" }, as = "d" }
if = "d.amount < 100000"
input = { do = "create", kind = "task", fields = { title = "Chase {{ d.title }} ({{ loop.index + 1 }}/{{ loop.count }})", entity_kind = "deal", entity_id = "{{ d.id }}" } }
[[step]]
id = "after"
uses = "chaos@0"
input = { do = "echo", value = "{{ steps.each.output.count }}" }
"#,
        )
        .await
        .unwrap();
    w.commit(vec![
        create_deal("d1", "Small", "500"),
        create_deal("d2", "Medium", "5000"),
        create_deal("d3", "Large", "50000"),
        create_deal("d4", "Huge", "500000"),
    ])
    .await;
    w.commit(vec![move_deal("d3", "lost")]).await;
    let run = w
        .engine
        .start_manual("sweep", json!({ "min": "1000" }), None)
        .await
        .unwrap();
    w.settle().await;
    let mut titles: Vec<String> = w
        .tasks()
        .await
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    // d1 is below the minimum, d3 is lost, d4 fails the `if`.
    assert_eq!(titles, vec!["Chase Medium (1/2)"]);
    let steps = w.store.run_steps(&run).await.unwrap();
    let keys: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s.step.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("each", "done"),
            ("each[0]", "done"),
            ("each[1]", "skipped"),
            ("after", "done")
        ]
    );
    assert_eq!(steps[3].output.as_ref().unwrap()["value"], 2);
    assert_eq!(w.run_statuses().await, vec!["completed"]);
}

async fn a_for_each_that_finds_nothing_goes_straight_on(w: World) {
    w.engine
        .install(
            "none.toml",
            r#"
id = "none"
[trigger]
manual = true
[[step]]
id = "each"
uses = "chaos@0"
for_each = { kind = "invoice", where = { status = "overdue" } }
input = { do = "create", kind = "task", fields = { title = "{{ invoice.number }}" } }
[[step]]
id = "after"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "done" } }
"#,
        )
        .await
        .unwrap();
    w.engine
        .start_manual("none", json!({}), None)
        .await
        .unwrap();
    w.settle().await;
    let tasks = w.tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "done");
    let bad = w
        .engine
        .install(
            "bad.toml",
            r#"
id = "bad"
[trigger]
manual = true
[[step]]
id = "each"
uses = "chaos@0"
for_each = { kind = "invoice", where = { colour = "red" } }
input = { do = "echo", value = "{{ invoice.numbr }}" }
"#,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("for_each: a invoice has no field `colour`"),
        "{bad}"
    );
}

async fn a_final_failure_can_start_an_error_process(w: World) {
    w.engine
        .install(
            "on-error.toml",
            r#"
id = "on-error"
[trigger]
manual = true
params = { process = "string", run_id = "string", step = "string", error = "string" }
[[step]]
id = "tell"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "{{ params.process }}/{{ params.step }} failed: {{ params.error }}" } }
"#,
        )
        .await
        .unwrap();
    w.engine
        .install(
            "fragile.toml",
            r#"
id = "fragile"
[trigger]
event = "deal.created"
[[step]]
id = "boom"
uses = "chaos@0"
on_failure = "process:on-error"
input = { do = "fail", kind = "failed", message = "registry down" }
"#,
        )
        .await
        .unwrap();
    w.commit(vec![create_deal("d1", "A", "1")]).await;
    w.settle().await;
    let tasks = w.tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0]["title"],
        "fragile/boom failed: step `boom` failed: failed: registry down"
    );
    let mut statuses = w.run_statuses().await;
    statuses.sort();
    assert_eq!(statuses, vec!["completed", "failed"]);
}

async fn a_step_at_a_date_waits_for_it_and_follows_the_date(w: World) {
    w.engine
        .install(
            "before-close.toml",
            r#"
id = "before-close"
[trigger]
event = "deal.created"
[[step]]
id = "remind"
uses = "chaos@0"
at = "{{ deal.closed_at }}"
offset = "-1d"
input = { do = "create", kind = "task", fields = { title = "Closing tomorrow: {{ deal.title }}" } }
"#,
        )
        .await
        .unwrap();
    let close = chrono::Utc::now() + chrono::Duration::days(5);
    w.commit(vec![Change::Create {
        kind: EntityKind::Deal,
        id: "d1".into(),
        fields: obj(json!({ "title": "A", "closed_at": close.to_rfc3339() })),
    }])
    .await;
    w.settle().await;
    assert!(w.tasks().await.is_empty());
    w.clock.advance(Duration::from_secs(3 * 86_400));
    w.settle().await;
    assert!(w.tasks().await.is_empty(), "four days before: not yet");
    w.clock.advance(Duration::from_secs(86_400 + 60));
    w.settle().await;
    assert_eq!(w.tasks().await.len(), 1, "one day before the date");
    let run = &w.store.list_runs(&Default::default()).await.unwrap()[0];
    let steps = w.store.run_steps(&run.id).await.unwrap();
    assert_eq!(steps[0].attempts, 1, "waiting is not an attempt");
}

async fn a_manual_start_on_a_missing_entity_is_refused_and_starts_nothing(w: World) {
    use robota::engine::StartError;
    w.engine.install("pay.toml", APPROVE_PAYMENT).await.unwrap();
    let e = w
        .engine
        .start_manual(
            "approve-payment",
            json!({ "what": "rent" }),
            Some(EntityRef {
                kind: EntityKind::Deal,
                id: "ghost".into(),
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StartError::BadParams(_)), "{e}");
    assert!(e.to_string().contains("deal ghost not found"), "{e}");
    assert!(w.run_statuses().await.is_empty());
}

async fn api_writes_commit_while_the_loops_run_grouped_with_rounds_on_sqlite(w: World) {
    w.engine.install("call.toml", ON_NEGOTIATION).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let settings = robota::engine::workers::WorkerSettings {
        workers: 8,
        poll: Duration::from_millis(20),
    };
    let mut loops = robota::engine::workers::spawn(w.engine.clone(), settings, stopped);
    // On SQLite, commits go to the step loop while it runs (one writer:
    // group commit); on PostgreSQL each keeps its own transaction.
    let routed = |on: bool| format!("routed: {on}");
    if w.store.sqlite().is_some() {
        assert!(
            format!("{:?}", w.store).contains(&routed(true)),
            "commits go to the step loop while it runs"
        );
    } else {
        assert!(!format!("{:?}", w.store).contains("routed"));
    }
    // Writes through the rounds start the process like any other write.
    w.commit(vec![create_deal("d1", "Насосы", "15000.00")])
        .await;
    w.commit(vec![move_deal("d1", "negotiation")]).await;
    // A refused set through a round: its error, and nothing of it written.
    let refused = w
        .store
        .commit(&[
            create_deal("d2", "Не будет", "1.00"),
            move_deal("no-such-deal", "negotiation"),
        ])
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("no-such-deal"), "{refused}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while w.run_statuses().await != ["completed"] {
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not complete"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(w.tasks().await.len(), 1);
    let deals = w.store.query(EntityKind::Deal, &[], 10).await.unwrap();
    assert_eq!(deals.len(), 1, "the refused set left no deal: {deals:?}");

    // Stopped: writes commit on their own again.
    stop.send(true).unwrap();
    w.engine.poke();
    while loops.join_next().await.is_some() {}
    if w.store.sqlite().is_some() {
        assert!(format!("{:?}", w.store).contains(&routed(false)));
    }
    w.commit(vec![create_deal("d3", "После", "5.00")]).await;
    assert_eq!(
        w.store
            .query(EntityKind::Deal, &[], 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Every test above, on each database.
macro_rules! on_each_database {
    ($($test:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::world(super::On::Sqlite).await).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::world(super::On::Postgres).await).await
                }
            )*
        }
    };
}

on_each_database!(
    a_stage_move_runs_the_process_and_its_effects_commit,
    a_transient_failure_is_retried_and_its_writes_land_once,
    a_final_failure_fails_the_run_with_the_actions_message,
    a_delay_waits_for_the_clock,
    a_cron_tick_fires_once_even_after_missed_ticks,
    a_new_version_leaves_started_runs_on_theirs,
    bad_process_files_are_refused_with_their_place_and_change_nothing,
    an_approval_waits_then_branches_on_the_decision,
    an_approval_timeout_decides_as_configured,
    for_each_runs_the_action_once_per_found_entity_durably,
    a_for_each_that_finds_nothing_goes_straight_on,
    a_final_failure_can_start_an_error_process,
    a_step_at_a_date_waits_for_it_and_follows_the_date,
    a_manual_start_on_a_missing_entity_is_refused_and_starts_nothing,
    api_writes_commit_while_the_loops_run_grouped_with_rounds_on_sqlite,
);
