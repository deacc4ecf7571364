//! Parses every `infra/**/*.bicep` with the tree-sitter Bicep grammar and fails on any syntax
//! error or missing token, reported as `file:line:column`. No Bicep compiler can run here; CI
//! also runs `az bicep build` and `az bicep lint`.

mod support;

use support::infra::{BicepFile, bicep_files};

/// Syntax problems of one file, one line each.
fn syntax_problems(file: &BicepFile) -> Vec<String> {
    file.nodes()
        .into_iter()
        .filter(|n| n.is_error() || n.is_missing())
        .map(|n| {
            let what = if n.is_missing() {
                format!("missing `{}`", n.kind())
            } else {
                let snippet: String = file.text(n).chars().take(60).collect();
                format!("syntax error near `{snippet}`")
            };
            format!("{}: {what}", file.location(n))
        })
        .collect()
}

#[test]
fn every_bicep_file_parses_without_errors() {
    let files = bicep_files();
    assert!(
        files.len() >= 2,
        "expected infra/main.bicep and its modules, found {files:?}"
    );
    let problems: Vec<String> = files
        .iter()
        .flat_map(|path| syntax_problems(&BicepFile::load(path)))
        .collect();
    assert!(
        problems.is_empty(),
        "Bicep syntax problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_reports_a_broken_template_with_its_position() {
    let dir = std::env::temp_dir().join(format!("infra-syntax-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let path = dir.join("broken.bicep");
    std::fs::write(
        &path,
        "param name string\n\nresource sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {\n  name: name\n  location: \n",
    )
    .expect("temp file is writable");
    let problems = syntax_problems(&BicepFile::load(&path));
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        !problems.is_empty(),
        "a truncated template must be rejected"
    );
    assert!(
        problems.iter().all(|p| p.contains("broken.bicep:")),
        "problems name the file: {problems:?}"
    );
}

#[test]
fn main_template_declares_subscription_scope() {
    let main = BicepFile::load_relative("infra/main.bicep");
    assert!(
        main.declarations("target_scope_assignment")
            .iter()
            .any(|n| main.text(*n).contains("'subscription'")),
        "infra/main.bicep must set targetScope = 'subscription' (azd creates the resource group)"
    );
}
