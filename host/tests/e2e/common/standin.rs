//! The stand-in services of `scripts/` (the company registry, the SMS
//! gateway; the ones README's walk uses) as real HTTP servers on free
//! loopback ports.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running stand-in.
pub struct StandIn {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl StandIn {
    /// Starts `scripts/<script>` accepting API key `key`.
    pub fn start(script: &str, key: &str) -> StandIn {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts")
            .join(script);
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--key", key])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the stand-in");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the stand-in prints its address");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        StandIn { child, url }
    }

    /// The stand-in company registry.
    pub fn registry(key: &str) -> StandIn {
        StandIn::start("registry-standin.py", key)
    }

    /// The stand-in SMS gateway.
    pub fn sms(key: &str) -> StandIn {
        StandIn::start("sms-standin.py", key)
    }

    /// plugins.toml lines granting `lookup-company` this registry with `key`.
    pub fn registry_grants(&self, key: &str) -> String {
        robota::cli::demo::registry_grants(&self.url, key).expect("valid grants")
    }

    /// plugins.toml lines granting `send-sms` this gateway with `key`.
    pub fn sms_grants(&self, key: &str) -> String {
        robota::cli::demo::sms_grants(&self.url, key).expect("valid grants")
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
