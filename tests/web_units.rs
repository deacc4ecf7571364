//! The front end's pure modules under `node --test` (tests/browser/units.test.mjs): the round
//! countdown keeps one timer and clears it, message normalisation, task wording.

use std::path::Path;
use std::process::Command;

#[test]
fn front_end_unit_tests_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let output = Command::new("node")
        .args(["--test", "units.test.mjs"])
        .current_dir(&dir)
        .output()
        .expect("run node (is Node.js installed?)");
    assert!(
        output.status.success(),
        "node --test units.test.mjs failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
