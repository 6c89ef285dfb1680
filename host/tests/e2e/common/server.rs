//! A real `robota serve` process for end-to-end tests: its own database,
//! plugins folder (the standard actions plus `chaos`) and processes folder,
//! on a free loopback port; a small blocking-free HTTP client around it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The grants the test server gives chaos; the standard actions get what
/// `robota demo` gives them.
const CHAOS_GRANTS: &str = r#"
[actions.chaos]
grants = ["crm.read", "crm.write", "mail.send"]
"#;

/// A folder with a database, plugins and processes that outlives restarts.
pub struct Site {
    pub dir: tempfile::TempDir,
    /// The database when it is not the site's own SQLite file.
    pub db_url: Option<String>,
    /// The site's own PostgreSQL server when the tests run on PostgreSQL
    /// (`ROBOTA_TEST_DB=postgres`); stopped when the site is dropped.
    _server: Option<robota_test_postgres::TestPostgres>,
}

/// Whether the tests run on PostgreSQL (`ROBOTA_TEST_DB=postgres`, as
/// `scripts/test` runs them a second time) rather than on SQLite files.
pub fn on_postgres() -> bool {
    std::env::var("ROBOTA_TEST_DB").is_ok_and(|v| v == "postgres")
}

impl Site {
    /// A new site with the standard actions, chaos, and these process files.
    pub fn new(processes: &[(&str, &str)]) -> Site {
        Site::with_grants(processes, "")
    }

    /// A new site whose plugins.toml also has `extra` (grants and config of
    /// actions the demo's grants leave out, such as `lookup-company`).
    pub fn with_grants(processes: &[(&str, &str)], extra: &str) -> Site {
        let dir = tempfile::tempdir().expect("a temp dir");
        let plugins = dir.path().join("plugins");
        let procs = dir.path().join("processes");
        std::fs::create_dir_all(&plugins).expect("mkdir");
        std::fs::create_dir_all(&procs).expect("mkdir");
        for (name, bytes) in robota_plugin_artifacts::STANDARD {
            std::fs::write(plugins.join(name), bytes).expect("write plugin");
        }
        std::fs::copy(robota_plugin_artifacts::CHAOS, plugins.join("chaos.wasm"))
            .expect("copy chaos");
        for (path, text) in robota::cli::demo::DEMO_TEMPLATES {
            let file = plugins.join(path);
            std::fs::create_dir_all(file.parent().expect("a folder")).expect("mkdir");
            std::fs::write(file, text).expect("write template");
        }
        std::fs::write(
            plugins.join("plugins.toml"),
            format!(
                "{}\n{CHAOS_GRANTS}\n{extra}",
                robota::cli::demo::DEMO_GRANTS
            ),
        )
        .expect("write grants");
        for (name, text) in processes {
            std::fs::write(procs.join(name), text).expect("write process");
        }
        let server = on_postgres()
            .then(|| robota_test_postgres::TestPostgres::start().expect("PostgreSQL starts"));
        let db_url = server
            .as_ref()
            .map(|s| s.create_database("robota").expect("a database"));
        Site {
            dir,
            db_url,
            _server: server,
        }
    }

    /// The same site on database `url` (a PostgreSQL one several servers
    /// share).
    pub fn on(mut self, url: &str) -> Site {
        self.db_url = Some(url.to_owned());
        self
    }

    /// The site's database, opened as robota opens it (either kind).
    pub async fn database(&self) -> std::sync::Arc<robota::store::Database> {
        robota::store::open(&self.db())
            .await
            .expect("the database opens")
    }

    /// The database URL.
    pub fn db(&self) -> String {
        if let Some(url) = &self.db_url {
            return url.clone();
        }
        format!("sqlite://{}", self.dir.path().join("robota.db").display())
    }

    /// A new API token of `role`: an admin's acts as no one in particular;
    /// any other role's belongs to a new user of that role (what they see
    /// depends on what is theirs).
    pub fn token(&self, role: &str) -> String {
        if role == "admin" {
            return self.robota(&["token", "create", "--role", role]);
        }
        self.user(role).1
    }

    /// A new user of `role` (made with `robota user create`) and a token
    /// acting as them: (user id, token).
    pub fn user(&self, role: &str) -> (String, String) {
        let email = format!("{role}-{}@test.example", uuid::Uuid::new_v4().simple());
        let name = format!("Test {role}");
        let id = self.robota(&[
            "user", "create", "--email", &email, "--name", &name, "--role", role,
        ]);
        let token = self.robota(&["token", "create", "--role", role, "--user", &id]);
        (id, token)
    }

