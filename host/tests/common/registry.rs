//! The stand-in company registry (`scripts/registry-standin.py`, the one
//! README's walk uses) as a real HTTP server on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running stand-in registry.
pub struct Registry {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl Registry {
    /// Starts the stand-in, accepting API key `key`.
    pub fn start(key: &str) -> Registry {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/registry-standin.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--key", key])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the stand-in registry");
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
        Registry { child, url }
    }

    /// plugins.toml lines granting `lookup-company` this registry with `key`.
    pub fn grants(&self, key: &str) -> String {
        robota::cli::demo::registry_grants(&self.url, key).expect("valid grants")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
