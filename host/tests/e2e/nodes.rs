//! Several `robota serve` nodes on one PostgreSQL database (a real server
//! each test starts for itself): 1,000 runs in flight across three nodes
//! while one node is `kill -9`'d twice — every run completes, every effect
//! happens exactly once and invoice numbers stay gap-free; a cron process
//! fires once per tick with three nodes, once for the ticks missed while
//! every node was down, and a node started later joins without running a
//! tick twice.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::items;
use common::server::{Api, Server, Site};
use robota_test_postgres::TestPostgres;
use serde_json::json;
use sqlx::postgres::PgPool;
use std::time::Duration;

/// Each deal: a short think, then a task about it, and an invoice for every
/// tenth (the big ones).
const WORK: &str = r#"
id = "work"
once_per = "{{ deal.id }}"
[trigger]
event = "deal.created"
[[step]]
id = "think"
uses = "chaos@0"
input = { do = "sleep", ms = 300 }
[[step]]
id = "task"
uses = "chaos@0"
input = { do = "create", kind = "task", fields = { title = "task for {{ deal.id }}", entity_kind = "deal", entity_id = "{{ deal.id }}" } }
[[step]]
id = "invoice"
if = "deal.amount >= 1000"
uses = "chaos@0"
# Invoices made at once on three nodes race for the next number: the
# loser's commit is refused (the action saw the number) and it runs again.
retry = { attempts = 100, backoff = "20ms", max_backoff = "500ms" }
input = { do = "create", kind = "invoice", fields = { deal_id = "{{ deal.id }}", currency = "RUB", issue_date = "2026-05-05", due_date = "2026-05-12", items = [{ name = "Работы", quantity = "1", price = "100.00", vat_rate = "20" }] } }
"#;

/// The lease a dead node's steps wait out, short for the test.
const LEASE: &str = "5";

fn start(site: &Site) -> Server {
    site.start(&["--workers", "16", "--step-lease", LEASE])
}

async fn pool(url: &str) -> PgPool {
    PgPool::connect(url).await.unwrap()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Waits until `sql` counts at least `n`, or fails after `limit`.
async fn wait_count(pool: &PgPool, sql: &str, n: i64, limit: Duration) -> i64 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let got = count(pool, sql).await;
        if got >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {got} of {n} for `{sql}` after {limit:?}"
        );
        // NODES_DEBUG=1: the steps' states and errors every second, to see
        // where a run that does not finish is.
        if std::env::var_os("NODES_DEBUG").is_some() {
            let steps: Vec<(String, i64)> = sqlx::query_as(
                "SELECT status || ' lease ' || COALESCE((lease_until < now())::text, '-'), COUNT(*) FROM run_steps GROUP BY 1",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            eprintln!("{got}: {steps:?}");
            let errors: Vec<(Option<String>, i64)> = sqlx::query_as(
                "SELECT error, COUNT(*) FROM step_attempts WHERE error IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 4",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            eprintln!("  errors: {errors:?}");
            let failed: Vec<(String, i64, Option<String>)> = sqlx::query_as(
                "SELECT step_key, attempts, error FROM run_steps WHERE status = 'failed' LIMIT 3",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            eprintln!("  failed: {failed:?}");
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_killed_twice_complete_1000_runs_each_effect_once() {
    let pg = TestPostgres::start().unwrap();
    let url = pg.create_database("nodes").unwrap();
    let site = Site::new(&[("work.toml", WORK)]).on(&url);
    let token = site.token("admin");
    // Started one after another: each installs the same process file (one
    // version) and migrates (once).
    let mut nodes: Vec<Server> = (0..3).map(|_| start(&site)).collect();
    let db = pool(&url).await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM process_versions").await,
        1,
        "three starts with one file make one version"
    );
    // 1,000 deals, written through nodes 1 and 2 in turn, while node 0
    // works too — and dies twice in the middle of it (and comes back).
    let apis: Vec<Api> = nodes[1..]
        .iter()
        .map(|n| Api::new(&n.url, Some(&token)))
        .collect();
    let completed = "SELECT COUNT(*) FROM runs WHERE status = 'completed'";
    let (mut deals, mut big) = (Vec::new(), Vec::new());
    for n in 0..1000 {
        if n == 300 || n == 700 {
            nodes[0].child.kill().unwrap();
            nodes[0].child.wait().unwrap();
            nodes[0] = start(&site);
        }
        let a = apis[n % 2]
            .post(
                "/api/v1/deals",
                &json!({
                    "title": format!("deal {n}"),
                    "amount": if n % 10 == 0 { "1000.00" } else { "100.00" },
                    "currency": "RUB",
                }),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let id = a.body["id"].as_str().unwrap().to_owned();
        if n % 10 == 0 {
            big.push(id.clone());
        }
        deals.push(id);
    }
    wait_count(&db, completed, 1000, Duration::from_secs(240)).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM runs").await, 1000);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM run_steps WHERE status NOT IN ('done', 'skipped')"
        )
        .await,
        0
    );
    // Every effect exactly once per deal.
    for (table, what, of) in [
        ("tasks", "entity_id", &deals),
        ("invoices", "deal_id", &big),
    ] {
        let per_deal: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT {what}, COUNT(*) FROM {table} GROUP BY {what} ORDER BY {what}"
        ))
        .fetch_all(&db)
        .await
        .unwrap();
        let twice: Vec<_> = per_deal.iter().filter(|(_, n)| *n != 1).collect();
        assert!(twice.is_empty(), "{table} not once per deal: {twice:?}");
        let mut ids: Vec<String> = per_deal.into_iter().map(|(id, _)| id).collect();
        ids.sort();
        let mut expected = of.clone();
        expected.sort();
        assert_eq!(ids, expected, "every deal got its {table}");
    }
    // Invoice numbers: 2026-00001 … 2026-00100, none missing, none twice.
    let numbers: Vec<String> = sqlx::query_scalar("SELECT number FROM invoices ORDER BY number")
        .fetch_all(&db)
        .await
        .unwrap();
    let expected: Vec<String> = (1..=100).map(|n| format!("2026-{n:05}")).collect();
    assert_eq!(numbers, expected);
    // Some steps were taken over from the dead node: attempts show it.
    let retaken = count(
        &db,
        "SELECT COUNT(*) FROM run_steps s WHERE EXISTS
           (SELECT 1 FROM step_attempts a WHERE a.step_id = s.id AND a.attempt > 1)
         OR s.attempts > 1",
    )
    .await;
    assert!(retaken > 0, "the kills hit no step in hand");
    println!("steps run again after a node died: {retaken}");
    // Every node answers about every run, wherever it ran.
    for api in &apis {
        let runs = api.get("/api/v1/runs?status=completed&limit=1000").await;
        assert_eq!(items(&runs.body).len(), 1000);
    }
}