    /// What `robota <args> --db <this site>` prints; it must succeed.
    fn robota(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_robota"))
            .args(args)
            .args(["--db", &self.db()])
            .output()
            .expect("robota runs");
        assert!(
            out.status.success(),
            "robota {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("output is text")
            .trim()
            .to_owned()
    }

    /// Starts `robota serve` on this site.
    pub fn start(&self, extra: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_robota"));
        cmd.arg("serve")
            .arg("--db")
            .arg(self.db())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--plugins")
            .arg(self.dir.path().join("plugins"))
            .arg("--processes")
            .arg(self.dir.path().join("processes"))
            .arg("--dev-clock")
            .args(extra);
        Server::spawn(cmd)
    }
}

impl Server {
    /// Runs `cmd` (a `robota serve` or `robota demo`) with the tests'
    /// compile cache, and waits until it listens: its URL, the admin token
    /// it printed, and every `export NAME=value` line it printed.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .env("ROBOTA_CACHE_DIR", cache_dir())
            .env("ROBOTA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("robota starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut url, mut token, mut exports) = (None, None, std::collections::BTreeMap::new());
        while url.is_none() {
            let Some(Ok(line)) = lines.next() else {
                panic!("robota exited before listening");
            };
            if let Some(t) = line.strip_prefix("admin token: ") {
                token = Some(t.trim().to_owned());
            }
            if let Some((name, value)) = line
                .trim()
                .strip_prefix("export ")
                .and_then(|e| e.split_once('='))
            {
                exports.insert(name.to_owned(), value.trim_matches('"').to_owned());
            }
            if let Some(u) = line.strip_prefix("robota listening on ") {
                url = Some(u.trim().to_owned());
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            url: url.expect("a URL"),
            token,
            exports,
        }
    }
}

/// The compile cache the tests share.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// The admin token printed at first start (None on restarts).
    pub token: Option<String>,
    /// The `export NAME=value` lines it printed (`robota demo`'s tokens).
    pub exports: std::collections::BTreeMap<String, String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status and JSON body (Null if not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

/// A client for one server with one token.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    pub token: Option<String>,
    client: reqwest::Client,
}

impl Api {
    /// A client of `url` sending `token`.
    pub fn new(url: &str, token: Option<&str>) -> Api {
        Api {
            url: url.to_owned(),
            token: token.map(str::to_owned),
            // No pooled connections: a server that answers 413 before reading
            // a body closes the connection, and a reused one would then fail.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Sends a request with an optional JSON or text body.
    pub async fn send(&self, method: &str, path: &str, body: Option<String>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = res.text().await.expect("a body");
        Answer {
            status,
            content_type,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// POSTs `body` as raw bytes with `content_type`.
    pub async fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        self.send_bytes(reqwest::Method::POST, path, content_type, body)
            .await
    }

    /// PUTs `body` as raw bytes with `content_type`.
    pub async fn put_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        self.send_bytes(reqwest::Method::PUT, path, content_type, body)
            .await
    }

    /// Sends `body` as raw bytes with `content_type`.
    async fn send_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = res.status().as_u16();
        let text = res.text().await.expect("a body");
        Answer {
            status,
            content_type: String::new(),
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// GETs `path` and returns the status, the content type and the raw bytes.
    pub async fn get_bytes(&self, path: &str) -> (u16, String, Vec<u8>) {
        let mut req = self.client.get(format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            status,
            content_type,
            res.bytes().await.expect("a body").to_vec(),
        )
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send("POST", path, Some(body.to_string())).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send("PATCH", path, Some(body.to_string())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send("PUT", path, Some(body.to_string())).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send("DELETE", path, None).await
    }

    /// Polls `path` until `done` holds for its body, or panics after `limit`.
    pub async fn wait_for(
        &self,
        path: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let a = self.get(path).await;
            if a.status == 200 && done(&a.body) {
                return a.body;
            }
            assert!(
                start.elapsed() < limit,
                "{path} did not reach the expected state in {limit:?}: {}",
                a.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The rows `sql` (with SQLite's `?N` placeholders, as the store's shared
/// SQL) reads from `db`, either kind.
pub async fn rows(
    db: &robota::store::Database,
    sql: &str,
    params: Vec<robota::store::db::Sql>,
) -> Vec<robota::store::db::Row> {
    use robota::store::backend::Backend as _;
    let sql = sql.to_owned();
    db.read_with(Box::new(move |c| Ok(c.query(&sql, &params)?)))
        .await
        .expect("the query runs")
}
