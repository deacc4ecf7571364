//! The Static Web App's files: the committed bundle is exactly what its sources build to, the
//! page loads only its own code, sources never write HTML from strings, and
//! staticwebapp.config.json protects the API.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_file() {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            out.insert(name, fs::read(&path).expect("read file"));
        }
    }
    out
}

#[test]
fn committed_bundle_matches_its_sources() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-bundle");
    let _ = fs::remove_dir_all(&out);
    let build = Command::new("sh")
        .arg(web().join("build.sh"))
        .arg(&out)
        .output()
        .expect("run web/build.sh (needs sh, Node.js and npm)");
    assert!(
        build.status.success(),
        "web/build.sh failed:\n{}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    let built = files(&out);
    let committed = files(&web().join("assets"));
    assert_eq!(
        built.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "web/assets/ holds different files than web/build.sh produces"
    );
    for (name, bytes) in &built {
        assert!(
            committed[name] == *bytes,
            "web/assets/{name} is stale: run web/build.sh and commit the result"
        );
    }
}

#[test]
fn page_loads_only_its_own_code() {
    let html = fs::read_to_string(web().join("index.html")).expect("read web/index.html");
    for external in ["http://", "https://", "//cdn", "//ajax"] {
        assert!(
            !html.contains(external),
            "index.html refers to {external}…; vendor it instead"
        );
    }
    let scripts: Vec<&str> = html
        .match_indices("<script")
        .map(|(i, _)| &html[i..])
        .collect();
    assert_eq!(
        scripts.len(),
        1,
        "index.html should load exactly one script"
    );
    assert!(
        scripts[0].starts_with(r#"<script type="module" src="/assets/app.js"></script>"#),
        "the only script is the bundle, with no inline code"
    );
    assert!(
        !html.contains(" style="),
        "no inline style attributes (CSP style-src 'self')"
    );
    let lower = html.to_ascii_lowercase();
    for handler in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        " oninput=",
    ] {
        assert!(!lower.contains(handler), "inline event handler {handler}");
    }
}

#[test]
fn sources_never_write_html_from_strings() {
    for entry in fs::read_dir(web().join("src")).expect("read web/src") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "js") {
            continue;
        }
        let source = fs::read_to_string(&path).expect("read source");
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(
                !source.contains(sink),
                "{} uses {sink}; build nodes with textContent (dom.js el)",
                path.display()
            );
        }
    }
}

fn config() -> Value {
    let text = fs::read_to_string(web().join("staticwebapp.config.json")).expect("read config");
    serde_json::from_str(&text).expect("staticwebapp.config.json is JSON")
}

#[test]
fn api_needs_a_signed_in_user_except_public_reads() {
    let config = config();
    let routes = config["routes"].as_array().expect("routes array");
    let position = |route: &str| {
        routes
            .iter()
            .position(|r| r["route"] == route)
            .unwrap_or_else(|| panic!("no route {route}"))
    };
    let api = position("/api/*");
    assert_eq!(
        routes[api]["allowedRoles"],
        serde_json::json!(["authenticated"])
    );
    assert!(
        routes[api].get("methods").is_none(),
        "/api/* must cover every method"
    );
    for public in ["/api/round", "/api/leaderboards"] {
        let at = position(public);
        assert!(
            at < api,
            "{public} must come before /api/* (first match wins)"
        );
        assert_eq!(
            routes[at]["methods"],
            serde_json::json!(["GET", "HEAD"]),
            "{public} is a public read only (HEAD too, so a probe is not sent to sign-in)"
        );
        assert_eq!(routes[at]["allowedRoles"], serde_json::json!(["anonymous"]));
    }
    let redirect = config["responseOverrides"]["401"]["redirect"]
        .as_str()
        .expect("401 override redirects");
    assert!(
        redirect.starts_with("/.auth/login/"),
        "401 goes to sign-in, got {redirect}"
    );
}

#[test]
fn navigation_fallback_spares_assets_and_headers_lock_the_page_down() {
    let config = config();
    assert_eq!(config["navigationFallback"]["rewrite"], "/index.html");
    let exclude: Vec<&str> = config["navigationFallback"]["exclude"]
        .as_array()
        .expect("exclude list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for needed in ["/assets/*", "/api/*", "/.auth/*"] {
        assert!(
            exclude.contains(&needed),
            "navigationFallback.exclude lacks {needed}"
        );
    }
    let csp = config["globalHeaders"]["content-security-policy"]
        .as_str()
        .expect("a content-security-policy header");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(name))
            .unwrap_or_else(|| panic!("CSP lacks {name}"))
            .to_owned()
    };
    assert_eq!(directive("script-src"), "script-src 'self'");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert!(directive("connect-src").contains("wss://*.webpubsub.azure.com"));
    assert!(directive("frame-ancestors").contains("'none'"));
    assert_eq!(config["globalHeaders"]["x-content-type-options"], "nosniff");
}
