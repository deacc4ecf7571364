//! The GitHub workflows and `azure.yaml` parse, use only actions that exist, and run the steps
//! the deployment relies on; the azd hook scripts exist, are executable and are valid shell.

mod support;

use std::collections::BTreeSet;

use serde_yaml::Value;
use support::infra::{read, repo_root};

/// Actions the workflows may use: `owner/name` and the allowed ref (`None` = any ref).
const ALLOWED_ACTIONS: &[(&str, Option<&str>)] = &[
    ("actions/checkout", Some("v4")),
    ("dtolnay/rust-toolchain", None),
    ("Swatinem/rust-cache", Some("v2")),
    ("actions/setup-node", Some("v4")),
    ("azure/login", Some("v2")),
    ("Azure/setup-azd", Some("v2")),
];

fn yaml(relative: &str) -> Value {
    serde_yaml::from_str(&read(relative))
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
}

fn workflow_files() -> Vec<String> {
    let dir = repo_root().join(".github/workflows");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .map(|n| format!(".github/workflows/{n}"))
        .collect();
    files.sort();
    files
}

fn steps(workflow: &Value) -> Vec<&Value> {
    workflow["jobs"]
        .as_mapping()
        .map(|jobs| {
            jobs.values()
                .filter_map(|job| job["steps"].as_sequence())
                .flatten()
                .collect()
        })
        .unwrap_or_default()
}

