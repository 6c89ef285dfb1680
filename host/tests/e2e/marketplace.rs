//! The marketplace end to end, against a real OCI registry on loopback
//! (Debian's `docker-registry`, the CNCF distribution registry) and
//! cross-checked with an independent client (`skopeo`): publish → search
//! → install with consent → a process runs the action; unsigned, unknown
//! key, a signature for other bytes, an unknown version, a range that
//! matches nothing, refused consent and a registry that is down all
//! install nothing; a second server installs byte-identical components
//! from the first's lock.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use common::items;
use common::server::{Api, Server};
use common::smtp::free_port;
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A distribution registry on a free loopback port, storing in a temp dir.
struct OciRegistry {
    child: Child,
    url: String,
    host: String,
    _dir: tempfile::TempDir,
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry() -> OciRegistry {
    let bin = Path::new("/usr/bin/docker-registry");
    assert!(
        bin.exists(),
        "docker-registry is missing: `apt-get install docker-registry skopeo` (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the registry did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    OciRegistry {
        child,
        url: format!("http://127.0.0.1:{port}"),
        host: format!("127.0.0.1:{port}"),
        _dir: dir,
    }
}

/// `robota <args>`, with stdin `input`.
fn robota(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_robota"))
        .args(args)
        .env("ROBOTA_CACHE_DIR", common::server::cache_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo").args(args).output().unwrap()
}

/// The built add-note component, and a key pair in `dir`: (wasm, key, public key).
fn publisher(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(format!("{name}.key"));
    ok(&robota(
        &["plugin", "keygen", "--out", key.to_str().unwrap()],
        "",
    ));
    let public = std::fs::read_to_string(dir.join(format!("{name}.key.pub"))).unwrap();
    (key.to_str().unwrap().to_owned(), public.trim().to_owned())
}

fn component(name: &str) -> String {
    robota_plugin_artifacts::STANDARD
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(file, bytes)| {
            let path =
                std::env::temp_dir().join(format!("robota-market-{}-{file}", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .unwrap()
}

/// `robota plugin publish <wasm>` to `reg` signed with `key`; its output.
fn publish_to(reg: &OciRegistry, key: &str, wasm: &str) -> String {
    ok(&robota(
        &[
            "plugin",
            "publish",
            wasm,
            "--registry",
            &reg.url,
            "--key",
            key,
        ],
        "",
    ))
}

fn trust(plugins: &Path, name: &str, public: &str) {
    std::fs::create_dir_all(plugins).unwrap();
    std::fs::write(
        plugins.join("trusted-publishers.toml"),
        format!("[publishers]\n{name} = \"{public}\"\n"),
    )
    .unwrap();
}

/// The files of a folder, by name.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

const NOTE_ON_DEAL: &str = r#"
id = "note-on-deal"
title = "A note on every new deal"
[trigger]
event = "deal.created"
[[step]]
id = "note"
uses = "add-note@1"
input = { entity = { kind = "deal", id = "{{ deal.id }}" }, text = "Installed from the marketplace" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_found_installed_with_consent_and_run_by_a_process() {
    let reg = registry();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = publisher(work.path(), "acme");
    let wasm = component("add-note.wasm");

    let packed = ok(&robota(
        &["plugin", "pack", &wasm, "--publisher", "Acme"],
        "",
    ));
    let manifest: Value = serde_json::from_str(&packed).unwrap();
    assert_eq!(
        (manifest["id"].as_str(), manifest["publisher"].as_str()),
        (Some("add-note"), Some("Acme"))
    );
    let published = ok(&robota(
        &[
            "plugin",
            "publish",
            &wasm,
            "--registry",
            &reg.url,
            "--key",
            &key,
            "--publisher",
            "Acme",
            "--licence",
            "Apache-2.0",
        ],
        "",
    ));
    assert!(
        published.contains("published add-note 1.0.0"),
        "{published}"
    );

    // An independent client sees a well-formed OCI artifact.
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{}/robota/add-note:1.0.0", reg.host),
    ]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let oci: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        oci["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        oci["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(oci["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        oci["annotations"]["org.opencontainers.image.licenses"],
        "Apache-2.0"
    );
    let said: Value =
        serde_json::from_str(oci["annotations"]["dev.robota.manifest"].as_str().unwrap()).unwrap();
    assert_eq!(said["capabilities"], json!(["crm.read", "crm.write"]));
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/robota/add-note", reg.host),
    ]);
    let tags = String::from_utf8_lossy(&tags.stdout).into_owned();
    assert!(
        tags.contains("\"1.0.0\"") && tags.contains(".sig\""),
        "{tags}"
    );

    let found = ok(&robota(
        &["plugin", "search", "note", "--registry", &reg.url],
        "",
    ));
    assert!(found.starts_with("add-note\t1.0.0\tAdd a note"), "{found}");
    let none = ok(&robota(
        &["plugin", "search", "invoice", "--registry", &reg.url],
        "",
    ));
    assert!(none.contains("nothing"), "{none}");

    // Not trusted yet: refused, nothing written.
    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let p = plugins.to_str().unwrap();
    let unknown = refused(&robota(
        &[
            "plugin",
            "install",
            "add-note",
            "--registry",
            &reg.url,
            "--plugins",
            p,
            "--yes",
        ],
        "",
    ));
    assert!(unknown.contains("signed by an unknown key"), "{unknown}");
    assert!(files(&plugins).is_empty());

    // Trusted: the admin sees what it asks for; "n" installs nothing.
    trust(&plugins, "acme", &public);
    let declined = robota(
        &[
            "plugin",
            "install",
            "add-note@^1",
            "--registry",
            &reg.url,
            "--plugins",
            p,
        ],
        "n\n",
    );
    let asked = refused(&declined);
    assert!(
        asked.contains("published by acme (signature verified)"),
        "{asked}"
    );
    assert!(
        asked.contains("create and change CRM records (crm.write)"),
        "{asked}"
    );
    assert!(asked.contains("consent was not given"), "{asked}");
    assert_eq!(files(&plugins), ["trusted-publishers.toml"]);
    // "y": installed, granted what it asked for, pinned in the lock.
    let yes = ok(&robota(
        &[
            "plugin",
            "install",
            "add-note@^1",
            "--registry",
            &reg.url,
            "--plugins",
            p,
        ],
        "y\n",
    ));
    assert!(yes.contains("installed add-note 1.0.0"), "{yes}");
    assert_eq!(
        files(&plugins),
        [
            "add-note-1.0.0.wasm",
            "plugins.lock",
            "plugins.toml",
            "trusted-publishers.toml"
        ]
    );
    let installed = std::fs::read(plugins.join("add-note-1.0.0.wasm")).unwrap();
    assert_eq!(installed, std::fs::read(&wasm).unwrap(), "byte for byte");
    let lock: toml::Table =
        toml::from_str(&std::fs::read_to_string(plugins.join("plugins.lock")).unwrap()).unwrap();
    let entry = &lock["package"][0];
    assert_eq!(entry["id"].as_str(), Some("add-note"));
    assert_eq!(entry["publisher"].as_str(), Some("acme"));
    assert!(entry["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(
        entry["consented_by"]
            .as_str()
            .unwrap()
            .contains("at the prompt")
    );

    // A server with only that action runs a process that uses it.
    let (server, api, _) = serve(work.path(), &plugins, NOTE_ON_DEAL);
    let deal = api
        .post("/api/v1/deals", &json!({ "title": "Насосы" }))
        .await;
    assert_eq!(deal.status, 201, "{}", deal.body);
    let timeline = format!(
        "/api/v1/deals/{}/timeline",
        deal.body["id"].as_str().unwrap()
    );
    api.wait_for(&timeline, Duration::from_secs(30), |b| {
        items(b)
            .iter()
            .any(|e| e["text"] == "Installed from the marketplace")
    })
    .await;
    drop(server);

    // A second server installs exactly what the lock pins.
    let second = work.path().join("second");
    trust(&second, "acme", &public);
    std::fs::copy(plugins.join("plugins.lock"), second.join("plugins.lock")).unwrap();
    ok(&robota(
        &["plugin", "sync", "--plugins", second.to_str().unwrap()],
        "",
    ));
    assert_eq!(
        std::fs::read(second.join("add-note-1.0.0.wasm")).unwrap(),
        installed
    );
}

/// `robota serve` on a database in `work` with the actions of `plugins`
/// and one process file: the server, an admin client, the database URL.
fn serve(work: &Path, plugins: &Path, process: &str) -> (Server, Api, String) {
    let procs = work.join("processes");
    std::fs::create_dir_all(&procs).unwrap();
    std::fs::write(procs.join("process.toml"), process).unwrap();
    let db = format!("sqlite://{}", work.join("robota.db").display());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_robota"));
    cmd.args(["serve", "--db", &db, "--listen", "127.0.0.1:0", "--plugins"])
        .arg(plugins)
        .arg("--processes")
        .arg(&procs);
    let server = Server::spawn(cmd);
    let api = Api::new(&server.url, server.token.as_deref());
    (server, api, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_foreign_and_altered_packages_and_a_dead_registry_install_nothing() {
    let reg = registry();
    let work = tempfile::tempdir().unwrap();
    let (acme_key, acme_public) = publisher(work.path(), "acme");
    let (mallory_key, _) = publisher(work.path(), "mallory");
    let plugins = work.path().join("plugins");
    trust(&plugins, "acme", &acme_public);
    let p = plugins.to_str().unwrap();
    let install = |what: &str| {
        refused(&robota(
            &[
                "plugin",
                "install",
                what,
                "--registry",
                &reg.url,
                "--plugins",
                p,
                "--yes",
            ],
            "",
        ))
    };

    // Signed by a key the admin does not trust.
    let task = component("create-task.wasm");
    ok(&robota(
        &[
            "plugin",
            "publish",
            &task,
            "--registry",
            &reg.url,
            "--key",
            &mallory_key,
        ],
        "",
    ));
    let foreign = install("create-task");
    assert!(foreign.contains("signed by an unknown key"), "{foreign}");

    // Unsigned: its signature removed from the registry.
    let note = component("add-note.wasm");
    let published = ok(&robota(
        &[
            "plugin",
            "publish",
            &note,
            "--registry",
            &reg.url,
            "--key",
            &acme_key,
        ],
        "",
    ));
    let digest = published
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .trim_end_matches(',')
        .to_owned();
    let sig = format!(
        "docker://{}/robota/add-note:{}.sig",
        reg.host,
        digest.replace(':', "-")
    );
    let saved = work.path().join("sig");
    let copied = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &sig,
        &format!("dir:{}", saved.display()),
    ]);
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let deleted = skopeo(&["delete", "--tls-verify=false", &sig]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let unsigned = install("add-note");
    assert!(unsigned.contains("is not signed"), "{unsigned}");

    // Altered after signing: another manifest under the version's tag (here
    // the move-stage component tagged as add-note 1.0.0 by skopeo), with
    // the old signature put beside it.
    let moved = component("move-stage.wasm");
    let other = work.path().join("other");
    ok(&robota(
        &[
            "plugin",
            "publish",
            &moved,
            "--registry",
            &reg.url,
            "--key",
            &acme_key,
        ],
        "",
    ));
    let copy = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}/robota/move-stage:1.0.0", reg.host),
        &format!("dir:{}", other.display()),
    ]);
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let retag = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("dir:{}", other.display()),
        &format!("docker://{}/robota/add-note:1.0.0", reg.host),
    ]);
    assert!(
        retag.status.success(),
        "{}",
        String::from_utf8_lossy(&retag.stderr)
    );
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{}/robota/add-note:1.0.0", reg.host),
    ]);
    let new_digest = format!("sha256:{}", sha256_hex(&raw.stdout));
    assert_ne!(new_digest, digest);
    let put_back = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("dir:{}", saved.display()),
        &format!(
            "docker://{}/robota/add-note:{}.sig",
            reg.host,
            new_digest.replace(':', "-")
        ),
    ]);
    assert!(
        put_back.status.success(),
        "{}",
        String::from_utf8_lossy(&put_back.stderr)
    );
    let altered = install("add-note");
    assert!(
        altered.contains("does not match") && altered.contains("changed after it was signed"),
        "{altered}"
    );

    // Versions that are not there.
    let nine = install("add-note@9");
    assert!(
        nine.contains("no version of `add-note` matches ^9 (the registry has 1.0.0)"),
        "{nine}"
    );
    let missing = install("no-such-action");
    assert!(missing.contains("no action `no-such-action`"), "{missing}");
    let bad = install("add-note@latest");
    assert!(bad.contains("not a semver range"), "{bad}");

    // The registry down: a clear error.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let down = refused(&robota(
        &[
            "plugin",
            "install",
            "add-note",
            "--registry",
            &dead,
            "--plugins",
            p,
            "--yes",
        ],
        "",
    ));
    assert!(
        down.contains(&format!("the registry {dead} cannot be reached")),
        "{down}"
    );
    // Through all of it nothing was installed.
    assert_eq!(files(&plugins), ["trusted-publishers.toml"]);
}

