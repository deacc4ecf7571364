//! The browser map without an Azure Maps key: no file the browser loads carries a key or asks for
//! a `config.json`, and the token module (`web/src/maps-token.js`) fetches, sends and renews the
//! Entra ID token from `GET /api/azMap/token` (under `node --test`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of the site root the browser can load (everything under `web/` that is deployed).
fn site_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_name() == "node_modules" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            site_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_file_the_browser_loads_carries_a_maps_key() {
    let mut files = Vec::new();
    site_files(&repo().join("web"), &mut files);
    assert!(files.iter().any(|f| f.ends_with("assets/app.js")));
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for needle in [
            "subscription-key",
            "subscriptionKey",
            "AzureMaps__Key",
            "/config.json",
        ] {
            assert!(
                !text.contains(needle),
                "{} contains `{needle}`",
                file.display()
            );
        }
    }
    assert!(!repo().join("web/config.json").exists());
}

#[test]
fn the_map_token_is_fetched_sent_and_renewed() {
    let output = Command::new("node")
        .args(["--test", "maps-token.test.mjs"])
        .current_dir(repo().join("tests/browser"))
        .output()
        .expect("run node (is Node.js installed?)");
    assert!(
        output.status.success(),
        "node --test maps-token.test.mjs failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
