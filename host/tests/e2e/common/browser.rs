//! Headless Chromium (Debian's `chromium`, driven through its
//! `chromedriver` with fantoccini) for the console's browser tests. A test
//! that fails leaves a screenshot and the page's HTML in
//! `target/console-failures/`; `ROBOTA_SCREENSHOTS=<dir>` makes
//! [`Browser::shot`] save the README's pictures there.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A browser session with its own chromedriver and profile.
pub struct Browser {
    pub client: Client,
    driver: Child,
    name: String,
    base: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh browser for test `name` on the server at `base`.
    pub async fn start(name: &str, base: &str) -> Browser {
        for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: `apt-get install chromium chromium-driver` (.ci/run does)"
            );
        }
        let port = super::smtp::free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("a profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                // The machine's network is closed: Chromium's own calls
                // home are switched off, or they stall pages.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--window-size=1400,1000", "--lang=ru-RU",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a browser session");
        Browser {
            client,
            driver,
            name: name.to_owned(),
            base: base.to_owned(),
            _profile: profile,
        }
    }

    /// Opens `path` of the server.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("the page opens");
    }

    /// The current path (and query).
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("a URL");
        format!(
            "{}{}",
            url.path(),
            url.query().map(|q| format!("?{q}")).unwrap_or_default()
        )
    }

    /// Signs in with `token` through the sign-in form.
    pub async fn sign_in(&self, token: &str) {
        self.open("/console/sign-in").await;
        self.fill("#token", token).await;
        self.click("#sign-in-form button[type=submit]").await;
        self.wait_for("header.top").await;
    }

    /// The element `css`, waited for up to 15 s.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on {}: {e}", self.base))
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    /// Types `text` into `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.wait_for(css).await;
        el.clear().await.ok();
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into `{css}`: {e}"));
    }

    /// Sets the value of the input `css` as a picker would (a date input
    /// takes typed keys in the browser's locale order; this does not).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.wait_for(css).await;
        self.client
            .execute(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                 el.dispatchEvent(new Event('change', { bubbles: true }));",
                vec![serde_json::json!(css), serde_json::json!(value)],
            )
            .await
            .unwrap_or_else(|e| panic!("setting `{css}`: {e}"));
    }

    /// Picks the option with `value` in the select `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.wait_for(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choosing `{value}` in `{css}`: {e}"));
    }

    /// The current value of the input `css` (what is typed in it now).
    pub async fn value(&self, css: &str) -> String {
        self.wait_for(css)
            .await
            .prop("value")
            .await
            .unwrap_or_else(|e| panic!("the value of `{css}`: {e}"))
            .unwrap_or_default()
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap_or_default()
    }

    /// Whether `css` is on the page now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The text of the whole page.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Waits until `css`'s text contains `want` (reloading with `reload`),
    /// or panics after 30 s with what it shows.
    pub async fn wait_text(&self, css: &str, want: &str, reload: bool) -> String {
        let start = Instant::now();
        loop {
            let text = if self.has(css).await {
                self.text(css).await
            } else {
                String::new()
            };
            if text.contains(want) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "`{css}` never showed `{want}`; it shows: {text}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            if reload {
                self.client.refresh().await.ok();
            }
        }
    }

    /// The session cookie's value (to send forged requests beside the browser).
    pub async fn session_cookie(&self) -> String {
        self.client
            .get_named_cookie("robota_session")
            .await
            .expect("a session cookie")
            .value()
            .to_owned()
    }

    /// Saves a picture of the page as `<ROBOTA_SCREENSHOTS>/<file>` when
    /// that is set (the README's screenshots).
    pub async fn shot(&self, file: &str) {
        if let Ok(dir) = std::env::var("ROBOTA_SCREENSHOTS") {
            let png = self.client.screenshot().await.expect("a screenshot");
            std::fs::create_dir_all(&dir).ok();
            std::fs::write(Path::new(&dir).join(file), png).expect("saving the screenshot");
        }
    }

    /// Where failures are kept.
    fn failures() -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .map(|p| p.join("console-failures"))
            .unwrap_or_else(|| PathBuf::from("console-failures"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed test leaves what the browser showed.
            let client = self.client.clone();
            let name = self.name.clone();
            let saved = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async move {
                    let png = client.screenshot().await.ok();
                    let html = client.source().await.ok();
                    (png, html)
                })
            });
            let dir = Browser::failures();
            std::fs::create_dir_all(&dir).ok();
            if let Some(png) = saved.0 {
                let file = dir.join(format!("{name}.png"));
                std::fs::write(&file, png).ok();
                eprintln!("screenshot of the failure: {}", file.display());
            }
            if let Some(html) = saved.1 {
                std::fs::write(dir.join(format!("{name}.html")), html).ok();
            }
        }
        let client = self.client.clone();
        let _ = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(client.close())
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
