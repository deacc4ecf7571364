//! Shared harness for the browser tests: the `cosmospark dev` process on a free port with a
//! fresh data directory, npm installs into git-ignored folders, the Debian Chromium, and
//! running a Node scenario whose failure fails the test.

#![allow(dead_code)]

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/browser-artifacts/<name>`, emptied: screenshots and logs of one scenario.
pub fn artifacts(name: &str) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp
        .parent()
        .unwrap_or(&tmp)
        .join("browser-artifacts")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// The Chromium the scenarios drive (`CHROMIUM` or the Debian package's path).
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "Chromium not found at {} — install the Debian packages: apt-get install -y chromium (or set CHROMIUM)",
        path.display()
    );
    path
}

/// Runs `npm install` (no lockfile) in `dir` unless `marker` (a path under node_modules)
/// already exists. Serialised between test binaries with a lock directory.
pub fn npm_install(dir: &Path, marker: &str, extra: &[&str]) {
    if dir.join("node_modules").join(marker).exists() {
        return;
    }
    let lock = dir.join(".npm-install.lock");
    let started = Instant::now();
    while fs::create_dir(&lock).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "another npm install in {} holds {}",
            dir.display(),
            lock.display()
        );
        sleep(Duration::from_millis(200));
    }
    let result = if dir.join("node_modules").join(marker).exists() {
        None
    } else {
        Some(
            Command::new("npm")
                .args(["install", "--no-package-lock", "--no-audit", "--no-fund"])
                .args(extra)
                .current_dir(dir)
                .output(),
        )
    };
    let _ = fs::remove_dir(&lock);
    if let Some(output) = result {
        let output = output.expect("run npm (is Node.js installed?)");
        assert!(
            output.status.success(),
            "npm install in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A child process in its own process group, killed with everything it started when
/// dropped; its output goes to a log file.
pub struct Process {
    child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(mut command: Command, log: PathBuf) -> Self {
        let out = File::create(&log).expect("create the process log");
        let err = out.try_clone().expect("clone the log handle");
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        Self { child, log }
    }

    /// Waits until `port` accepts connections, failing with the log if the process exits.
    pub fn wait_for_port(&mut self, port: u16, limit: Duration) {
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "process exited with {status} before listening:\n{}",
                    self.tail()
                );
            }
            assert!(
                started.elapsed() < limit,
                "nothing listened on port {port} within {limit:?}:\n{}",
                self.tail()
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of the process log.
    pub fn tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The group id is the child's pid (process_group(0)); the SWA CLI, for one, runs its
        // server in a grandchild that killing the child alone would leave behind.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cosmospark dev` on a free port with a fresh data directory.
pub struct Dev {
    pub process: Process,
    pub port: u16,
    data: PathBuf,
}

impl Dev {
    pub fn start(artifacts: &Path) -> Self {
        let port = free_port();
        let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("web-dev-{port}"));
        let _ = fs::remove_dir_all(&data);
        let mut command = Command::new(env!("CARGO_BIN_EXE_cosmospark"));
        command
            .args(["dev", "--port", &port.to_string(), "--data-dir"])
            .arg(&data)
            .current_dir(repo())
            .env("RUST_LOG", "info");
        let mut process = Process::spawn(command, artifacts.join("dev.log"));
        process.wait_for_port(port, Duration::from_secs(120));
        Self {
            process,
            port,
            data,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.data);
    }
}

/// Runs `node <script>` from tests/browser with the scenario's environment; panics with the
/// scenario's output and the server logs when it fails.
pub fn run_scenario(script: &str, base_url: &str, artifacts: &Path, logs: &[&Process]) {
    let dir = repo().join("tests/browser");
    let output: Output = Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("BASE_URL", base_url)
        .env("ARTIFACTS_DIR", artifacts)
        .env("CHROMIUM", chromium())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    fs::write(
        artifacts.join("scenario.log"),
        format!("{stdout}\n{stderr}"),
    )
    .ok();
    if !output.status.success() {
        let servers: Vec<String> = logs
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.log.display(), p.tail()))
            .collect();
        panic!(
            "{script} failed (screenshots in {}):\n{stdout}\n{stderr}\n{}",
            artifacts.display(),
            servers.join("\n")
        );
    }
}
