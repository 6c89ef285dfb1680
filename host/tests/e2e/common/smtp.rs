//! A real SMTP server for end-to-end tests: aiosmtpd from PyPI (installed by
//! scripts/build-example-plugins), on a free loopback port, storing what it
//! receives in a Maildir; and pypdf from the same virtualenv to read the text
//! of PDFs the tests receive.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python with aiosmtpd and pypdf that scripts/build-example-plugins installs.
pub fn python() -> PathBuf {
    std::env::var_os("ROBOTA_TEST_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/py/bin/python"),
        PathBuf::from,
    )
}

/// A loopback port nobody listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("an address")
        .port()
}

/// The `robota serve` flags that deliver mail to a plain SMTP server on
/// loopback `port`, from `from`.
pub fn serve_args(port: u16, from: &str) -> Vec<String> {
    [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port.to_string(),
        "--smtp-security",
        "none",
        "--mail-from",
        from,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// An aiosmtpd server storing what it receives in a Maildir.
pub struct Smtp {
    child: Child,
}

impl Smtp {
    /// Starts one on `port`, delivering into `maildir`.
    pub fn start(port: u16, maildir: &Path) -> Smtp {
        let python = python();
        assert!(
            python.exists(),
            "{} is missing: run scripts/build-example-plugins (or set ROBOTA_TEST_PYTHON to a Python with aiosmtpd)",
            python.display()
        );
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Smtp { child }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The messages in a Maildir's `new` folder, as files.
pub fn received_files(maildir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(maildir.join("new"))
        .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The messages in a Maildir's `new` folder, as text.
pub fn received(maildir: &Path) -> Vec<String> {
    received_files(maildir)
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("a message"))
        .collect()
}

/// Waits until `maildir` holds `n` messages (or `limit` passes).
pub async fn wait_for_mail(maildir: &Path, n: usize, limit: Duration) -> Vec<PathBuf> {
    let start = Instant::now();
    while received_files(maildir).len() < n && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    received_files(maildir)
}

const ATTACHMENTS: &str = r#"
import email, email.policy, io, json, sys
import pypdf
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
out = {"subject": str(msg["subject"]), "to": str(msg["to"]), "text": "", "html": "", "attachments": []}
for part in msg.walk():
    if part.is_multipart():
        continue
    if part.get_filename():
        data = part.get_payload(decode=True)
        entry = {"filename": part.get_filename(), "content_type": part.get_content_type(), "size": len(data)}
        if part.get_content_type() == "application/pdf":
            entry["text"] = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
        out["attachments"].append(entry)
    elif part.get_content_type() == "text/plain":
        out["text"] += part.get_content()
    elif part.get_content_type() == "text/html":
        out["html"] += part.get_content()
print(json.dumps(out))
"#;

/// A received message read by Python's `email`: its subject, recipients,
/// text, and attachments (name, type, size, and the text of a PDF).
pub fn read_message(path: &Path) -> serde_json::Value {
    let out = Command::new(python())
        .args(["-c", ATTACHMENTS])
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "reading the message failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the reader")
}

/// The text of a PDF, extracted by pypdf.
pub fn pdf_text(pdf: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(file.path(), pdf).expect("write the PDF");
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, pypdf; print('\\n'.join(p.extract_text() for p in pypdf.PdfReader(sys.argv[1]).pages))",
        ])
        .arg(file.path())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "pypdf failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 text")
}
