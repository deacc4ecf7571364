//! `cosmospark check` compares `local.settings.json.example` and the Bicep's app settings with
//! what the bindings and the app read: the repository passes; a copy with a setting missing or
//! an unread one added fails naming the setting and the file.

use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of the app root with what `check` reads.
fn app_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["host.json", "local.settings.json.example"] {
        std::fs::copy(repo().join(file), dir.path().join(file)).unwrap();
    }
    copy_dir(&repo().join("functions"), &dir.path().join("functions"));
    std::fs::create_dir_all(dir.path().join("infra")).unwrap();
    std::fs::copy(
        repo().join("infra/main.bicep"),
        dir.path().join("infra/main.bicep"),
    )
    .unwrap();
    dir
}

fn check(root: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cosmospark"))
        .args(["check", "--root"])
        .arg(root)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_repository_settings_match_the_bindings_and_the_app() {
    let (ok, text) = check(repo());
    assert!(ok, "{text}");
    let (ok, text) = check(app_copy().path());
    assert!(ok, "{text}");
}

#[test]
fn a_setting_missing_from_the_example_file_is_named() {
    let app = app_copy();
    let example = app.path().join("local.settings.json.example");
    edit(
        &example,
        r#""EventHubConnection__fullyQualifiedNamespace": "<namespace>.servicebus.windows.net","#,
        "",
    );
    let (ok, text) = check(app.path());
    assert!(!ok);
    assert!(
        text.contains("local.settings.json.example: `EventHubConnection__fullyQualifiedNamespace`: setting is missing"),
        "{text}"
    );
    assert!(text.contains("binding `events`"), "{text}");
}

#[test]
fn a_setting_missing_from_the_bicep_or_one_nobody_reads_is_named() {
    let app = app_copy();
    let bicep = app.path().join("infra/main.bicep");
    edit(
        &bicep,
        "  AzureMaps__ClientId: maps.outputs.clientId\n",
        "  EventGridTopicKey: 'unused'\n",
    );
    let (ok, text) = check(app.path());
    assert!(!ok);
    assert!(
        text.contains("main.bicep: `AzureMaps__ClientId`: setting is missing (read by the app's settings table)"),
        "{text}"
    );
    assert!(
        text.contains("main.bicep: `EventGridTopicKey`: setting is not read"),
        "{text}"
    );
}

#[test]
fn a_new_binding_connection_needs_its_identity_setting_in_both_files() {
    let app = app_copy();
    edit(
        &app.path().join("functions/MessageSentPush/function.json"),
        r#""connection": "WebPubSubConnection""#,
        r#""connection": "OtherPubSub""#,
    );
    let (ok, text) = check(app.path());
    assert!(!ok);
    for file in ["local.settings.json.example", "main.bicep"] {
        assert!(
            text.contains(&format!("{file}: `OtherPubSub__serviceUri`: setting is missing (read by functions/MessageSentPush/function.json binding `actions`)")),
            "{file}:\n{text}"
        );
    }
}

#[test]
fn the_local_settings_output_fills_the_example_file() {
    // README (Core Tools): `jq '.Values += LOCAL_SETTINGS' local.settings.json.example`.
    let bicep = std::fs::read_to_string(repo().join("infra/main.bicep")).unwrap();
    let outputs: Vec<&str> = bicep
        .lines()
        .skip_while(|line| !line.starts_with("output LOCAL_SETTINGS object = {"))
        .skip(1)
        .take_while(|line| !line.starts_with('}'))
        .filter_map(|line| line.trim().split_once(':').map(|(name, _)| name.trim()))
        .collect();
    assert!(
        !outputs.is_empty(),
        "infra/main.bicep has a LOCAL_SETTINGS output"
    );
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("local.settings.json.example")).unwrap(),
    )
    .unwrap();
    let values = example["Values"].as_object().unwrap();
    for name in &outputs {
        assert!(
            values.contains_key(*name),
            "LOCAL_SETTINGS sets `{name}`, which the example file lacks"
        );
    }
    for (name, value) in values {
        let placeholder = value.as_str().unwrap_or_default().contains('<');
        assert!(
            !placeholder || outputs.contains(&name.as_str()),
            "`{name}` is a placeholder that LOCAL_SETTINGS does not fill"
        );
    }
}