fn sha256_hex(bytes: &[u8]) -> String {
    robota::market::oci::sha256(bytes)
        .trim_start_matches("sha256:")
        .to_owned()
}

const PROBES: &str = r#"
id = "probe-both"
title = "Both majors of the probe, side by side"
[trigger]
event = "deal.created"
[[step]]
id = "one"
uses = "probe@1"
input = { deal_id = "{{ deal.id }}" }
[[step]]
id = "two"
uses = "probe@2"
input = { deal_id = "{{ deal.id }}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_stay_in_their_major_ask_again_for_more_and_majors_live_side_by_side() {
    use robota_plugin_artifacts::{PROBE_V1, PROBE_V1_1, PROBE_V2};
    let reg = registry();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = publisher(work.path(), "acme");
    let plugins = work.path().join("plugins");
    trust(&plugins, "acme", &public);
    let p = plugins.to_str().unwrap();
    let publish = |wasm: &str| publish_to(&reg, &key, wasm);
    publish(PROBE_V1);
    ok(&robota(
        &[
            "plugin",
            "install",
            "probe@1",
            "--registry",
            &reg.url,
            "--plugins",
            p,
            "--yes",
        ],
        "",
    ));
    publish(PROBE_V1_1);
    publish(PROBE_V2);

    // 1.1.0 also wants to write: the upgrade stops and asks; "n" keeps 1.0.0.
    let upgrade = |answer: &str| robota(&["plugin", "upgrade", "probe", "--plugins", p], answer);
    let stopped = refused(&upgrade("n\n"));
    assert!(
        stopped.contains("probe 1.1.0 asks for more than 1.0.0 was granted")
            && stopped.contains("create and change CRM records (crm.write)")
            && stopped.contains("stays at 1.0.0"),
        "{stopped}"
    );
    assert!(plugins.join("probe-1.0.0.wasm").exists());
    let granted = |plugins: &Path| {
        let t: toml::Table =
            toml::from_str(&std::fs::read_to_string(plugins.join("plugins.toml")).unwrap())
                .unwrap();
        t["actions"]["probe"]["grants"].clone()
    };
    assert_eq!(granted(&plugins), toml::Value::from(vec!["crm.read"]));
    // "y": upgraded within major 1, the new capability granted.
    let done = ok(&upgrade("y\n"));
    assert!(done.contains("upgraded probe 1.0.0 → 1.1.0"), "{done}");
    assert!(!plugins.join("probe-1.0.0.wasm").exists());
    assert!(plugins.join("probe-1.1.0.wasm").exists());
    assert_eq!(
        granted(&plugins),
        toml::Value::from(vec!["crm.read", "crm.write"])
    );
    // Never across a major: 2.0.0 is installed beside it, by name.
    let current = ok(&upgrade(""));
    assert!(
        current.contains("probe 1.1.0 is the newest of its major version")
            && current.contains("install probe@2"),
        "{current}"
    );
    ok(&robota(
        &[
            "plugin",
            "install",
            "probe@2",
            "--registry",
            &reg.url,
            "--plugins",
            p,
            "--yes",
        ],
        "",
    ));
    let listed = ok(&robota(&["plugin", "list", "--plugins", p], ""));
    assert!(
        listed.contains("probe\t1.1.0") && listed.contains("probe\t2.0.0"),
        "{listed}"
    );

    // A process uses both majors; each step runs its own.
    let (server, api, db) = serve(work.path(), &plugins, PROBES);
    let deal = api
        .post("/api/v1/deals", &json!({ "title": "Пробы" }))
        .await;
    let timeline = format!(
        "/api/v1/deals/{}/timeline",
        deal.body["id"].as_str().unwrap()
    );
    api.wait_for(&timeline, Duration::from_secs(30), |b| {
        let texts: Vec<&str> = items(b).iter().filter_map(|e| e["text"].as_str()).collect();
        texts.contains(&"probe 1.1.0") && texts.contains(&"probe 2.0.0")
    })
    .await;
    // The run's log names the exact component each step ran.
    let runs = api
        .wait_for(
            "/api/v1/runs?process=probe-both",
            Duration::from_secs(30),
            |b| items(b).first().is_some_and(|r| r["status"] == "completed"),
        )
        .await;
    let run = api
        .get(&format!(
            "/api/v1/runs/{}",
            items(&runs)[0]["id"].as_str().unwrap()
        ))
        .await
        .body;
    let digest_of = |file: &str| {
        let out = ok(&robota(
            &["plugin", "inspect", plugins.join(file).to_str().unwrap()],
            "",
        ));
        serde_json::from_str::<Value>(&out).unwrap()["digest"].clone()
    };
    assert_eq!(
        run["steps"][0]["log"][0]["digest"],
        digest_of("probe-1.1.0.wasm"),
        "{run}"
    );
    assert_eq!(
        run["steps"][1]["log"][0]["digest"],
        digest_of("probe-2.0.0.wasm"),
        "{run}"
    );

    // Not removed while an enabled process uses it; removed once disabled.
    let in_use = refused(&robota(
        &["plugin", "remove", "probe@1", "--plugins", p, "--db", &db],
        "",
    ));
    assert!(
        in_use.contains("used by the enabled process(es) probe-both"),
        "{in_use}"
    );
    assert!(plugins.join("probe-1.1.0.wasm").exists());
    let off = api
        .post("/api/v1/processes/probe-both/disable", &json!({}))
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    drop(server);
    ok(&robota(
        &["plugin", "remove", "probe@1", "--plugins", p, "--db", &db],
        "",
    ));
    assert!(!plugins.join("probe-1.1.0.wasm").exists());
    assert!(plugins.join("probe-2.0.0.wasm").exists());
    let left = ok(&robota(&["plugin", "list", "--plugins", p], ""));
    assert!(
        !left.contains("probe\t1.1.0") && left.contains("probe\t2.0.0"),
        "{left}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_actions_are_published_and_installable_from_a_registry() {
    let reg = registry();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = publisher(work.path(), "robota");
    let out = ok(&robota(
        &[
            "plugin",
            "publish-standard",
            "--registry",
            &reg.url,
            "--key",
            &key,
        ],
        "",
    ));
    let standard = robota_plugin_artifacts::STANDARD;
    assert_eq!(
        out.lines().filter(|l| l.starts_with("published ")).count(),
        standard.len(),
        "{out}"
    );
    // Every one is found (an empty word matches all) …
    let found = ok(&robota(
        &["plugin", "search", "", "--registry", &reg.url],
        "",
    ));
    for (file, _) in standard {
        let id = file.trim_end_matches(".wasm");
        assert!(
            found.lines().any(|l| l.starts_with(&format!("{id}\t"))),
            "{id}: {found}"
        );
    }
    // … and installs, byte-identical to the embedded one.
    let plugins = work.path().join("plugins");
    trust(&plugins, "robota", &public);
    ok(&robota(
        &[
            "plugin",
            "install",
            "send-email@1",
            "--registry",
            &reg.url,
            "--plugins",
            plugins.to_str().unwrap(),
            "--yes",
        ],
        "",
    ));
    let embedded = standard
        .iter()
        .find(|(f, _)| *f == "send-email.wasm")
        .unwrap()
        .1;
    let version = ok(&robota(
        &["plugin", "list", "--plugins", plugins.to_str().unwrap()],
        "",
    ));
    let file = version
        .split('\t')
        .nth(1)
        .map(|v| format!("send-email-{v}.wasm"))
        .unwrap();
    assert_eq!(std::fs::read(plugins.join(file)).unwrap(), embedded);
}

/// Probe twice, an hour apart: long enough to upgrade between the steps.
const PROBE_LATER: &str = r#"
id = "probe-later"
title = "Probe now and in an hour"
[trigger]
event = "deal.created"
[[step]]
id = "now"
uses = "probe@1"
input = { deal_id = "{{ deal.id }}" }
[[step]]
id = "later"
uses = "probe@1"
after = "1h"
input = { deal_id = "{{ deal.id }}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_installs_with_consent_upgrades_without_a_restart_and_runs_keep_their_components() {
    use robota_plugin_artifacts::{PROBE_V1, PROBE_V1_1};
    let reg = registry();
    let site = common::server::Site::new(&[]);
    let (key, public) = publisher(site.dir.path(), "acme");
    let plugins = site.dir.path().join("plugins");
    std::fs::write(
        plugins.join("trusted-publishers.toml"),
        format!("[publishers]\nacme = \"{public}\"\n"),
    )
    .unwrap();
    let publish = |wasm: &str| publish_to(&reg, &key, wasm);
    publish(PROBE_V1);
    let server = site.start(&[]);
    let manager = site.token("manager");
    let admin = Api::new(&server.url, server.token.as_deref());
    let install = |body: Value| {
        let admin = admin.clone();
        async move { admin.post("/api/v1/plugins", &body).await }
    };

    // Only an admin installs.
    let as_manager = Api::new(&server.url, Some(&manager))
        .post(
            "/api/v1/plugins",
            &json!({ "package": "probe@1", "registry": reg.url }),
        )
        .await;
    assert_eq!(as_manager.status, 403, "{}", as_manager.body);
    // Bad requests, an unknown version and a dead registry name what is
    // wrong and install nothing.
    for (body, status, says) in [
        (
            json!({ "package": "probe@banana", "registry": reg.url }),
            422,
            "not a semver range",
        ),
        (
            json!({ "package": "probe@9", "registry": reg.url }),
            422,
            "no version of `probe` matches",
        ),
        (
            json!({ "package": "probe", "registry": "ftp://x" }),
            422,
            "use http:// or https://",
        ),
        (json!({ "package": "probe" }), 422, "registry"),
        (
            json!({ "package": "probe@1", "registry": format!("http://127.0.0.1:{}", free_port()) }),
            502,
            "cannot be reached",
        ),
    ] {
        let a = install(body.clone()).await;
        assert_eq!(a.status, status, "{body}: {}", a.body);
        assert!(
            a.body["detail"].as_str().unwrap().contains(says),
            "{body}: {}",
            a.body
        );
    }
    // Without consent: what it asks for, in words, and nothing written.
    let asks = install(json!({ "package": "probe@1", "registry": reg.url })).await;
    assert_eq!(asks.status, 409, "{}", asks.body);
    assert_eq!(
        asks.body["asks"][0]["capability"], "crm.read",
        "{}",
        asks.body
    );
    assert!(
        asks.body["asks"][0]["in_words"]
            .as_str()
            .unwrap()
            .contains("read CRM records"),
        "{}",
        asks.body
    );
    assert_eq!(asks.body["package"]["publisher"], "acme");
    assert!(!plugins.join("probe-1.0.0.wasm").exists());
    assert!(!plugins.join("plugins.lock").exists());

    // With consent: installed, loaded at once (no restart), recorded with who consented.
    let done = install(json!({
        "package": "probe@1",
        "registry": reg.url,
        "consent": { "capabilities": ["crm.read"] },
    }))
    .await;
    assert_eq!(done.status, 201, "{}", done.body);
    assert_eq!(done.body["version"], "1.0.0");
    let listed = admin.get("/api/v1/plugins").await.body;
    let probe = items(&listed)
        .iter()
        .find(|p| p["uses"] == "probe@1")
        .cloned()
        .unwrap_or_else(|| panic!("probe@1 is loaded: {listed}"));
    assert_eq!(probe["version"], "1.0.0");
    assert_eq!(probe["granted"], json!(["crm.read"]));
    assert_eq!(probe["package"]["publisher"], "acme");
    assert!(
        probe["package"]["consented_by"]
            .as_str()
            .unwrap()
            .ends_with("(API)"),
        "{probe}"
    );
    let old_digest = probe["digest"].clone();
    let put = admin
        .put_bytes(
            "/api/v1/processes/probe-later",
            "application/toml",
            PROBE_LATER.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.body);

    // A run starts on 1.0.0 and waits an hour before its second step.
    let deal = |title: &str| {
        let admin = admin.clone();
        let title = title.to_owned();
        async move {
            admin
                .post("/api/v1/deals", &json!({ "title": title }))
                .await
                .body["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let first = deal("До обновления").await;
    let run_of = |deal: String| {
        let admin = admin.clone();
        async move {
            let runs = admin
                .wait_for(
                    "/api/v1/runs?process=probe-later",
                    Duration::from_secs(30),
                    |b| items(b).iter().any(|r| r["entity"]["id"] == deal.as_str()),
                )
                .await;
            items(&runs)
                .iter()
                .find(|r| r["entity"]["id"] == deal.as_str())
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let first_run = run_of(first.clone()).await;
    let first_path = format!("/api/v1/runs/{first_run}");
    admin
        .wait_for(&first_path, Duration::from_secs(30), |r| {
            r["steps"][0]["status"] == "done"
        })
        .await;

    // 1.1.0 is published; the upgrade asks again for what it adds.
    publish(PROBE_V1_1);
    let asks = admin
        .post("/api/v1/plugins/probe/upgrade", &json!({}))
        .await;
    assert_eq!(asks.status, 409, "{}", asks.body);
    assert_eq!(
        asks.body["asks"][0]["capability"], "crm.write",
        "{}",
        asks.body
    );
    assert_eq!(asks.body["installed"]["version"], "1.0.0");
    assert!(plugins.join("probe-1.0.0.wasm").exists());
    let up = admin
        .post(
            "/api/v1/plugins/probe/upgrade",
            &json!({ "consent": { "capabilities": ["crm.write"] } }),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(
        (up.body["from"].as_str(), up.body["version"].as_str()),
        (Some("1.0.0"), Some("1.1.0"))
    );
    let listed = admin.get("/api/v1/plugins").await.body;
    assert!(
        items(&listed)
            .iter()
            .any(|p| p["uses"] == "probe@1" && p["version"] == "1.1.0"),
        "{listed}"
    );
    assert_eq!(listed["superseded"][0]["version"], "1.0.0", "{listed}");
    let again = admin
        .post("/api/v1/plugins/probe/upgrade", &json!({}))
        .await;
    assert_eq!(again.body["upgraded"], false, "{}", again.body);

    // A run started now runs 1.1.0 at once (it writes a note).
    let second = deal("После обновления").await;
    let second_run = run_of(second.clone()).await;
    admin
        .wait_for(
            &format!("/api/v1/deals/{second}/timeline"),
            Duration::from_secs(30),
            |b| items(b).iter().any(|e| e["text"] == "probe 1.1.0"),
        )
        .await;

    // Across a restart, the first run's second step still runs 1.0.0.
    drop(server);
    let server = site.start(&[]);
    let admin = Api::new(&server.url, Some(&site.token("admin")));
    let moved = admin
        .post("/api/v1/dev/clock", &json!({ "advance": "2h" }))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    for run in [&first_run, &second_run] {
        admin
            .wait_for(
                &format!("/api/v1/runs/{run}"),
                Duration::from_secs(30),
                |r| r["status"] == "completed",
            )
            .await;
    }
    let first_log = admin.get(&first_path).await.body;
    for step in 0..2 {
        assert_eq!(
            first_log["steps"][step]["output"]["version"], "1.0.0",
            "{first_log}"
        );
        assert_eq!(
            first_log["steps"][step]["log"][0]["digest"], old_digest,
            "{first_log}"
        );
    }
    let second_log = admin.get(&format!("/api/v1/runs/{second_run}")).await.body;
    for step in 0..2 {
        assert_eq!(
            second_log["steps"][step]["output"]["version"], "1.1.0",
            "{second_log}"
        );
    }

    // No run keeps 1.0.0 any more: a reload deletes it.
    assert!(plugins.join("superseded/probe-1.0.0.wasm").exists());
    let reloaded = admin.post("/api/v1/plugins/reload", &json!({})).await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert_eq!(reloaded.body["superseded_removed"], 1, "{}", reloaded.body);
    assert!(!plugins.join("superseded/probe-1.0.0.wasm").exists());

    // Removal: refused while the process is on, then done without a restart.
    let in_use = admin.delete("/api/v1/plugins/probe").await;
    assert_eq!(in_use.status, 409, "{}", in_use.body);
    assert_eq!(in_use.body["processes"], json!(["probe-later"]));
    assert!(plugins.join("probe-1.1.0.wasm").exists());
    let off = admin
        .post("/api/v1/processes/probe-later/disable", &json!({}))
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    let gone = admin.delete("/api/v1/plugins/probe").await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert!(!plugins.join("probe-1.1.0.wasm").exists());
    let listed = admin.get("/api/v1/plugins").await.body;
    assert!(
        !items(&listed).iter().any(|p| p["id"] == "probe"),
        "{listed}"
    );
    assert_eq!(admin.delete("/api/v1/plugins/probe").await.status, 404);
}
