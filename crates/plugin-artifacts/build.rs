//! Builds every guest component of the workspace for `wasm32-wasip2` and writes
//! their paths as constants, so `cargo test` works from a fresh clone (the way
//! wasmtime's test-programs and Spin's test-components do it).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest crates: (package name, constant name, shipped in the binary).
/// The standard actions are embedded so `robota demo` needs nothing else.
const GUESTS: &[(&str, &str, bool)] = &[
    ("hello-rust", "HELLO_RUST", false),
    ("chaos", "CHAOS", false),
    ("probe-v1", "PROBE_V1", false),
    ("probe-v1-1", "PROBE_V1_1", false),
    ("probe-v2", "PROBE_V2", false),
    ("add-note", "ADD_NOTE", true),
    ("create-invoice", "CREATE_INVOICE", true),
    ("create-task", "CREATE_TASK", true),
    ("export-payment-orders", "EXPORT_PAYMENT_ORDERS", true),
    ("import-bank-statement", "IMPORT_BANK_STATEMENT", true),
    ("lookup-company", "LOOKUP_COMPANY", true),
    ("move-stage", "MOVE_STAGE", true),
    ("notify", "NOTIFY", true),
    ("render-invoice-pdf", "RENDER_INVOICE_PDF", true),
    ("send-email", "SEND_EMAIL", true),
    ("send-sms", "SEND_SMS", true),
    ("set-invoice-status", "SET_INVOICE_STATUS", true),
    ("set-status", "SET_STATUS", true),
];

/// The guests' target.
const TARGET: &str = "wasm32-wasip2";

/// Makes sure the toolchain has the guests' target: a fresh machine with
/// only rustup lacks it (rust-toolchain.toml names it, but rustup installs a
/// toolchain file's targets only when it installs the toolchain itself).
/// Installs it with rustup, or stops with one line saying what to run.
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let has_target = |root: &Path| root.join("lib/rustlib").join(TARGET).join("lib").is_dir();
    if sysroot.as_deref().is_some_and(has_target) {
        return;
    }
    println!("cargo:warning=the {TARGET} target is missing: running `rustup target add {TARGET}`");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added || !sysroot.as_deref().is_some_and(has_target) {
        panic!(
            "the Rust target {TARGET} is not installed and could not be installed here: run `rustup target add {TARGET}`, then build again"
        );
    }
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("workspace root exists");
    // A stable folder outside OUT_DIR: debug, release and clippy builds of the
    // host share one guest build instead of compiling the guests three times.
    let target_dir = root.join("target").join("guest");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    ensure_wasm_target();

    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--profile", "guest", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    // The outer build's settings are for the host, not the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cargo runs");
    assert!(
        status.success(),
        "building the guest components failed: {status}"
    );

    let mut out = String::new();
    let mut standard = String::from(
        "/// The standard actions' components, embedded: (file name, bytes).\npub static STANDARD: &[(&str, &[u8])] = &[\n",
    );
    for (package, constant, shipped) in GUESTS {
        let file = target_dir
            .join("wasm32-wasip2/guest")
            .join(format!("{}.wasm", package.replace('-', "_")));
        assert!(file.exists(), "{} was not built", file.display());
        writeln!(
            out,
            "/// The `{package}` component, built for wasm32-wasip2.\npub const {constant}: &str = {:?};",
            file.display().to_string()
        )
        .expect("writing to a String cannot fail");
        if *shipped {
            writeln!(
                standard,
                "    ({:?}, include_bytes!({:?})),",
                format!("{package}.wasm"),
                file.display().to_string()
            )
            .expect("writing to a String cannot fail");
        }
    }
    standard.push_str("];\n");
    out.push_str(&standard);
    let dest = Path::new(&env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("artifacts.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");

    for dir in [
        "sdk",
        "wit",
        "crates/requisites",
        "examples/plugins/hello-rust",
        "tests/plugins/chaos",
        "tests/plugins/probe",
        "tests/plugins/probe-v1",
        "tests/plugins/probe-v1-1",
        "tests/plugins/probe-v2",
        "plugins",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
}
