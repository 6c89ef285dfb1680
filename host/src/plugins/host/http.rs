//! `http`: outgoing requests to allow-listed hosts only. Redirects are not
//! followed (a redirect could leave the allow-list), bodies are capped, and a
//! request never outlives the call's deadline.

use crate::plugins::bindings::WitError;
use crate::plugins::bindings::robota::plugin::http;
use crate::plugins::grants::Capability;
use crate::plugins::state::CallState;
use std::time::Duration;

/// Headers the host sets from the URL and the body: `Host` (a guest's own
/// could reach another virtual host than the allow-listed one), the length,
/// and the hop-by-hop headers of RFC 9110 §7.6.1, which steer the connection.
const HOST_SET_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl http::Host for CallState {
    async fn fetch(&mut self, req: http::Request) -> Result<http::Response, WitError> {
        self.require(Capability::HttpFetch)?;
        let url = url::Url::parse(&req.url).map_err(|e| {
            WitError::InvalidInput(format!("http: `{}` is not a URL: {e}", req.url))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WitError::InvalidInput(format!(
                "http: scheme `{}` is not allowed, use http or https",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(0);
        if !self.grants.allows_host(&host, port) {
            return Err(WitError::Denied(format!(
                "http.fetch: {host}:{port} is not on the allow-list of action `{}` ({})",
                self.plugin_id,
                self.grants.http_hosts().join(", ")
            )));
        }
        let method = match req.method {
            http::Method::Get => reqwest::Method::GET,
            http::Method::Post => reqwest::Method::POST,
            http::Method::Put => reqwest::Method::PUT,
            http::Method::Patch => reqwest::Method::PATCH,
            http::Method::Delete => reqwest::Method::DELETE,
        };
        let mut timeout = self.time_left();
        if let Some(ms) = req.timeout_ms {
            timeout = timeout.min(Duration::from_millis(u64::from(ms)));
        }
        for h in &req.headers {
            if HOST_SET_HEADERS.contains(&h.name.to_ascii_lowercase().as_str()) {
                return Err(WitError::InvalidInput(format!(
                    "http: header `{}` is set by the host; an action may not send it",
                    h.name
                )));
            }
        }
        let mut builder = self.http.request(method, url).timeout(timeout);
        for h in &req.headers {
            builder = builder.header(h.name.as_str(), h.value.as_str());
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| WitError::Transient(format!("http: {}", without_url(&e))))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| http::Header {
                name: k.to_string(),
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            })
            .collect();
        let cap = self.limits.http_body_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            WitError::Transient(format!("http: reading the body: {}", without_url(&e)))
        })? {
            if body.len() + chunk.len() > cap {
                return Err(WitError::Failed(format!(
                    "http: response body is larger than the {cap}-byte cap"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(http::Response {
            status,
            headers,
            body,
        })
    }
}

/// The error's message without the URL, which may carry credentials.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!(
        "{kind}: {}",
        std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
    )
}
