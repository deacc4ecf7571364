//! `cosmospark check` and `cosmospark dev` read the manifest through one parser and give the same
//! verdict with the same messages.
//!
//! Each case under `tests/manifests/<case>/` is an overlay on the repository's app root: its
//! `host.json` and `functions/<Name>/function.json` replace the repository's, and `remove.txt`
//! lists function folders to drop. `expected.txt` holds every line `check` must print, exactly:
//! problems as `file: `field`: message`, warnings prefixed with `warning: `. `dev` must refuse
//! before serving, printing the same problems, or (when `check` has only warnings) start and
//! log the same warnings. One difference is deliberate: a function folder without a handler is
//! a `check` failure but only a `dev` warning, because the Functions host runs such a folder
//! too (every invocation fails), and the local platform's dead-letter tests rely on that.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{binary, repo_root};

/// Guards against a hung process only; never a performance assertion.
const HANG: Duration = Duration::from_secs(60);
const WARNING: &str = "warning: ";
const UNHANDLED: &str = "no handler is registered for function";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from)
        .expect("read dir")
        .map(Result::unwrap)
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The repository's app root with `case` laid over it.
fn compose(case: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    let repo = repo_root();
    std::fs::copy(repo.join("host.json"), root.path().join("host.json")).expect("host.json");
    copy_dir(&repo.join("functions"), &root.path().join("functions"));
    std::fs::create_dir_all(root.path().join("infra")).expect("infra");
    for list in ["cosmos-containers.json", "eventgrid-subscriptions.json"] {
        std::fs::copy(
            repo.join("infra").join(list),
            root.path().join("infra").join(list),
        )
        .expect("infra list");
    }
    if let Ok(remove) = std::fs::read_to_string(case.join("remove.txt")) {
        for name in remove.lines().filter(|line| !line.trim().is_empty()) {
            std::fs::remove_dir_all(root.path().join("functions").join(name.trim()))
                .expect("remove function folder");
        }
    }
    if case.join("host.json").is_file() {
        std::fs::copy(case.join("host.json"), root.path().join("host.json")).expect("host.json");
    }
    if case.join("functions").is_dir() {
        copy_dir(&case.join("functions"), &root.path().join("functions"));
    }
    root
}

/// `check`'s verdict and every line it printed to stderr except its summary.
fn run_check(root: &Path) -> (bool, Vec<String>) {
    let output = Command::new(binary())
        .arg("check")
        .arg("--root")
        .arg(root)
        .output()
        .expect("run check");
    let lines = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| !line.starts_with("check: "))
        .map(str::to_owned)
        .collect();
    (output.status.success(), lines)
}

/// `line` without terminal colour sequences (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What `dev` did with the manifest.
struct DevOutcome {
    refused: bool,
    stderr: String,
    served: bool,
}

/// Starts `dev` on `root`; returns when it exits, or once every line of `wait_for` appeared in
/// its output (then it is killed).
fn run_dev(root: &Path, wait_for: &[String]) -> DevOutcome {
    let data = tempfile::tempdir().expect("data dir");
    let mut child = Command::new(binary())
        .args(["dev", "--port", "0", "--root"])
        .arg(root)
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dev");
    let (sender, lines) = mpsc::channel::<(bool, String)>();
    for (is_stdout, stream) in [
        (
            true,
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        ),
        (false, Box::new(child.stderr.take().expect("stderr"))),
    ] {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if sender.send((is_stdout, line)).is_err() {
                    break;
                }
            }
        });
    }
    drop(sender);
    let started = Instant::now();
    let (mut stderr, mut served) = (String::new(), false);
    let seen_all = |stderr: &str| wait_for.iter().all(|line| stderr.contains(line.as_str()));
    let exited = loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok((true, line)) => served |= line.contains("local platform"),
            Ok((false, line)) => {
                stderr.push_str(&strip_ansi(&line));
                stderr.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break true,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if served && seen_all(&stderr) {
            break false;
        }
        assert!(
            started.elapsed() < HANG,
            "dev hung; stderr so far:\n{stderr}"
        );
    };
    let refused = if exited {
        !child.wait().expect("dev status").success()
    } else {
        let _ = child.kill();
        let _ = child.wait();
        false
    };
    DevOutcome {
        refused,
        stderr,
        served,
    }
}

#[test]
fn check_passes_on_the_repository() {
    let (passed, lines) = run_check(&repo_root());
    assert!(passed, "check failed:\n{}", lines.join("\n"));
    assert!(lines.is_empty(), "check warned:\n{}", lines.join("\n"));
}

#[test]
fn check_and_dev_give_the_same_verdict_and_message_for_every_case() {
    let cases_dir = repo_root().join("tests").join("manifests");
    let mut cases: Vec<_> = std::fs::read_dir(&cases_dir)
        .expect("tests/manifests")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "expected the manifest cases");
    for case in cases {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let expected: Vec<String> = std::fs::read_to_string(case.join("expected.txt"))
            .unwrap_or_else(|e| panic!("{name}/expected.txt: {e}"))
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(str::to_owned)
            .collect();
        assert!(!expected.is_empty(), "{name}: expected.txt is empty");
        let root = compose(&case);
        let (passed, lines) = run_check(root.path());
        assert_eq!(lines, expected, "{name}: check printed something else");
        let errors: Vec<String> = expected
            .iter()
            .filter(|line| !line.starts_with(WARNING))
            .cloned()
            .collect();
        let warnings: Vec<String> = expected
            .iter()
            .filter_map(|line| line.strip_prefix(WARNING))
            .map(str::to_owned)
            .collect();
        assert_eq!(passed, errors.is_empty(), "{name}: check's exit status");
        let dev_refuses: Vec<String> = errors
            .iter()
            .filter(|line| !line.contains(UNHANDLED))
            .cloned()
            .collect();
        let dev_warns: Vec<String> = errors
            .iter()
            .filter(|line| line.contains(UNHANDLED))
            .cloned()
            .chain(warnings)
            .collect();
        if dev_refuses.is_empty() {
            let dev = run_dev(root.path(), &dev_warns);
            assert!(
                dev.served && !dev.refused,
                "{name}: dev must start; stderr:\n{}",
                dev.stderr
            );
            for line in &dev_warns {
                assert!(
                    dev.stderr
                        .lines()
                        .any(|l| l.contains(" WARN ") && l.ends_with(line.as_str())),
                    "{name}: dev did not warn\n  {line}\nstderr:\n{}",
                    dev.stderr
                );
            }
        } else {
            let dev = run_dev(root.path(), &[]);
            assert!(
                dev.refused && !dev.served,
                "{name}: dev must refuse before serving; stderr:\n{}",
                dev.stderr
            );
            for line in &dev_refuses {
                assert!(
                    dev.stderr.lines().any(|l| l == line),
                    "{name}: dev did not print\n  {line}\nstderr:\n{}",
                    dev.stderr
                );
            }
        }
    }
}
