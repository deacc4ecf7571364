//! `cosmospark package`: the zip and the staged folder have the layout the Functions host scans,
//! the executable keeps its exec bit, and nothing is packaged when `check` fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cosmospark");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn package(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["package", "--binary", BIN])
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run cosmospark package")
}

fn function_folders() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("functions"))
        .expect("functions/")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("function.json").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn expected_paths() -> Vec<String> {
    let mut paths = vec!["cosmospark".to_owned(), "host.json".to_owned()];
    paths.extend(
        function_folders()
            .into_iter()
            .map(|name| format!("{name}/function.json")),
    );
    paths.sort();
    paths
}

fn zip_entries(path: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).expect("open zip");
    let mut archive = zip::ZipArchive::new(file).expect("read zip");
    let mut entries = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("zip entry");
        let mode = entry.unix_mode().expect("unix mode recorded") & 0o777;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("entry bytes");
        let name = entry.name().expect("entry name").into_owned();
        entries.insert(name, (mode, bytes));
    }
    entries
}

#[test]
fn zip_has_host_layout_and_executable_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("app.zip");
    let result = package(&["--out", out.to_str().expect("utf-8 path")]);
    assert!(
        result.status.success(),
        "package failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let entries = zip_entries(&out);
    let names: Vec<String> = entries.keys().cloned().collect();
    assert_eq!(names, expected_paths());
    assert!(!names.iter().any(|name| name.starts_with("functions/")));
    assert_eq!(entries["cosmospark"].0, 0o755);
    assert_eq!(entries["host.json"].0, 0o644);
    assert_eq!(
        entries["cosmospark"].1,
        std::fs::read(BIN).expect("binary bytes")
    );
    for name in function_folders() {
        let packaged = &entries[&format!("{name}/function.json")].1;
        let source = std::fs::read(repo().join("functions").join(&name).join("function.json"))
            .expect("function.json");
        assert_eq!(packaged, &source, "{name}/function.json differs");
    }
}

#[test]
fn staged_folder_is_a_script_root() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let staged = dir.path().join("stage");
    std::fs::create_dir_all(staged.join("stale")).expect("stale folder");
    let result = package(&["--dir", staged.to_str().expect("utf-8 path")]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        !staged.join("stale").exists(),
        "the folder is emptied first"
    );
    let mode = std::fs::metadata(staged.join("cosmospark"))
        .expect("executable")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(staged.join("host.json").is_file());
    for name in function_folders() {
        assert!(staged.join(&name).join("function.json").is_file(), "{name}");
    }
}

#[test]
fn nothing_is_packaged_when_check_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("app.zip");
    let broken = repo().join("tests/manifests/folder-without-handler");
    let result = package(&[
        "--root",
        broken.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("not packaging"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn missing_binary_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("app.zip");
    let result = Command::new(BIN)
        .args(["package", "--binary", "no/such/cosmospark", "--out"])
        .arg(&out)
        .current_dir(repo())
        .output()
        .expect("run package");
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("no/such/cosmospark"), "{stderr}");
    assert!(!out.exists());
}
