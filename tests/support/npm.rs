//! npm installs for the tests that run JavaScript: each folder pins its packages in its
//! `package.json`; installed on first use, without a lockfile, into a git-ignored
//! `node_modules`, serialised between test binaries with a lock directory.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Runs `npm install` (no lockfile) in `dir` unless `marker` (a path under node_modules)
/// already exists. `extra` are more npm arguments (e.g. `--ignore-scripts`).
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
        let output = output.expect("run npm (Node.js 20 and npm are needed for this test)");
        assert!(
            output.status.success(),
            "npm install in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