/// Every second, a task.
const TICK: &str = r#"
id = "tick"
[trigger]
cron = "* * * * * *"
[[step]]
id = "task"
uses = "create-task@1"
input = { title = "tick {{ trigger.tick }}" }
"#;

/// The ticks the cron process ran for, in order, and whether any ran twice.
async fn ticks(db: &PgPool) -> Vec<chrono::DateTime<chrono::Utc>> {
    let all: Vec<String> = sqlx::query_scalar(
        "SELECT trigger->>'tick' FROM runs WHERE process_id = 'tick' ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(unique, all, "a tick ran twice");
    all.iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_tick_fires_once_across_nodes_after_downtime_and_with_a_late_joiner() {
    let pg = TestPostgres::start().unwrap();
    let url = pg.create_database("cron").unwrap();
    let site = Site::new(&[("tick.toml", TICK)]).on(&url);
    site.token("admin");
    let db = pool(&url).await;
    let runs = "SELECT COUNT(*) FROM runs WHERE process_id = 'tick'";
    let mut nodes: Vec<Server> = (0..3).map(|_| start(&site)).collect();
    wait_count(&db, runs, 4, Duration::from_secs(30)).await;
    // Every node down for three seconds: the ticks missed meanwhile fire
    // once, as one run, when a node is back.
    for node in &mut nodes {
        node.child.kill().unwrap();
        node.child.wait().unwrap();
    }
    let before = ticks(&db).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let up_at = chrono::Utc::now();
    let mut nodes: Vec<Server> = (0..2).map(|_| start(&site)).collect();
    wait_count(&db, runs, before.len() as i64 + 3, Duration::from_secs(30)).await;
    // A node started later joins the two.
    nodes.push(start(&site));
    let joined = count(&db, runs).await;
    wait_count(&db, runs, joined + 3, Duration::from_secs(30)).await;
    drop(nodes);
    let after = ticks(&db).await;
    assert!(after.starts_with(&before));
    // The three seconds' ticks missed while every node was down became
    // one run, for the first of them.
    let last_before = *before.last().unwrap();
    let missed: Vec<_> = after
        .iter()
        .filter(|t| **t > last_before && **t < up_at)
        .collect();
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(*missed[0], last_before + chrono::Duration::seconds(1));
    // Each run did its work once.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM tasks").await,
        count(&db, "SELECT COUNT(*) FROM runs WHERE status = 'completed'").await
    );
}

/// A step that runs longer than the lease.
const LONG: &str = r#"
id = "long"
[trigger]
event = "deal.created"
[[step]]
id = "think"
uses = "chaos@0"
input = { do = "sleep", ms = 4000 }
[[step]]
id = "task"
uses = "create-task@1"
input = { title = "after a long think", entity = { kind = "deal", id = "{{ deal.id }}" } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_longer_than_its_lease_stays_with_its_living_node() {
    let pg = TestPostgres::start().unwrap();
    let url = pg.create_database("long").unwrap();
    let site = Site::new(&[("long.toml", LONG)]).on(&url);
    let token = site.token("admin");
    // A two-second lease and a four-second step (the action deadline is five) on two nodes: only the
    // node's renewals keep the other from taking the step over.
    let nodes: Vec<Server> = (0..2)
        .map(|_| site.start(&["--workers", "4", "--step-lease", "2"]))
        .collect();
    let a = Api::new(&nodes[0].url, Some(&token))
        .post(
            "/api/v1/deals",
            &json!({ "title": "long", "amount": "1.00", "currency": "RUB" }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let db = pool(&url).await;
    wait_count(
        &db,
        "SELECT COUNT(*) FROM runs WHERE status = 'completed'",
        1,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM step_attempts").await,
        2,
        "each step ran once: the long one was never taken over"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tasks").await, 1);
}
