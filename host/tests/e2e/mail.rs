//! The mail outbox end to end: an action's `mail.send` commits an outbox
//! row with its step, and `robota serve` delivers it through a real SMTP
//! server (aiosmtpd, from PyPI, started here on loopback) with its stable
//! Message-ID — retrying while the server is down.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::items;

use common::server::{Api, Site};
use common::smtp::{Smtp, free_port, received, serve_args};
use serde_json::json;
use std::time::{Duration, Instant};

const MAIL_ON_CREATE: &str = r#"
id = "mail-on-create"
[trigger]
event = "deal.created"
[[step]]
id = "mail"
uses = "chaos@0"
input = { do = "mail", to = "client@example.com", subject = "Счёт по сделке {{ deal.title }}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actions_mail_is_delivered_through_smtp_with_its_message_id() {
    let site = Site::new(&[("mail.toml", MAIL_ON_CREATE)]);
    let maildir = site.dir.path().join("maildir");
    let port = free_port();
    let _smtp = Smtp::start(port, &maildir);
    let args = serve_args(port, "robota@seller.example");
    let server = site.start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let api = Api::new(&server.url, server.token.as_deref());
    let a = api
        .post("/api/v1/deals", &json!({ "title": "Насосы" }))
        .await;
    assert_eq!(a.status, 201);
    let outbox = api
        .wait_for("/api/v1/outbox?status=sent", Duration::from_secs(20), |b| {
            items(b).len() == 1
        })
        .await;
    let row = &items(&outbox)[0];
    assert_eq!(row["to"], json!(["client@example.com"]));
    assert_eq!(row["attempts"], 1);
    let message_id = row["message_id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    while received(&maildir).is_empty() && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = received(&maildir);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(
        mail.contains(&format!("Message-ID: {message_id}")),
        "{mail}"
    );
    assert!(mail.contains("From: robota@seller.example"), "{mail}");
    assert!(mail.contains("To: client@example.com"), "{mail}");
    assert!(mail.contains("Hello from chaos"), "{mail}");
    // The subject is Cyrillic, so it travels encoded.
    assert!(mail.contains("Subject: =?utf-8?"), "{mail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_in_the_outbox_while_the_server_is_down_then_goes_once() {
    let site = Site::new(&[("mail.toml", MAIL_ON_CREATE)]);
    let maildir = site.dir.path().join("maildir");
    let port = free_port();
    let port_text = port.to_string();
    let server = site.start(&[
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port_text,
        "--smtp-security",
        "none",
    ]);
    let api = Api::new(&server.url, server.token.as_deref());
    api.post("/api/v1/deals", &json!({ "title": "Later" }))
        .await;
    let pending = api
        .wait_for(
            "/api/v1/outbox?status=pending",
            Duration::from_secs(20),
            |b| items(b).first().is_some_and(|m| m["attempts"] == 1),
        )
        .await;
    assert!(
        items(&pending)[0]["last_error"].as_str().unwrap().len() > 3,
        "the failure is recorded: {pending}"
    );
    let _smtp = Smtp::start(port, &maildir);
    // The retry is due in 30 s or more: move the clock past it.
    api.post("/api/v1/dev/clock", &json!({ "advance": "2m" }))
        .await;
    api.wait_for("/api/v1/outbox?status=sent", Duration::from_secs(20), |b| {
        items(b).len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received(&maildir).len(), 1, "delivered once");
}
