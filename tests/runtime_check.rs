//! `cosmospark check` passes on the repository and fails, naming file and field, on every broken
//! manifest under `tests/manifests/<case>/` (each with the message it must print in `expected.txt`).

mod support;

use std::process::Command;

use support::{binary, repo_root};

#[test]
fn check_passes_on_the_repository() {
    let output = Command::new(binary())
        .arg("check")
        .arg("--root")
        .arg(repo_root())
        .output()
        .expect("run check");
    assert!(
        output.status.success(),
        "check failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn check_fails_on_every_broken_manifest_with_the_expected_message() {
    let cases_dir = repo_root().join("tests").join("manifests");
    let mut cases: Vec<_> = std::fs::read_dir(&cases_dir)
        .expect("tests/manifests")
        .filter_map(Result::ok)
        .collect();
    cases.sort_by_key(|entry| entry.file_name());
    assert!(cases.len() >= 10, "expected the broken-manifest cases");
    for case in cases {
        let name = case.file_name().to_string_lossy().into_owned();
        let expected =
            std::fs::read_to_string(case.path().join("expected.txt")).expect("expected.txt");
        let expected = expected.trim();
        let output = Command::new(binary())
            .arg("check")
            .arg("--root")
            .arg(case.path())
            .output()
            .expect("run check");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{name}: check passed but must fail"
        );
        assert!(
            stderr.lines().any(|line| line.starts_with(expected)),
            "{name}: expected a line starting with\n  {expected}\ngot:\n{stderr}"
        );
    }
}
