//! `http.fetch` against a real HTTP server on loopback: allowed hosts are
//! reached, everything else is refused before a connection is made.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::{host, request, store};
use robota::plugins::{CallError, Grants};
use robota_plugin_artifacts::CHAOS;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tiny HTTP/1.1 server answering every request with `{"ok":true}`;
/// returns its port and a counter of requests served.
async fn serve() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"ok":true}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

#[tokio::test]
async fn an_allowed_host_is_reached() {
    let (port, hits) = serve().await;
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let grants = Grants::parse(&[format!("http.fetch=127.0.0.1:{port}")]).unwrap();
    let out = host
        .call(
            &chaos,
            request(
                json!({"do": "fetch", "url": format!("http://127.0.0.1:{port}/inn/7707083893")}),
                grants,
                store().await,
            ),
        )
        .await
        .unwrap();
    assert_eq!(out.output["status"], 200);
    assert_eq!(out.output["body"], r#"{"ok":true}"#);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn hosts_and_ports_off_the_allow_list_are_refused_without_a_request() {
    let (port, hits) = serve().await;
    let host = host();
    let chaos = host.load_file(CHAOS.as_ref()).await.unwrap();
    let store = store().await;
    // Same server, but reached by a name the grant does not list.
    let grants = Grants::parse(&["http.fetch=127.0.0.1"]).unwrap();
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "fetch", "url": format!("http://localhost:{port}/")}),
                grants,
                store.clone(),
            ),
        )
        .await;
    assert!(
        matches!(&r, Err(CallError::Action { kind: "denied", message }) if message.contains(&format!("localhost:{port}")) && message.contains("allow-list")),
        "{r:?}"
    );
    // The right host on another port.
    let grants = Grants::parse(&["http.fetch=127.0.0.1:1"]).unwrap();
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "fetch", "url": format!("http://127.0.0.1:{port}/")}),
                grants,
                store.clone(),
            ),
        )
        .await;
    assert!(
        matches!(&r, Err(CallError::Action { kind: "denied", .. })),
        "{r:?}"
    );
    // The admin allows a host the manifest never asked for (chaos asks for 127.0.0.1 and localhost only).
    let grants = Grants::parse(&["http.fetch=example.com"]).unwrap();
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "fetch", "url": "http://example.com/"}),
                grants,
                store.clone(),
            ),
        )
        .await;
    assert!(
        matches!(&r, Err(CallError::Action { kind: "denied", message }) if message.contains("example.com")),
        "{r:?}"
    );
    // Not http(s) at all.
    let grants = Grants::parse(&["http.fetch=127.0.0.1"]).unwrap();
    let r = host
        .call(
            &chaos,
            request(
                json!({"do": "fetch", "url": "file:///etc/passwd"}),
                grants,
                store,
            ),
        )
        .await;
    assert!(
        matches!(
            &r,
            Err(CallError::Action {
                kind: "invalid-input",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused request reached the server"
    );
}
