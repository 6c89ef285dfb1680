//! Outgoing HTTP to allow-listed hosts (`http.fetch`).

use crate::__bindings::robota::plugin::http as host;
use crate::Error;
use serde::de::DeserializeOwned;

pub use host::Method;

/// A request being built; send it with [`Request::send`].
#[derive(Debug, Clone)]
pub struct Request {
    inner: host::Request,
}

impl Request {
    /// A request with a method and an absolute URL.
    pub fn new(method: Method, url: &str) -> Self {
        Request {
            inner: host::Request {
                method,
                url: url.to_owned(),
                headers: Vec::new(),
                body: None,
                timeout_ms: None,
            },
        }
    }
    /// A GET request.
    pub fn get(url: &str) -> Self {
        Request::new(Method::Get, url)
    }
    /// A POST request.
    pub fn post(url: &str) -> Self {
        Request::new(Method::Post, url)
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push(host::Header {
            name: name.to_owned(),
            value: value.to_owned(),
        });
        self
    }
    /// Sets a raw body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.inner.body = Some(body);
        self
    }
    /// Sets a JSON body and its content type.
    pub fn json(self, value: &impl serde::Serialize) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok(self.header("content-type", "application/json").body(body))
    }
    /// Gives up after `ms` milliseconds.
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.inner.timeout_ms = Some(ms);
        self
    }
    /// Sends the request.
    pub fn send(self) -> Result<Response, Error> {
        let r = host::fetch(&self.inner)?;
        Ok(Response {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
        })
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Failed(format!("response body is not the expected JSON: {e}")))
    }
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
