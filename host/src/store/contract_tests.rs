//! The CRM store's contract, run on both backends: the same changes get
//! the same answers, refusals and stored forms from SQLite and PostgreSQL.

use super::CrmStore;
use super::postgres::PgStore;
use super::prelude::*;
use super::sqlite::SqliteStore;
use crate::crm::changes::{Change, StoredFile};
use crate::crm::{Clash, CrmError, EntityKind, EntityRef, Filter, FilterOp, Wrong, new_id};
use robota_test_postgres::TestPostgres;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A store of each kind; the PostgreSQL server lives as long as this.
struct Backends {
    sqlite: Arc<SqliteStore>,
    postgres: Arc<PgStore>,
    _server: TestPostgres,
    _dir: tempfile::TempDir,
}

async fn backends() -> Backends {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let sqlite = Arc::new(SqliteStore::open(&url).await.expect("SQLite opens"));
    let server = TestPostgres::start().expect("a PostgreSQL server starts");
    let url = server.create_database("crm").expect("a database");
    let postgres = Arc::new(PgStore::open(&url).await.expect("PostgreSQL opens"));
    Backends {
        sqlite,
        postgres,
        _server: server,
        _dir: dir,
    }
}

/// `n` nodes (stores with pools of their own) on one fresh PostgreSQL
/// database, with process `p` stored; the server lives as long as the
/// first of the pair.
async fn pg_nodes(name: &str, n: usize) -> (TestPostgres, Vec<Arc<PgStore>>) {
    use super::processes::Processes as _;
    let server = TestPostgres::start().expect("a PostgreSQL server starts");
    let url = server.create_database(name).expect("a database");
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(Arc::new(
            PgStore::open(&url).await.expect("PostgreSQL opens"),
        ));
    }
    nodes[0]
        .save_process("p", "p.toml", "id = \"p\"", true)
        .await
        .expect("process p is stored");
    (server, nodes)
}

