//! Child processes for black-box tests: each runs in its own process group with its output in a
//! log file, and is killed with everything it started when dropped. The `cosmospark` binary is
//! started on port 0 and the address it bound is read back from its banner, so parallel tests
//! never race for a port.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Bounds a start-up wait on this slow, shared machine; a guard against hangs, not a timing.
pub const START: Duration = Duration::from_secs(120);

/// The line `cosmospark dev` prints once it listens: `Ready on http://ADDR (Ctrl-C to stop)`.
pub const DEV_READY: &str = "Ready on http://";
/// The line `cosmospark serve` prints once it listens: `Listening on http://ADDR`.
pub const SERVE_READY: &str = "Listening on http://";

/// The built binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cosmospark"))
}

/// A command running the built binary (quiet logs unless `RUST_LOG` is set by the caller).
pub fn cosmospark() -> Command {
    let mut command = Command::new(binary());
    command.env("RUST_LOG", "warn");
    command
}

/// Runs `cosmospark <args> --data-dir <data>` to the end (a CLI command on a stopped platform's
/// data directory).
pub fn cosmospark_on(data: &Path, args: &[&str]) -> std::process::Output {
    cosmospark()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("cosmospark runs")
}

/// A fresh log file under the target directory: `<target>/test-logs/<name>-<pid>-<n>.log`.
pub fn log_file(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("test-logs");
    fs::create_dir_all(&dir).expect("create the test log directory");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{name}-{}-{n}.log", std::process::id()))
}

/// A child process in its own process group, killed with everything it started when dropped;
/// its output goes to a log file.
pub struct Process {
    child: Child,
    pub log: PathBuf,
}

impl Process {
    /// The process id (the browser scenarios stop and resume the server with it).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(mut command: Command, log: PathBuf) -> Self {
        let out = File::create(&log).expect("create the process log");
        let err = out.try_clone().expect("clone the log handle");
        command.stdout(out).stderr(err);
        Self::start(command, log)
    }

    /// Starts `command`, which prints `marker` followed by the address it bound (`ADDR` up to
    /// the next space); returns once that line appears. Output goes to `log` all along.
    pub fn spawn_listening(mut command: Command, log: PathBuf, marker: &str) -> (Self, SocketAddr) {
        File::create(&log).expect("create the process log");
        // Both the child's stderr and the stdout copier append, so neither overwrites the other.
        let err = OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open the process log");
        command.stdout(Stdio::piped()).stderr(err);
        let copy_to = log.clone();
        let mut process = Self::start(command, log);
        let stdout = process.child.stdout.take().expect("piped stdout");
        let (found, address) = mpsc::channel();
        let prefix = marker.to_owned();
        // Copies stdout to the log for the whole life of the process, so it never blocks on a
        // full pipe, and reports the bound address once.
        std::thread::spawn(move || {
            let mut file = OpenOptions::new().append(true).open(&copy_to).ok();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(file) = file.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
                if let Some(rest) = line.strip_prefix(&prefix) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(addr.trim_end_matches('/').parse::<SocketAddr>());
                }
            }
        });
        match address.recv_timeout(START) {
            Ok(Ok(addr)) => (process, addr),
            Ok(Err(error)) => panic!(
                "unreadable address after `{marker}`: {error}\n{}",
                process.tail()
            ),
            Err(_) => {
                let status = process.child.try_wait().ok().flatten();
                panic!(
                    "no `{marker}` line within {START:?} (exit status: {status:?}):\n{}",
                    process.tail()
                )
            }
        }
    }

    fn start(mut command: Command, log: PathBuf) -> Self {
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        Self { child, log }
    }

    /// Waits until `port` accepts connections, for servers that cannot report the port they
    /// bound; fails with the log if the process exits first.
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

    /// The child's process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.sigterm();
        self.child.wait().expect("wait for the child")
    }

    /// Sends SIGTERM to the child.
    pub fn sigterm(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the child to exit by itself and returns its status.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for the child")
    }

    /// Waits up to `limit` for the child to exit; `None` if it still runs (a hang guard).
    pub fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return Some(status);
            }
            sleep(Duration::from_millis(20));
        }
        None
    }

    /// The whole log so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // The group id is the child's pid (process_group(0)); some tools (the SWA CLI)
            // run their server in a grandchild that killing the child alone would leave.
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `cosmospark serve --port 0` as the Functions host would start it (same environment), with the
/// address it bound.
pub fn spawn_serve(env: &[(&str, &str)]) -> (Process, SocketAddr) {
    let mut command = cosmospark();
    command.args(["serve", "--port", "0"]);
    for (name, value) in env {
        command.env(name, value);
    }
    Process::spawn_listening(command, log_file("serve"), SERVE_READY)
}

/// `cosmospark dev --port 0 <args>` with the address it bound; `log` keeps its output.
pub fn spawn_dev(
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
    log: &Path,
) -> (Process, SocketAddr) {
    let mut command = cosmospark();
    command.args(["dev", "--port", "0"]).args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    Process::spawn_listening(command, log.to_owned(), DEV_READY)
}
