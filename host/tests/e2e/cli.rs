//! The `robota` binary end to end: `plugin call`, `plugin inspect`, `migrate`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use robota_plugin_artifacts::{CHAOS, HELLO_RUST};
use serde_json::{Value, json};
use std::process::{Command, Output};

fn robota(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_robota"))
        .args(args)
        .env(
            "ROBOTA_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
        )
        .env_remove("ROBOTA_DB")
        .output()
        .expect("the robota binary runs")
}

/// Runs a call that must succeed and returns its JSON output.
fn call_ok(args: &[&str]) -> Value {
    let out = robota(args);
    assert!(
        out.status.success(),
        "robota {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Runs a call that must fail and returns its one-line error.
fn call_err(args: &[&str]) -> String {
    let out = robota(args);
    assert!(
        !out.status.success(),
        "robota {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "a failed call printed output");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(
        stderr.lines().count(),
        1,
        "the error is not one line: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

#[test]
fn plugin_call_prints_the_output() {
    let out = call_ok(&[
        "plugin",
        "call",
        CHAOS,
        "--input",
        r#"{"do":"echo","value":{"n":1}}"#,
    ]);
    assert_eq!(out["value"], json!({"n": 1}));
    assert_eq!(out["attempt"], 1);
    let out = call_ok(&[
        "plugin",
        "call",
        CHAOS,
        "--input",
        r#"{"do":"config","key":"due_days"}"#,
        "--config",
        "due_days=7",
    ]);
    assert_eq!(out["value"], "7");
}

#[test]
fn plugin_call_failures_name_their_cause_in_one_line() {
    let e = call_err(&[
        "plugin",
        "call",
        CHAOS,
        "--input",
        r#"{"do":"loop"}"#,
        "--deadline",
        "300ms",
    ]);
    assert!(e.contains("deadline exceeded"), "{e}");
    let e = call_err(&[
        "plugin",
        "call",
        CHAOS,
        "--input",
        r#"{"do":"grow"}"#,
        "--memory",
        "16MiB",
    ]);
    assert!(e.contains("memory limit exceeded"), "{e}");
    let e = call_err(&[
        "plugin",
        "call",
        CHAOS,
        "--input",
        r#"{"do":"panic","message":"template missing"}"#,
    ]);
    assert!(
        e.contains("panicked at") && e.contains("template missing"),
        "{e}"
    );
    let e = call_err(&[
        "plugin",
        "call",
        CHAOS,
        "--input",
        r#"{"do":"create","kind":"lead","fields":{"title":"x"}}"#,
        "--grant",
        "crm.read",
    ]);
    assert!(e.contains("denied") && e.contains("crm.write"), "{e}");
    let e = call_err(&["plugin", "call", CHAOS, "--input", r#"{"do":"nonsense"}"#]);
    assert!(e.contains("invalid-input"), "{e}");
}

#[test]
fn bad_flags_are_refused_before_anything_runs() {
    let e = call_err(&["plugin", "call", CHAOS, "--input", "{nope"]);
    assert!(e.contains("--input is not JSON"), "{e}");
    let e = call_err(&["plugin", "call", CHAOS, "--grant", "crm.delete"]);
    assert!(e.contains("unknown capability `crm.delete`"), "{e}");
    let e = call_err(&["plugin", "call", CHAOS, "--grant", "http.fetch"]);
    assert!(e.contains("allow-list"), "{e}");
    let e = call_err(&["plugin", "call", CHAOS, "--config", "novalue"]);
    assert!(e.contains("KEY=VALUE"), "{e}");
    let e = call_err(&["plugin", "call", CHAOS, "--deadline", "soon"]);
    assert!(e.contains("--deadline"), "{e}");
    let e = call_err(&["plugin", "call", "/no/such/plugin.wasm"]);
    assert!(e.contains("/no/such/plugin.wasm"), "{e}");
    let e = call_err(&["plugin", "call", CHAOS, "--db", "mysql://localhost/x"]);
    assert!(e.contains("unsupported database URL"), "{e}");
    let e = call_err(&[
        "plugin",
        "call",
        CHAOS,
        "--db",
        "postgres://robota@127.0.0.1:1/x",
    ]);
    assert!(
        e.contains("cannot connect to `postgres://robota@127.0.0.1:1/x`"),
        "{e}"
    );
}

#[test]
fn writes_persist_in_the_given_database_and_bad_ones_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("crm.db").display());
    let company = r#"{"do":"create","kind":"company","fields":{"kind":"organisation","short_name":"ООО «Вектор»","inn":"7707083893"}}"#;
    let rw = ["--grant", "crm.read", "--grant", "crm.write", "--db", &db];
    let created = call_ok(&[&["plugin", "call", CHAOS, "--input", company], &rw[..]].concat());
    let id = created["id"].as_str().unwrap();
    let get = format!(r#"{{"do":"get","kind":"company","id":"{id}"}}"#);
    let back = call_ok(&[&["plugin", "call", CHAOS, "--input", &get], &rw[..]].concat());
    assert_eq!(back["short_name"], "ООО «Вектор»");

    let bad = r#"{"do":"create","kind":"company","fields":{"kind":"organisation","short_name":"ООО «Сбой»","inn":"7707083894"}}"#;
    let e = call_err(&[&["plugin", "call", CHAOS, "--input", bad], &rw[..]].concat());
    assert!(e.contains("company.inn"), "{e}");
    let all = call_ok(
        &[
            &[
                "plugin",
                "call",
                CHAOS,
                "--input",
                r#"{"do":"query","kind":"company","field":"kind","value":"organisation"}"#,
            ],
            &rw[..],
        ]
        .concat(),
    );
    assert_eq!(all["rows"].as_array().unwrap().len(), 1, "{all}");
}

#[test]
fn plugin_inspect_prints_the_manifest() {
    let out = call_ok(&["plugin", "inspect", CHAOS]);
    assert_eq!(out["id"], "chaos");
    assert_eq!(out["version"], "0.1.0");
    assert_eq!(out["http_hosts"], json!(["127.0.0.1", "localhost"]));
    assert!(
        out["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("crm.write"))
    );
    assert_eq!(out["digest"].as_str().unwrap().len(), 64);
    let out = call_ok(&["plugin", "inspect", HELLO_RUST]);
    assert_eq!(out["id"], "hello-rust");
    assert!(
        out["input_schema"]["properties"]["name"].is_object(),
        "{out}"
    );
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("new.db").display());
    for _ in 0..2 {
        let out = robota(&["migrate", "--db", &db]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("new.db").exists());
}

#[test]
fn process_validate_names_the_place_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "id = \"good\"\n[trigger]\nevent = \"deal.created\"\n[[step]]\nid = \"t\"\nuses = \"create-task@1\"\ninput = { title = \"{{ deal.title }}\" }\n",
    )
    .unwrap();
    let out = robota(&["process", "validate", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("good.toml: ok"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "id = \"bad\"\n[trigger]\nevent = \"deal.created\"\n[[step]]\nid = \"t\"\nuses = \"create-task@9\"\ninput = { title = \"{{ deal.titel }}\" }\n\
         [[step]]\nid = \"m\"\nuses = \"move-stage@1\"\n[step.input]\ndeal_id = \"{{ deal.id }}\"\nstage = 7\nentity = { kind = \"deal\" }\n",
    )
    .unwrap();
    let out = robota(&[
        "process",
        "validate",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let bad_name = bad.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{bad_name}:6:8: step `t`: unknown action `create-task@9`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{bad_name}:7:19: step `t`: input `title`: `deal.titel`: a deal has no field `titel`"
        )),
        "{stderr}"
    );
    // The input is checked against the action's input schema, each
    // problem on its own line: a wrong type, a key the action does not take.
    assert!(
        stderr.contains(&format!(
            "{bad_name}:13:9: step `m`: input `stage`: 7 is not of type \"string\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{bad_name}:14:1: step `m`: input `entity`: not an input of `move-stage@1`"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 2 file(s) have errors"), "{stderr}");
}

#[test]
fn the_example_processes_validate_against_the_standard_actions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/processes");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let mut args = vec!["process", "validate"];
    args.extend(files.iter().map(String::as_str));
    let out = robota(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches(": ok (")
            .count(),
        files.len()
    );
}

#[test]
fn commands_that_read_a_database_refuse_a_missing_one_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("robota.db");
    let url = format!("sqlite://{}", missing.display());
    for args in [
        vec!["run", "list", "--db", &url],
        vec!["run", "show", "some-run", "--db", &url],
        vec!["process", "list", "--db", &url],
        vec!["token", "create", "--role", "admin", "--db", &url],
    ] {
        let e = call_err(&args);
        assert!(
            e.contains(&format!("no database at `{}`", missing.display())),
            "{args:?}: {e}"
        );
        assert!(!missing.exists(), "{args:?} created the database");
    }
    // After `migrate` made it, the same command reads it.
    assert!(robota(&["migrate", "--db", &url]).status.success());
    let out = robota(&["run", "list", "--db", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_users_token_takes_their_role_and_bad_users_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    assert!(robota(&["migrate", "--db", &db]).status.success());
    let made = robota(&[
        "user",
        "create",
        "--email",
        "ivan@x.example",
        "--name",
        "Иван",
        "--role",
        "manager",
        "--db",
        &db,
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let id = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    // A manager's token that said admin would hand them everything.
    let escalated = robota(&[
        "token", "create", "--role", "admin", "--user", &id, "--db", &db,
    ]);
    assert!(!escalated.status.success());
    let why = String::from_utf8_lossy(&escalated.stderr);
    assert!(
        why.contains("is manager: their token's role must be manager, not admin"),
        "{why}"
    );
    assert!(
        robota(&[
            "token", "create", "--role", "manager", "--user", &id, "--db", &db
        ])
        .status
        .success()
    );
    for (args, what) in [
        (
            vec![
                "--email",
                "ivan@x.example",
                "--name",
                "Двойник",
                "--role",
                "manager",
            ],
            "ivan@x.example",
        ),
        (
            vec![
                "--email",
                "olga@x.example",
                "--name",
                "Ольга",
                "--role",
                "boss",
            ],
            "boss",
        ),
        (
            vec![
                "--email",
                "not-an-email",
                "--name",
                "Кто",
                "--role",
                "manager",
            ],
            "email",
        ),
    ] {
        let mut all = vec!["user", "create"];
        all.extend(args);
        all.extend(["--db", &db]);
        let out = robota(&all);
        assert!(!out.status.success(), "{all:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{all:?}: {err}");
    }
    let nobody = robota(&[
        "token", "create", "--role", "manager", "--user", "nobody", "--db", &db,
    ]);
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user `nobody`"));
}

#[test]
fn migrate_prepares_a_postgresql_database_that_the_other_commands_then_use() {
    let pg = robota_test_postgres::TestPostgres::start().unwrap();
    let url = pg.create_database("robota").unwrap();
    for _ in 0..2 {
        let out = robota(&["migrate", "--db", &url]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("migrated {url}")
        );
    }
    // The schema is there: psql reads the seeded pipeline.
    let psql = Command::new("psql")
        .args([&url, "-tAc", "SELECT code FROM pipelines"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&psql.stdout).trim(), "sales");
    // The other commands use it: a token made there, no runs yet.
    let token = robota(&["token", "create", "--role", "admin", "--db", &url]);
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let psql = Command::new("psql")
        .args([&url, "-tAc", "SELECT role FROM api_tokens"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&psql.stdout).trim(), "admin");
    let runs = robota(&["run", "list", "--db", &url]);
    assert!(
        runs.status.success(),
        "{}",
        String::from_utf8_lossy(&runs.stderr)
    );
    // The bench runs on it only when it is empty, and several nodes only
    // on a shared database.
    let psql = Command::new("psql")
        .args([
            &url,
            "-tAc",
            "INSERT INTO tasks (id, title, status, created_at, updated_at) VALUES ('t1', 'x', 'open', now(), now())",
        ])
        .output()
        .unwrap();
    assert!(
        psql.status.success(),
        "{}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let e = call_err(&["bench", "--db", &url, "--runs", "10", "--latency-runs", "1"]);
    assert!(e.contains("the bench needs an empty database"), "{e}");
    assert!(e.contains("1 tasks"), "{e}");
    let e = call_err(&["bench", "--nodes", "2"]);
    assert!(
        e.contains("several nodes share a PostgreSQL database"),
        "{e}"
    );
    let e = call_err(&["bench", "--nodes", "0"]);
    assert!(e.contains("--nodes must be at least 1"), "{e}");
    // A server that is not there is named without the password.
    let secret = "postgres://robota:hunter2@127.0.0.1:1/robota";
    let e = call_err(&["run", "list", "--db", secret]);
    assert!(
        e.contains("postgres://robota:***@127.0.0.1:1/robota"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let e = call_err(&["migrate", "--db", "mysql://x/y"]);
    assert!(
        e.contains("give sqlite://FILE or postgres://USER@HOST/DB"),
        "{e}"
    );
    // A server that is not there: the error names it.
    let e = call_err(&["migrate", "--db", "postgres://robota@127.0.0.1:1/none"]);
    assert!(
        e.contains("cannot connect to `postgres://robota@127.0.0.1:1/none`"),
        "{e}"
    );
}
