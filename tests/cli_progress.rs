//! `seed`, `rebuild` and `package` report progress: with stderr not a terminal (as here), plain
//! lines at every tenth of the work and a `done` line on stderr, then the summary on stdout.

mod support;

use std::process::Output;

use support::{binary, cosmospark, repo};

fn run(args: &[&str]) -> (String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cosmospark().args(args).output().expect("run cosmospark");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert!(status.success(), "{args:?}: {status}\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn seed_and_rebuild_print_progress_lines_then_a_summary() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path().to_str().expect("utf-8 path");
    let (stdout, stderr) = run(&["seed", "--users", "25", "--data-dir", dir]);
    assert_eq!(
        lines_starting(&stderr, "seed: "),
        vec![
            "seed: 3/25 (12%)",
            "seed: 6/25 (24%)",
            "seed: 9/25 (36%)",
            "seed: 12/25 (48%)",
            "seed: 15/25 (60%)",
            "seed: 18/25 (72%)",
            "seed: 21/25 (84%)",
            "seed: 24/25 (96%)",
            "seed: done (25 steps)",
        ],
        "{stderr}"
    );
    assert!(!stderr.contains('\r'), "no redraws on a pipe: {stderr:?}");
    assert_eq!(stdout.trim(), "seed: wrote 25 users");

    let (stdout, stderr) = run(&["rebuild", "stats", "--data-dir", dir]);
    // `rebuilt stats: generation G, N source documents, ...`: one step per source document.
    let documents = stdout
        .split(", ")
        .find_map(|part| part.strip_suffix(" source documents"))
        .expect("the summary counts the source documents");
    assert!(stdout.starts_with("rebuilt stats: generation"), "{stdout}");
    let progress = lines_starting(&stderr, "rebuild stats: ");
    assert_eq!(
        progress.last().copied(),
        Some(format!("rebuild stats: done ({documents} steps)").as_str()),
        "{stderr}"
    );
    assert!(documents.parse::<u64>().expect("a count") >= 25, "{stdout}");
    assert!(progress.len() >= 2, "lines along the way: {stderr}");
}

#[test]
fn package_prints_progress_then_a_summary() {
    let out = tempfile::tempdir().expect("out dir");
    let staged = out.path().join("staged");
    let binary = binary();
    let root = repo();
    let (stdout, stderr) = run(&[
        "package",
        "--dir",
        staged.to_str().expect("utf-8 path"),
        "--binary",
        binary.to_str().expect("utf-8 path"),
        "--root",
        root.to_str().expect("utf-8 path"),
    ]);
    let files = std::fs::read_dir(repo().join("functions"))
        .expect("functions")
        .count()
        + 2;
    assert_eq!(
        lines_starting(&stderr, "package: ").last().copied(),
        Some(format!("package: done ({files} steps)").as_str()),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("package: {files} files staged in")),
        "{stdout}"
    );
}