fn run_text(workflow: &Value) -> String {
    steps(workflow)
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Problems with the `uses:` of one workflow.
fn action_problems(file: &str, workflow: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for step in steps(workflow) {
        let Some(uses) = step["uses"].as_str() else {
            if step["run"].as_str().is_none() {
                problems.push(format!("{file}: a step has neither `uses` nor `run`"));
            }
            continue;
        };
        let Some((action, reference)) = uses.split_once('@') else {
            problems.push(format!("{file}: `{uses}` has no version"));
            continue;
        };
        match ALLOWED_ACTIONS.iter().find(|(name, _)| *name == action) {
            Some((_, Some(version))) if *version != reference => {
                problems.push(format!("{file}: `{uses}` must be `{action}@{version}`"));
            }
            Some(_) => {}
            None => problems.push(format!("{file}: `{action}` is not an allowed action")),
        }
    }
    problems
}

#[test]
fn workflows_parse_and_use_only_allowed_actions() {
    let files = workflow_files();
    let names: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    assert!(names.contains(".github/workflows/ci.yml"), "{files:?}");
    assert!(names.contains(".github/workflows/cd.yml"), "{files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let workflow = yaml(file);
        assert!(
            workflow["on"].is_mapping()
                || workflow["on"].is_string()
                || workflow["on"].is_sequence(),
            "{file}: `on` is missing"
        );
        assert!(workflow["jobs"].is_mapping(), "{file}: `jobs` is missing");
        problems.extend(action_problems(file, &workflow));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn unknown_or_unpinned_actions_are_rejected() {
    let workflow: Value = serde_yaml::from_str(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v3\n      - uses: some/thing@v1\n      - uses: azure/login\n      - name: nothing\n",
    )
    .expect("test YAML parses");
    let problems = action_problems("test.yml", &workflow).join("\n");
    for expected in [
        "must be `actions/checkout@v4`",
        "`some/thing` is not an allowed",
        "`azure/login` has no version",
        "neither `uses` nor `run`",
    ] {
        assert!(
            problems.contains(expected),
            "expected {expected} in:\n{problems}"
        );
    }
}

#[test]
fn ci_runs_every_gate() {
    let ci = yaml(".github/workflows/ci.yml");
    let runs = run_text(&ci);
    for command in [
        "cargo fmt",
        "cargo clippy --all-targets",
        "-D warnings",
        "cargo test",
        "-- check",
        "-- package",
        "--target x86_64-unknown-linux-musl",
        "az bicep build --file infra/main.bicep",
        "az bicep lint --file infra/main.bicep",
    ] {
        assert!(runs.contains(command), "ci.yml must run `{command}`");
    }
}

/// The test job runs on a plain hosted runner: it installs what the tests need (Debian's
/// Chromium, Node.js 20 or later) before the README's test command, and no CI definition reads
/// outside the repository.
#[test]
fn ci_installs_what_the_tests_need() {
    let ci = yaml(".github/workflows/ci.yml");
    let job = &ci["jobs"]["rust"];
    assert!(
        job["container"]
            .as_str()
            .is_some_and(|image| image.starts_with("debian:")),
        "the test job runs in a Debian container (Debian's chromium package)"
    );
    let job_steps = job["steps"].as_sequence().expect("the rust job has steps");
    let position = |wanted: &dyn Fn(&Value) -> bool| job_steps.iter().position(wanted);
    let apt = position(&|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("apt-get install") && r.contains("chromium"))
    })
    .expect("a step installs chromium with apt");
    let node = position(&|s| s["uses"].as_str() == Some("actions/setup-node@v4"))
        .expect("a step sets up Node.js");
    let node_version = job_steps[node]["with"]["node-version"]
        .as_u64()
        .or_else(|| {
            job_steps[node]["with"]["node-version"]
                .as_str()?
                .parse()
                .ok()
        })
        .expect("setup-node pins a node-version");
    assert!(node_version >= 20, "the JavaScript tests need Node.js 20");
    let test = position(&|s| s["run"].as_str() == Some("cargo test --locked"))
        .expect("a step runs `cargo test --locked`");
    assert!(apt < test && node < test, "install before testing");
    let readme = read("README.md");
    assert!(
        readme.contains("```\ncargo test\n```"),
        "the README's test command is `cargo test`"
    );
    for file in [".ci/run", ".github/workflows/ci.yml"] {
        let text = read(file);
        assert!(
            !text.contains("../") && !text.contains("shared/"),
            "{file} reads outside the repository"
        );
    }
}

/// Tests and benches resolve every path inside the repository (a plain clone passes
/// `cargo test`): no Rust source under `tests/` or `benches/` joins a path that climbs out of it.
#[test]
fn tests_and_benches_read_nothing_outside_the_repository() {
    let mut sources = Vec::new();
    let mut folders = vec![repo_root().join("tests"), repo_root().join("benches")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .expect("list a source folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("node_modules") {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(path);
            }
        }
    }
    assert!(sources.len() > 20, "found only {} sources", sources.len());
    // Spelled in pieces so this file does not match itself.
    let up = concat!(".", ".");
    let climbing = [
        format!(".join(\"{up}\")"),
        format!(".join(\"{up}/"),
        format!("{up}/shared"),
    ];
    let problems: Vec<String> = sources
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("read a source");
            climbing
                .iter()
                .filter(|pattern| text.contains(pattern.as_str()))
                .map(|pattern| format!("{}: {pattern}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn cd_logs_in_with_oidc_and_runs_azd_on_main() {
    let cd = yaml(".github/workflows/cd.yml");
    assert_eq!(
        cd["permissions"]["id-token"].as_str(),
        Some("write"),
        "OIDC needs id-token: write"
    );
    let branches = cd["on"]["push"]["branches"]
        .as_sequence()
        .expect("cd.yml triggers on push");
    assert!(
        branches.iter().any(|b| b.as_str() == Some("main")),
        "cd.yml deploys on push to main"
    );
    let uses: Vec<&str> = steps(&cd)
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    assert!(uses.contains(&"azure/login@v2"), "{uses:?}");
    assert!(uses.contains(&"Azure/setup-azd@v2"), "{uses:?}");
    let login = steps(&cd)
        .into_iter()
        .find(|s| s["uses"].as_str() == Some("azure/login@v2"))
        .expect("an azure/login step");
    for field in ["client-id", "tenant-id", "subscription-id"] {
        assert!(
            login["with"][field].is_string(),
            "azure/login needs `{field}`"
        );
    }
    assert!(
        login["with"]["creds"].is_null(),
        "OIDC login uses no client secret"
    );
    let runs = run_text(&cd);
    for command in [
        "--federated-credential-provider github",
        "azd provision",
        "azd deploy",
    ] {
        assert!(runs.contains(command), "cd.yml must run `{command}`");
    }
    assert!(
        !read(".github/workflows/cd.yml").contains("secrets."),
        "cd.yml needs no secrets"
    );
}

#[test]
fn azure_yaml_names_both_services_and_its_hooks_exist() {
    let azure = yaml("azure.yaml");
    assert_eq!(azure["name"].as_str(), Some("cosmospark"));
    assert_eq!(azure["infra"]["path"].as_str(), Some("infra"));
    let api = &azure["services"]["api"];
    let web = &azure["services"]["web"];
    assert_eq!(
        api["host"].as_str(),
        Some("function"),
        "service `api` deploys to the Function App"
    );
    assert_eq!(
        web["host"].as_str(),
        Some("staticwebapp"),
        "service `web` deploys to the Static Web App"
    );
    assert_eq!(web["project"].as_str(), Some("web"));
    assert!(
        api["dist"].is_string(),
        "service `api` deploys the staged package folder"
    );

    let mut scripts = Vec::new();
    let mut collect = |hooks: &Value| {
        if let Some(map) = hooks.as_mapping() {
            for hook in map.values() {
                for platform in ["posix", "windows"] {
                    if let Some(run) = hook[platform]["run"].as_str() {
                        scripts.push(run.trim_start_matches("./").to_string());
                    }
                }
            }
        }
    };
    collect(&azure["hooks"]);
    collect(&api["hooks"]);
    assert!(
        scripts.iter().any(|s| s.ends_with("package-api.sh")),
        "{scripts:?}"
    );
    for script in &scripts {
        assert!(
            repo_root().join(script).is_file(),
            "hook script {script} exists"
        );
    }
    let package = read("infra/hooks/package-api.sh");
    for needed in [
        "cargo build --release --locked --target \"$target\"",
        "x86_64-unknown-linux-musl",
        "-- check",
        "-- package --dir",
    ] {
        assert!(
            package.contains(needed),
            "package-api.sh must contain `{needed}`"
        );
    }
    assert!(
        package.contains(api["dist"].as_str().unwrap_or_default()),
        "package-api.sh stages into the `dist` folder azure.yaml deploys"
    );
}

#[test]
fn shell_hooks_are_executable_and_valid() {
    use std::os::unix::fs::PermissionsExt;
    let dir = repo_root().join("infra/hooks");
    let shell_scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("infra/hooks exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    assert!(!shell_scripts.is_empty());
    for script in shell_scripts {
        let mode = std::fs::metadata(&script)
            .expect("script is readable")
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{} must be executable", script.display());
        let status = std::process::Command::new("sh")
            .arg("-n")
            .arg(&script)
            .status()
            .expect("sh is available");
        assert!(
            status.success(),
            "{} has a shell syntax error",
            script.display()
        );
    }
}