/// Two claimers per node, each claiming until nothing is left: all they got.
async fn drain<T, F, Fut>(nodes: &[Arc<PgStore>], claim: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<PgStore>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Vec<T>> + Send,
{
    let claimers: Vec<_> = (0..nodes.len() * 2)
        .map(|i| {
            let (node, claim) = (nodes[i % nodes.len()].clone(), claim.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim(node.clone()).await;
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got);
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.expect("a claimer ends"));
    }
    all
}

/// A run of process `p` started by `trigger_key`, its one step `key` due at
/// `due_at`.
fn run_of_p(
    trigger_key: &str,
    trigger: Value,
    key: &str,
    due_at: chrono::DateTime<chrono::Utc>,
) -> crate::store::runs::NewRun {
    crate::store::runs::NewRun {
        id: new_id(),
        process_id: "p".into(),
        process_version: 1,
        trigger,
        subject: None,
        trigger_key: trigger_key.to_owned(),
        once_key: None,
        action_set: None,
        first_step: crate::store::runs::NewStep {
            index: 0,
            key: key.to_owned(),
            item: None,
            due_at,
        },
    }
}

/// A queued e-mail, numbered `n`.
fn mail(n: usize) -> Change {
    Change::Mail(crate::crm::changes::OutgoingMail {
        id: new_id(),
        message_id: format!("<m{n}@robota>"),
        to: vec![format!("buyer{n}@example.com")],
        cc: Vec::new(),
        subject: format!("Счёт {n}"),
        text_body: "Добрый день".into(),
        html_body: None,
        attachments: Vec::new(),
    })
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn create(kind: EntityKind, v: Value) -> (EntityRef, Change) {
    let id = new_id();
    (
        EntityRef {
            kind,
            id: id.clone(),
        },
        Change::Create {
            kind,
            id,
            fields: fields(v),
        },
    )
}

fn update(target: &EntityRef, v: Value) -> Change {
    Change::Update {
        target: target.clone(),
        fields: fields(v),
    }
}

async fn get(store: &dyn CrmStore, target: &EntityRef) -> Map<String, Value> {
    store
        .get(target)
        .await
        .expect("the read works")
        .unwrap_or_else(|| panic!("{target} is stored"))
}

fn invoice(deal: &EntityRef) -> Value {
    json!({
        "deal_id": deal.id, "currency": "RUB", "buyer": { "name": "ООО «Покупатель»" },
        "seller": { "name": "ООО «Робота»", "inn": "7736207543" },
        "issue_date": "2026-11-02", "due_date": "2026-11-09", "status": "sent",
        "items": [{ "name": "Насос", "quantity": "1", "price": "1000.00", "vat_rate": "20" }]
    })
}

/// Everything the contract checks, on one store; returns what it read so
/// the two backends' answers can be compared too.
async fn contract(store: &dyn CrmStore) -> Vec<Map<String, Value>> {
    // A wrong requisite is refused by its code; nothing is stored.
    let (_, bad) = create(
        EntityKind::Company,
        json!({ "kind": "organisation", "short_name": "Ромашка", "inn": "7707083894" }),
    );
    let e = store.commit(&[bad]).await.unwrap_err();
    assert!(
        matches!(&e, CrmError::InvalidField { field, reason: Wrong::BadChecksum } if field == "company.inn"),
        "{e:?}"
    );
    assert!(
        store
            .query(EntityKind::Company, &[], 10)
            .await
            .unwrap()
            .is_empty()
    );

    let (company, c) = create(
        EntityKind::Company,
        json!({ "kind": "organisation", "short_name": "Ромашка", "inn": "7707083893",
                "registered_on": "2002-08-12", "custom_fields": {} }),
    );
    let (deal, d) = create(
        EntityKind::Deal,
        json!({ "title": "Насосы", "items": [
            { "name": "Насос", "quantity": "2", "price": "1500.50", "vat_rate": "20" }
        ]}),
    );
    let (product, p) = create(
        EntityKind::Product,
        json!({ "name": "Насос", "price": "10.10", "currency": "RUB", "vat_rate": "20", "active": false }),
    );
    let report = store.commit(&[c, d, p]).await.unwrap();
    assert_eq!(
        report.created,
        vec![company.clone(), deal.clone(), product.clone()]
    );

    let stored = get(store, &company).await;
    assert_eq!(stored["inn"], "7707083893");
    assert_eq!(stored["registered_on"], "2002-08-12");
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["custom_fields"], json!({}));
    let at = stored["created_at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.len() == 27, "{at}");
    let stored_deal = get(store, &deal).await;
    assert_eq!(
        stored_deal["stage"], "new",
        "the first stage of the default pipeline"
    );
    assert_eq!(stored_deal["items"][0]["price"], "1500.50");
    assert_eq!(stored_deal["items"][0]["quantity"], "2");
    let stored_product = get(store, &product).await;
    assert_eq!(stored_product["active"], false);
    assert_eq!(stored_product["price"], "10.10");
    // A zero keeps its decimals too (PostgreSQL's numeric 0.00 decodes
    // without them unless its display scale is read).
    let (free, f) = create(
        EntityKind::Product,
        json!({ "name": "Доставка", "price": "0.00", "currency": "RUB", "vat_rate": "20" }),
    );
    store.commit(&[f]).await.unwrap();
    assert_eq!(get(store, &free).await["price"], "0.00");

    // A stage asks for its fields; given them, the deal moves.
    let e = store
        .commit(&[update(&deal, json!({ "stage": "invoice" }))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CrmError::MissingStageFields { missing, .. } if missing == &["company_id"]),
        "{e:?}"
    );
    store
        .commit(&[update(
            &deal,
            json!({ "stage": "invoice", "company_id": company.id }),
        )])
        .await
        .unwrap();
    let moved = get(store, &deal).await;
    assert_eq!(
        (moved["stage"].clone(), moved["version"].clone()),
        (json!("invoice"), json!(2))
    );

    // A change set is all or nothing.
    let e = store
        .commit(&[
            update(&deal, json!({ "title": "Другое" })),
            Change::Expect {
                target: deal.clone(),
                field: "stage".into(),
                value: json!("new"),
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CrmError::Conflict(Clash::FieldChanged { .. })),
        "{e:?}"
    );
    assert_eq!(get(store, &deal).await["title"], "Насосы");

    // A record others refer to stays.
    let e = store
        .commit(&[Change::Delete {
            target: company.clone(),
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CrmError::Conflict(Clash::StillReferred { .. })),
        "{e:?}"
    );

    // Files keep their bytes.
    let file = StoredFile {
        name: "scan.bin".into(),
        content_type: "application/octet-stream".into(),
        content: vec![0, 159, 146, 150, 255],
    };
    store
        .commit(&[Change::AttachFile {
            target: deal.clone(),
            file: file.clone(),
        }])
        .await
        .unwrap();
    assert_eq!(store.file(&deal, "scan.bin").await.unwrap(), Some(file));
    assert_eq!(store.file(&deal, "other").await.unwrap(), None);

    // Invoices are numbered by year; a rolled-back one takes no number.
    assert_eq!(store.next_invoice_seq(2026).await.unwrap(), 1);
    let (first, i) = create(EntityKind::Invoice, invoice(&deal));
    store.commit(&[i]).await.unwrap();
    let stored_invoice = get(store, &first).await;
    assert_eq!(stored_invoice["number"], "2026-00001");
    assert_eq!(stored_invoice["issue_date"], "2026-11-02");
    assert_eq!(stored_invoice["buyer"]["name"], "ООО «Покупатель»");
    let (_, failing) = create(EntityKind::Invoice, invoice(&deal));
    let missing = EntityRef {
        kind: EntityKind::Deal,
        id: "missing".into(),
    };
    assert!(matches!(
        store
            .commit(&[failing, update(&missing, json!({ "title": "x" }))])
            .await,
        Err(CrmError::NotFound(_))
    ));
    assert_eq!(store.next_invoice_seq(2026).await.unwrap(), 2);

    // Queries: by value, by emptiness, by difference, page by page.
    let by = |field: &str, op: FilterOp, value: Value| Filter {
        field: field.into(),
        op,
        value,
    };
    let deals = |filters: Vec<Filter>| async move {
        store
            .query(EntityKind::Deal, &filters, 10)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(
        deals(vec![by("stage", FilterOp::Eq, json!("invoice"))]).await,
        1
    );
    assert_eq!(
        deals(vec![by("stage", FilterOp::Ne, json!("invoice"))]).await,
        0
    );
    assert_eq!(
        deals(vec![by("company_id", FilterOp::IsNull, Value::Null)]).await,
        0
    );
    assert_eq!(
        deals(vec![by("closed_at", FilterOp::IsNull, Value::Null)]).await,
        1
    );
    let tasks: Vec<Change> = (0..3)
        .map(|n| create(EntityKind::Task, json!({ "title": format!("t{n}") })).1)
        .collect();
    store.commit(&tasks).await.unwrap();
    let page = store.query(EntityKind::Task, &[], 2).await.unwrap();
    assert_eq!(page.len(), 2);
    let last = page[1]["id"].as_str().unwrap();
    let rest = store
        .query_after(EntityKind::Task, &[], last, 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["title"], "t2");

    let mut read = vec![stored, moved, stored_product, stored_invoice];
    for r in &mut read {
        // What differs by nature: ids and times.
        for k in ["id", "created_at", "updated_at", "company_id", "deal_id"] {
            r.remove(k);
        }
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_keep_the_same_contract_and_store_the_same_forms() {
    let b = backends().await;
    let on_sqlite = contract(b.sqlite.as_ref()).await;
    let on_postgres = contract(b.postgres.as_ref()).await;
    assert_eq!(on_sqlite, on_postgres);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_numbers_stay_gap_free_when_commits_race_and_some_roll_back() {
    let b = backends().await;
    let store = b.postgres.clone();
    let (deal, d) = create(EntityKind::Deal, json!({ "title": "Насосы" }));
    store.commit(&[d]).await.unwrap();
    let missing = EntityRef {
        kind: EntityKind::Deal,
        id: "missing".into(),
    };
    // Several connections issue at once; every third change set fails
    // after its invoice took a number, and gives it back.
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let store = store.clone();
            let (target, invoice) = create(EntityKind::Invoice, invoice(&deal));
            let mut changes = vec![invoice];
            if n % 3 == 2 {
                changes.push(update(&missing, json!({ "title": "x" })));
            }
            tokio::spawn(async move { store.commit(&changes).await.map(|_| target) })
        })
        .collect();
    let mut issued = Vec::new();
    for t in tasks {
        if let Ok(target) = t.await.unwrap() {
            issued.push(target);
        }
    }
    assert_eq!(issued.len(), 20);
    let mut numbers = Vec::new();
    for target in &issued {
        numbers.push(
            get(store.as_ref(), target).await["number"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    numbers.sort();
    let expected: Vec<String> = (1..=20).map(|n| format!("2026-{n:05}")).collect();
    assert_eq!(numbers, expected);
    assert_eq!(store.next_invoice_seq(2026).await.unwrap(), 21);
}

mod engine_on_postgres {
    use super::*;
    use crate::store::runs::{AttemptStatus, ClaimedStep, NewRun, StepFinish, Then};
    use chrono::{Duration, Utc};
    use std::collections::HashSet;

    fn run(n: usize) -> NewRun {
        let due = Utc::now() - Duration::seconds(1);
        run_of_p(&format!("t{n}"), json!({ "n": n }), "a", due)
    }

    fn finish(step: &ClaimedStep, attempt: u32, title: &str) -> StepFinish {
        StepFinish {
            step_id: step.id.clone(),
            run_id: step.run_id.clone(),
            attempt,
            status: AttemptStatus::Done,
            input: Some(json!({ "title": title })),
            output: Some(json!({ "ok": true })),
            error: None,
            logs: json!([]),
            digest: Some("sha256:abc".into()),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            changes: vec![create(EntityKind::Task, json!({ "title": title })).1],
            then: Then::Complete,
            start: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nodes_claim_each_due_step_once_and_a_lease_taken_over_refuses_the_old_attempt() {
        // Three nodes: three stores with pools of their own on one database.
        let (_server, nodes) = pg_nodes("engine", 3).await;
        for n in 0..120 {
            assert!(nodes[n % 3].start_run(&run(n)).await.unwrap().is_some());
        }
        // The same trigger again, on another node: no second run.
        assert_eq!(nodes[1].start_run(&run(0)).await.unwrap(), None);

        // Two claimers per node, seven steps at a time, until none is due.
        let now = Utc::now();
        let lease = now + Duration::seconds(60);
        let claimed = drain(&nodes, move |node| async move {
            node.claim_steps(now, lease, 7).await.unwrap()
        })
        .await;
        let ids: HashSet<&str> = claimed.iter().map(|s| s.id.as_str()).collect();
        assert_eq!((claimed.len(), ids.len()), (120, 120), "each step once");
        assert!(
            claimed
                .iter()
                .all(|s| s.attempt == 1 && s.process_id == "p")
        );

        // A node dies holding its steps: once the lease runs out another
        // node takes one over, as attempt 2.
        let later = now + Duration::seconds(120);
        let taken = nodes[1]
            .claim_steps(later, later + Duration::seconds(60), 1)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        let step = &taken[0];
        assert_eq!(step.attempt, 2);
        // The first attempt finishing late is refused whole: no task.
        let late = nodes[0].finish_step(&finish(step, 1, "twice")).await;
        assert!(
            matches!(late, Err(CrmError::Conflict(Clash::Raced(_)))),
            "{late:?}"
        );
        let tasks = |store: Arc<PgStore>| async move {
            store.query(EntityKind::Task, &[], 100).await.unwrap().len()
        };
        assert_eq!(tasks(nodes[2].clone()).await, 0);
        // The holder's finish writes its task and ends the run, once.
        nodes[1]
            .finish_step(&finish(step, 2, "once"))
            .await
            .unwrap();
        assert_eq!(tasks(nodes[2].clone()).await, 1);
        let again = nodes[1].finish_step(&finish(step, 2, "once")).await;
        assert!(again.is_err(), "a finished step is not finished again");
        assert_eq!(tasks(nodes[2].clone()).await, 1);
        let results = nodes[2].step_results(&step.run_id).await.unwrap();
        assert_eq!(results["a"]["status"], "done");
        assert_eq!(results["a"]["output"], json!({ "ok": true }));
        let (status, attempts): (String, i64) = sqlx::query_as(
            "SELECT r.status, count(a.id) FROM runs r JOIN run_steps s ON s.run_id = r.id
             LEFT JOIN step_attempts a ON a.step_id = s.id WHERE r.id = $1 GROUP BY r.status",
        )
        .bind(&step.run_id)
        .fetch_one(nodes[0].pool())
        .await
        .unwrap();
        assert_eq!((status.as_str(), attempts), ("completed", 1));
    }
}

mod events_on_postgres {
    use super::*;
    use crate::store::events::EventStarts;
    use crate::store::runs::NewRun;
    use chrono::Utc;
    use std::collections::HashSet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn events_written_on_three_nodes_become_runs_exactly_once() {
        let (_server, nodes) = pg_nodes("events", 3).await;
        // Writers on every node (each deal created is one event) while a
        // dispatcher on every node turns events into runs.
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let node = nodes[w % 3].clone();
                tokio::spawn(async move {
                    for n in 0..25 {
                        let (_, deal) =
                            create(EntityKind::Deal, json!({ "title": format!("w{w} d{n}") }));
                        node.commit(&[deal]).await.unwrap();
                    }
                })
            })
            .collect();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dispatchers: Vec<_> = (0..3)
            .map(|d| {
                let node = nodes[d].clone();
                let done = done.clone();
                tokio::spawn(async move {
                    let mut started = 0;
                    loop {
                        let finished = done.load(std::sync::atomic::Ordering::Acquire);
                        let from = node.event_cursor().await.unwrap();
                        let events = node.events_after(from, 10).await.unwrap();
                        let Some(last) = events.last() else {
                            if finished {
                                return started;
                            }
                            tokio::task::yield_now().await;
                            continue;
                        };
                        let batch = EventStarts {
                            from,
                            to: last.seq,
                            runs: events
                                .iter()
                                .map(|e| NewRun {
                                    subject: Some(e.entity.clone()),
                                    ..run_of_p(&e.id, json!({ "event": e.id }), "a", Utc::now())
                                })
                                .collect(),
                        };
                        match node.start_runs_for_events(&batch).await {
                            Ok(n) => started += n,
                            Err(CrmError::Conflict(_)) => {} // another node moved first
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        let mut started = 0;
        for d in dispatchers {
            started += d.await.unwrap();
        }
        let pool = nodes[0].pool();
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(events, 150);
        assert_eq!(started, 150, "every event started one run");
        let keys: Vec<String> = sqlx::query_scalar("SELECT trigger_key FROM runs")
            .fetch_all(pool)
            .await
            .unwrap();
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!((keys.len(), unique.len()), (150, 150));
        assert_eq!(nodes[2].event_cursor().await.unwrap(), events);
        // Event numbers are gap-free: each writer took its number in turn.
        let max: i64 = sqlx::query_scalar("SELECT max(seq) FROM events")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(max, 150);
    }
}

mod event_order_on_postgres {
    use super::*;
    use crate::store::apply::LogRows;
    use crate::store::postgres::PgDb;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_later_event_never_shows_before_an_earlier_uncommitted_one() {
        let server = TestPostgres::start().unwrap();
        let url = server.create_database("order").unwrap();
        let store = Arc::new(PgStore::open(&url).await.unwrap());
        // A writer takes an event number and holds its transaction open.
        let mut tx = store.pool().begin().await.unwrap();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (written, on_written) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Handle::current();
        let first = tokio::task::spawn_blocking(move || {
            let mut log = LogRows::default();
            let target = EntityRef {
                kind: EntityKind::Deal,
                id: "held".into(),
            };
            log.event(&target, "created", &json!({})).unwrap();
            log.write(&PgDb::new(&mut tx, runtime.clone())).unwrap();
            written.send(()).unwrap();
            wait.recv().unwrap();
            runtime.block_on(tx.commit()).unwrap();
        });
        on_written.await.unwrap();
        // Another writer meanwhile waits for its turn rather than commit a
        // later number first, which a reader past it would never go back for.
        let (_, deal) = create(EntityKind::Deal, json!({ "title": "later" }));
        let second = {
            let store = store.clone();
            tokio::spawn(async move { store.commit(&[deal]).await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!second.is_finished(), "the later writer waits");
        assert!(store.events_after(0, 10).await.unwrap().is_empty());
        go.send(()).unwrap();
        first.await.unwrap();
        second.await.unwrap().unwrap();
        let events = store.events_after(0, 10).await.unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e.entity.id.as_str()).collect();
        assert_eq!(ids[0], "held");
        assert_eq!(events.len(), 2);
        assert!(events[0].seq < events[1].seq);
    }
}

mod cron_and_mail_on_postgres {
    use super::*;
    use crate::crm::timestamp_text;
    use chrono::{Duration, TimeZone as _, Utc};
    use std::collections::HashSet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_cron_tick_fires_once_when_three_nodes_fire_it() {
        let (_server, nodes) = pg_nodes("cron", 3).await;
        let start = Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap();
        sqlx::query(
            "INSERT INTO schedules (process_id, expr, timezone, next_at)
             VALUES ('p', '0 9 * * *', 'Europe/Moscow', $1)",
        )
        .bind(start)
        .execute(nodes[0].pool())
        .await
        .unwrap();
        for day in 0..5 {
            let due = start + Duration::days(day);
            let next = due + Duration::days(1);
            let tries: Vec<_> = nodes
                .iter()
                .map(|node| {
                    let node = node.clone();
                    let tick = timestamp_text(due);
                    let run = run_of_p(&format!("cron:{tick}"), json!({ "tick": tick }), "a", due);
                    tokio::spawn(async move {
                        node.fire_schedule("p", &timestamp_text(due), next, &run)
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut fired = 0;
            for t in tries {
                fired += usize::from(t.await.unwrap());
            }
            assert_eq!(fired, 1, "tick {day} fired once");
        }
        let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM runs")
            .fetch_one(nodes[1].pool())
            .await
            .unwrap();
        assert_eq!(runs, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn each_mail_is_claimed_by_one_node_and_comes_back_when_its_sender_dies() {
        let (_server, nodes) = pg_nodes("mail", 3).await;
        let mails: Vec<Change> = (0..60).map(mail).collect();
        nodes[0].commit(&mails).await.unwrap();
        let now = Utc::now() + Duration::seconds(1);
        let lease = now + Duration::minutes(10);
        let claimed = drain(&nodes, move |node| async move {
            node.claim_due_mail(now, lease, 7).await.unwrap()
        })
        .await;
        let ids: HashSet<&str> = claimed.iter().map(|m| m.mail.id.as_str()).collect();
        assert_eq!((claimed.len(), ids.len()), (60, 60), "each mail once");
        assert_eq!(claimed[0].mail.to.len(), 1);
        // Every sender but one records its deliveries; the last one dies.
        for m in &claimed[1..] {
            nodes[2].mail_sent(&m.mail.id, now).await.unwrap();
        }
        assert!(
            nodes[0]
                .claim_due_mail(now, lease, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // After its lease the dead sender's mail is due again, once.
        let after = lease + Duration::seconds(1);
        let again = nodes[1]
            .claim_due_mail(after, after + Duration::minutes(10), 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].mail.id, claimed[0].mail.id);
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE status = 'sent'")
                .fetch_one(nodes[0].pool())
                .await
                .unwrap();
        assert_eq!(sent, 59);
    }
}

mod wake_ups_on_postgres {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_node_is_woken_by_another_nodes_commit_and_not_by_its_rollback() {
        let (_server, nodes) = pg_nodes("wake", 2).await;
        let (idle, busy) = (&nodes[0], &nodes[1]);
        let mut wake = idle.wake_ups().await.unwrap();
        // A refused change set wakes nobody: NOTIFY goes out at commit.
        let missing = EntityRef {
            kind: EntityKind::Deal,
            id: "missing".into(),
        };
        let (_, deal) = create(EntityKind::Deal, json!({ "title": "Насосы" }));
        assert!(
            busy.commit(&[deal.clone(), update(&missing, json!({ "title": "x" }))])
                .await
                .is_err()
        );
        let quiet = tokio::time::timeout(Duration::from_millis(300), wake.recv()).await;
        assert!(quiet.is_err(), "no wake-up from a rollback: {quiet:?}");
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(5), wake.recv())
                .await
                .expect("woken within 5 s")
                .unwrap()
                .payload()
                .to_owned()
        };
        busy.commit(&[deal]).await.unwrap();
        assert_eq!(next().await, "events");
        busy.commit(&[mail(0)]).await.unwrap();
        assert_eq!(next().await, "mail");
        busy.start_run(&run_of_p("manual", json!({}), "a", chrono::Utc::now()))
            .await
            .unwrap();
        assert_eq!(next().await, "steps");
    }
}

mod processes_on_both {
    use super::*;
    use crate::store::processes::Processes;

    async fn walk(store: &impl Processes) -> Vec<String> {
        let mut seen = Vec::new();
        // A new file is version 1; the same text again is no new version;
        // a changed one is.
        for (id, source, answer) in [
            ("b", "id = \"b\"", (1, true)),
            ("a", "id = \"a\"", (1, true)),
            ("a", "id = \"a\"", (1, false)),
            ("a", "id = \"a\"\n# v2", (2, true)),
        ] {
            let file = format!("{id}.toml");
            let saved = store.save_process(id, &file, source, true).await.unwrap();
            assert_eq!(saved, answer, "{id}: {source}");
        }
        let current = store.current_process("a").await.unwrap().unwrap();
        assert_eq!((current.version, current.enabled), (2, true));
        assert!(current.source.ends_with("# v2"));
        let first = store.process_version("a", 1).await.unwrap().unwrap();
        assert_eq!(first.source, "id = \"a\"");
        assert!(store.process_version("a", 3).await.unwrap().is_none());
        assert!(store.current_process("zzz").await.unwrap().is_none());
        assert_eq!(
            store.enabled_process_versions().await.unwrap(),
            vec![("a".to_owned(), 2), ("b".to_owned(), 1)]
        );
        assert!(store.set_process_enabled("b", false).await.unwrap());
        assert!(!store.set_process_enabled("zzz", false).await.unwrap());
        assert_eq!(
            store.enabled_process_versions().await.unwrap(),
            vec![("a".to_owned(), 2)]
        );
        for p in store.current_processes().await.unwrap() {
            seen.push(format!(
                "{} v{} {} {}",
                p.process_id, p.version, p.enabled, p.file_name
            ));
        }
        seen
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn process_versions_behave_the_same_on_both_backends() {
        let b = backends().await;
        let on_sqlite = walk(b.sqlite.as_ref()).await;
        let on_postgres = walk(b.postgres.as_ref()).await;
        assert_eq!(on_sqlite, ["a v2 true a.toml", "b v1 false b.toml"]);
        assert_eq!(on_postgres, on_sqlite);
    }
}

mod action_sets_and_schedules_on_both {
    use super::*;
    use crate::crm::timestamp_text;
    use crate::store::action_sets::{ActionSets, Pins};
    use crate::store::processes::Processes;
    use crate::store::schedules::Schedules;
    use chrono::{TimeZone as _, Utc};

    async fn walk(store: &(impl ActionSets + Schedules + Processes)) -> Vec<String> {
        store
            .save_process("p", "p.toml", "id = \"p\"", true)
            .await
            .unwrap();
        let pins =
            |digest: &str| -> Pins { [("send-email@1".to_owned(), digest.to_owned())].into() };
        let first = store.action_set_id(&pins("sha256:a")).await.unwrap();
        assert_eq!(store.action_set_id(&pins("sha256:a")).await.unwrap(), first);
        let second = store.action_set_id(&pins("sha256:b")).await.unwrap();
        assert_ne!(first, second);
        assert_eq!(
            store.action_set(second).await.unwrap(),
            Some(pins("sha256:b"))
        );
        assert_eq!(store.action_set(second + 100).await.unwrap(), None);
        // No run is pinned yet.
        assert!(store.digests_in_use().await.unwrap().is_empty());

        let at = |h: u32| Utc.with_ymd_and_hms(2026, 12, 7, h, 0, 0).unwrap();
        store
            .upsert_schedule("p", "0 9 * * *", "Europe/Moscow", at(6))
            .await
            .unwrap();
        // The same expression keeps its next tick; another one moves it.
        store
            .upsert_schedule("p", "0 9 * * *", "Europe/Moscow", at(7))
            .await
            .unwrap();
        let kept = store.schedules().await.unwrap();
        assert_eq!(kept[0].3, timestamp_text(at(6)));
        store
            .upsert_schedule("p", "0 10 * * *", "Europe/Moscow", at(7))
            .await
            .unwrap();
        let moved = store.schedules().await.unwrap();
        store.drop_schedule("p").await.unwrap();
        assert!(store.schedules().await.unwrap().is_empty());
        moved
            .into_iter()
            .map(|(p, e, z, n)| format!("{p} {e} {z} {n}"))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn action_sets_and_schedules_behave_the_same_on_both_backends() {
        let b = backends().await;
        let on_sqlite = walk(b.sqlite.as_ref()).await;
        let on_postgres = walk(b.postgres.as_ref()).await;
        assert_eq!(
            on_sqlite,
            ["p 0 10 * * * Europe/Moscow 2026-12-07T07:00:00.000000Z"]
        );
        assert_eq!(on_postgres, on_sqlite);
    }
}

mod approvals_on_postgres {
    use super::*;
    use crate::store::approvals::{Decided, NewApproval};
    use crate::store::runs::{AttemptStatus, StepFinish, Then};
    use chrono::{Duration, Utc};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_heads_deciding_at_once_on_two_nodes_decide_once() {
        let (_server, nodes) = pg_nodes("approvals", 2).await;
        let now = Utc::now();
        nodes[0]
            .start_run(&run_of_p(
                "manual",
                json!({}),
                "approve",
                now - Duration::seconds(1),
            ))
            .await
            .unwrap();
        let step = nodes[1]
            .claim_steps(now, now + Duration::minutes(5), 1)
            .await
            .unwrap()
            .remove(0);
        let approval = NewApproval {
            id: new_id(),
            title: "Оплатить счёт поставщика".into(),
            description: String::new(),
            assignee_id: None,
            assignee_role: Some("head_of_sales".into()),
            entity: None,
            expires_at: Some(now + Duration::days(1)),
        };
        nodes[1]
            .finish_step(&StepFinish {
                step_id: step.id.clone(),
                run_id: step.run_id.clone(),
                attempt: step.attempt,
                status: AttemptStatus::Waiting,
                input: None,
                output: None,
                error: None,
                logs: json!([]),
                digest: None,
                started_at: now,
                finished_at: now,
                changes: Vec::new(),
                then: Then::Wait(approval.clone()),
                start: None,
            })
            .await
            .unwrap();
        let pending = nodes[0]
            .list_approvals("pending", None, "head_of_sales", false)
            .await
            .unwrap();
        assert_eq!(pending.len(), 1);
        assert!(
            nodes[0]
                .list_approvals("pending", None, "accountant", false)
                .await
                .unwrap()
                .is_empty()
        );
        let row = nodes[1].get_approval(&approval.id).await.unwrap().unwrap();
        assert_eq!((row.status.as_str(), row.step_index), ("pending", 0));
        let decisions: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let (node, row) = (node.clone(), row.clone());
                tokio::spawn(async move {
                    node.decide_approval(
                        &row,
                        &Decided {
                            status: "approved",
                            by: format!("head {i}"),
                            comment: None,
                            at: Utc::now(),
                            output: json!({ "approved": true }),
                            then: Then::Complete,
                        },
                    )
                    .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for d in decisions {
            outcomes.push(d.await.unwrap());
        }
        assert_eq!(
            outcomes.iter().filter(|o| o.is_ok()).count(),
            1,
            "{outcomes:?}"
        );
        assert!(
            outcomes
                .iter()
                .any(|o| matches!(o, Err(CrmError::Conflict(Clash::AlreadyDecided { .. }))))
        );
        let decided = nodes[0].get_approval(&approval.id).await.unwrap().unwrap();
        assert_eq!(decided.status, "approved");
        let status: String = sqlx::query_scalar("SELECT status FROM runs WHERE id = $1")
            .bind(&step.run_id)
            .fetch_one(nodes[0].pool())
            .await
            .unwrap();
        assert_eq!(status, "completed");
        assert!(
            nodes[1]
                .expired_approvals(now + Duration::days(2))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

mod tokens_and_sessions_on_both {
    use super::*;
    use crate::store::console_sessions::ConsoleSessions;
    use crate::store::tokens::Tokens;
    use chrono::{Duration, Utc};

    async fn walk(store: &(impl Tokens + ConsoleSessions)) -> Vec<String> {
        let mut said = Vec::new();
        for (role, user) in [("boss", None), ("manager", Some("nobody"))] {
            match store.insert_token("h0", role, user, "x").await {
                Err(CrmError::Invalid(m)) => said.push(m),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(store.count_tokens().await.unwrap(), 0, "nothing stored");
        let id = store
            .insert_token("h1", "accountant", None, "books")
            .await
            .unwrap();
        let owner = store.find_token("h1").await.unwrap().unwrap();
        assert_eq!(
            (
                owner.id.as_str(),
                owner.role.as_str(),
                owner.user_id.as_deref()
            ),
            (id.as_str(), "accountant", None)
        );
        assert_eq!(store.find_token("h2").await.unwrap(), None);
        let now = Utc::now();
        store
            .create_console_session("s1", &id, "csrf1", now, now + Duration::hours(12))
            .await
            .unwrap();
        let session = store
            .find_console_session("s1", now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((session.owner, session.csrf.as_str()), (owner, "csrf1"));
        assert!(
            store
                .find_console_session("s1", now + Duration::hours(13))
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.delete_console_session("s1").await.unwrap());
        assert!(!store.delete_console_session("s1").await.unwrap());
        said
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_and_console_sessions_behave_the_same_on_both_backends() {
        let b = backends().await;
        let on_sqlite = walk(b.sqlite.as_ref()).await;
        let on_postgres = walk(b.postgres.as_ref()).await;
        assert_eq!(
            on_sqlite,
            [
                "unknown role `boss`: use manager, head_of_sales, accountant or admin",
                "no user `nobody`"
            ]
        );
        assert_eq!(on_postgres, on_sqlite);
    }
}

mod values_on_postgres {
    use super::*;
    use crate::store::db::Sql;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_value_of_the_wrong_kind_is_refused_by_name_and_writes_nothing() {
        let (_server, nodes) = pg_nodes("values", 1).await;
        let store = nodes[0].clone();
        for (column, value, says) in [
            (
                "name",
                Sql::Blob(vec![1, 2]),
                "bytes go only into bytea columns",
            ),
            ("price", Sql::Text("ten".into()), "must be a decimal"),
        ] {
            let e = store
                .read(move |db| {
                    // The column name is one of the two constants above.
                    let sql = format!("UPDATE products SET {column} = ?1 WHERE id = 'none'");
                    db.execute(&sql, &[value]).map_err(CrmError::from)
                })
                .await
                .unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
