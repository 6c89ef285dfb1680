//! A throwaway PostgreSQL server for tests, from the machine's own
//! PostgreSQL (Debian's `postgresql` package): `initdb` into a temporary
//! folder, `postgres` on a free loopback port with no Unix socket, trust
//! authentication for the one user `robota`, and no fsync (a test's data
//! need not survive a crash). Dropping the server stops it (fast shutdown,
//! then SIGKILL) and deletes its folder, so no server outlives its test.
//!
//! PostgreSQL refuses to run as root: as root, the folder is given to
//! `nobody` and the server programs run as `nobody` through `setpriv`.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user every test server has (a superuser, trusted on loopback).
pub const USER: &str = "robota";

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running PostgreSQL server of one test.
pub struct TestPostgres {
    child: Option<Child>,
    port: u16,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    // Last, so the folder goes after the server has stopped.
    dir: tempfile::TempDir,
}

/// Why a server could not be started.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

fn fail(what: impl std::fmt::Display) -> StartError {
    StartError(what.to_string())
}

impl TestPostgres {
    /// Starts a fresh server and waits until it accepts connections.
    pub fn start() -> Result<TestPostgres, StartError> {
        let bin = bindir()?;
        let dir = tempfile::Builder::new()
            .prefix("robota-pg-")
            .tempdir()
            .map_err(|e| fail(format!("cannot make a folder for PostgreSQL: {e}")))?;
        let run_as = if is_root()? { Some(nobody()?) } else { None };
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| fail(format!("cannot give the folder to nobody: {e}")))?;
        }
        let data = dir.path().join("data");
        let init = command(&bin, "initdb", run_as)
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"])
            .args(["--locale=C", "--no-instructions"])
            .output()
            .map_err(|e| fail(format!("cannot run initdb: {e}")))?;
        if !init.status.success() {
            return Err(fail(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&init.stderr)
            )));
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("server.log"))
            .map_err(|e| fail(format!("cannot create the server log: {e}")))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path().join("server.log"), Some(uid), Some(gid))
                .map_err(|e| fail(format!("cannot give the log to nobody: {e}")))?;
        }
        let err = log
            .try_clone()
            .map_err(|e| fail(format!("cannot share the server log: {e}")))?;
        let child = command(&bin, "postgres", run_as)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| fail(format!("cannot start postgres: {e}")))?;
        let mut server = TestPostgres {
            child: Some(child),
            port,
            bin,
            run_as,
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on it.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` (letters, digits and `_` only) and returns
    /// its URL.
    pub fn create_database(&self, name: &str) -> Result<String, StartError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(fail(format!("`{name}` is not a plain database name")));
        }
        let out = command(&self.bin, "createdb", None)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .arg(name)
            .output()
            .map_err(|e| fail(format!("cannot run createdb: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "createdb {name} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(self.url(name))
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits until a startup packet gets an answer that is not "starting up".
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let started = Instant::now();
        loop {
            if !self.is_running() {
                return Err(fail(format!(
                    "postgres exited while starting: {}",
                    self.log()
                )));
            }
            if accepts(self.port) {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(fail(format!(
                    "postgres did not accept connections within {START_TIMEOUT:?}: {}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: a fast shutdown (SIGINT), SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        // The server may run as nobody: `kill` as ourselves (root may
        // signal it) rather than through the Child handle's SIGKILL only.
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The process id of the server (the postmaster).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Whether the server programs run as `nobody` (the caller is root).
    pub fn runs_as_nobody(&self) -> bool {
        self.run_as.is_some()
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a startup packet to `port` gets an authentication answer (`R`)
/// rather than an error (`E`, such as "the database system is starting up").
fn accepts(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut body = Vec::new();
    body.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
    for (k, v) in [("user", USER), ("database", "postgres")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let len = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    let mut packet = len.to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    if s.write_all(&packet).is_err() {
        return false;
    }
    let mut tag = [0_u8; 1];
    matches!(s.read_exact(&mut tag), Ok(())) && tag[0] == b'R'
}

/// The folder of the server programs: `ROBOTA_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout), else `PATH`.
fn bindir() -> Result<PathBuf, StartError> {
    if let Some(dir) = std::env::var_os("ROBOTA_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").exists());
    found.ok_or_else(|| {
        fail(
            "PostgreSQL's server programs (initdb, postgres) are not installed: \
             `apt-get install postgresql` (or set ROBOTA_PG_BIN to their folder)",
        )
    })
}

fn command(bin: &Path, program: &str, run_as: Option<(u32, u32)>) -> Command {
    match run_as {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(bin.join(program));
            c
        }
        None => Command::new(bin.join(program)),
    }
}

fn is_root() -> Result<bool, StartError> {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .map_err(|e| fail(format!("cannot tell who runs the test: {e}")))
}

/// The ids of `nobody` (from /etc/passwd; 65534 by default).
fn nobody() -> Result<(u32, u32), StartError> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
        });
    Ok(ids.unwrap_or((65534, 65534)))
}

/// A port free on loopback now (the OS picks it).
fn free_port() -> Result<u16, StartError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| fail(format!("no free port on loopback: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_takes_a_database_and_is_gone_when_dropped() {
        let mut pg = TestPostgres::start().unwrap();
        assert!(pg.is_running());
        let url = pg.create_database("first").unwrap();
        assert_eq!(
            url,
            format!("postgres://robota@127.0.0.1:{}/first", pg.port())
        );
        assert!(pg.create_database("no; drop").is_err(), "names are plain");
        assert!(accepts(pg.port()));
        let (pid, data, port) = (pg.pid().unwrap(), pg.data_dir(), pg.port());
        drop(pg);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the server process is gone"
        );
        assert!(!data.exists(), "its folder is gone");
        assert!(!accepts(port));
    }
}
