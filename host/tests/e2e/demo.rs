//! `robota demo` as README's "Watch scenario 3" walks it: the real binary,
//! its seeded payment requests and the tokens it prints per role. The
//! accountant's token never sees a draft, a request on approval or a
//! rejected one; the head of sales decides the one waiting; the day's
//! payment orders go to the bank and its statement marks them paid.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::items;
use common::server::{Api, Server};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// `robota demo` in a folder of its own, until dropped.
struct Demo {
    server: Server,
    _dir: tempfile::TempDir,
}

fn start_demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_robota"));
    cmd.args(["demo", "--dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"]);
    Demo {
        server: Server::spawn(cmd),
        _dir: dir,
    }
}

impl Demo {
    /// A client with the token of the `export` line `var` (`H_ACCOUNTANT`).
    fn as_(&self, var: &str) -> Api {
        let header = &self.server.exports[var];
        let token = header.strip_prefix("Authorization: Bearer ").unwrap();
        Api::new(&self.server.url, Some(token))
    }
}

fn statuses(body: &Value) -> Vec<(String, String)> {
    items(body)
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walks_scenario_3_and_accounting_never_sees_a_draft() {
    let demo = start_demo();
    for var in ["URL", "TOKEN", "H_MANAGER", "H_HEAD", "H_ACCOUNTANT"] {
        assert!(
            demo.server.exports.contains_key(var),
            "{:?}",
            demo.server.exports
        );
    }
    let (manager, head, accountant) = (
        demo.as_("H_MANAGER"),
        demo.as_("H_HEAD"),
        demo.as_("H_ACCOUNTANT"),
    );

    // The manager's requests in every status; accounting's from approved on.
    let all = manager.get("/api/v1/payment-requests").await.body;
    let mut seen: Vec<String> = statuses(&all).into_iter().map(|(_, s)| s).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "approved",
            "approved",
            "draft",
            "on_approval",
            "paid",
            "rejected"
        ]
    );
    let books = accountant.get("/api/v1/payment-requests").await.body;
    let mut theirs: Vec<String> = statuses(&books).into_iter().map(|(_, s)| s).collect();
    theirs.sort();
    assert_eq!(theirs, ["approved", "approved", "paid"]);
    for id in ["demo-pr-stationery", "demo-pr-rent", "demo-pr-ads"] {
        let a = accountant
            .get(&format!("/api/v1/payment-requests/{id}"))
            .await;
        assert_eq!(a.status, 404, "{id}: {}", a.body);
    }
    let registry = accountant
        .get("/api/v1/payment-registry?period=month")
        .await
        .body;
    assert!(registry["totals"]["RUB"].is_string(), "{registry}");
    assert!(!registry.to_string().contains("demo-pr-rent"));

    // The head of sales decides the request waiting: now accounting's.
    let inbox = head
        .wait_for("/api/v1/approvals", Duration::from_secs(30), |b| {
            !items(b).is_empty()
        })
        .await;
    let approval = items(&inbox)[0]["id"].as_str().unwrap().to_owned();
    let decided = head
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            &json!({ "comment": "Согласовано" }),
        )
        .await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    accountant
        .wait_for(
            "/api/v1/payment-requests/demo-pr-rent",
            Duration::from_secs(30),
            |b| b["status"] == "approved",
        )
        .await;
    manager
        .wait_for("/api/v1/me/notifications", Duration::from_secs(30), |b| {
            items(b)
                .iter()
                .any(|n| n["title"] == "Заявка согласована: Аренда склада, январь")
        })
        .await;

    // Today's payment orders to the bank; its statement marks them paid.
    let (status, _, orders) = accountant.get_bytes("/api/v1/exports/payment-orders").await;
    assert_eq!(status, 200);
    let file = robota_client_bank::parse(&robota_client_bank::decode(&orders)).unwrap();
    assert_eq!(file.documents.len(), 1);
    assert_eq!(file.documents[0].get("Сумма"), "60000.00");
    let report = accountant
        .post_bytes("/api/v1/bank-statements", "text/plain", orders)
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(
        report.body["paid_requests"][0]["request_id"], "demo-pr-install",
        "{}",
        report.body
    );
    let paid = manager
        .get("/api/v1/payment-requests/demo-pr-install")
        .await
        .body;
    assert_eq!(paid["status"], "paid");
    let timeline = manager
        .get("/api/v1/payment-requests/demo-pr-install/timeline")
        .await
        .body;
    let last = items(&timeline).last().unwrap();
    assert_eq!(last["user_id"], "demo-accountant", "{timeline}");
}
