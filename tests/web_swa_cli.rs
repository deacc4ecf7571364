//! The app behind the real Static Web Apps CLI (`@azure/static-web-apps-cli`, installed with
//! `--ignore-scripts` into tests/browser/swa-cli/node_modules): the CLI serves web/ and
//! proxies `/api` to `cosmospark dev` with the principal from its auth cookie.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Dev, Process, artifacts, chromium, free_port, npm_install, repo, run_scenario};

#[tokio::test]
async fn app_works_behind_the_static_web_apps_cli() {
    chromium();
    npm_install(&repo().join("tests/browser"), "playwright-core", &[]);
    let cli_dir = repo().join("tests/browser/swa-cli");
    npm_install(
        &cli_dir,
        "@azure/static-web-apps-cli",
        &["--ignore-scripts"],
    );
    let artifacts = artifacts("swa-cli");
    let dev = Dev::start_site(&artifacts).await;

    // The CLI refuses port 0 and cannot report the port it bound (see `free_port`).
    let port = free_port();
    let mut command = Command::new("node");
    command
        .arg(cli_dir.join("node_modules/@azure/static-web-apps-cli/dist/cli/bin.js"))
        .arg("start")
        .arg(repo().join("web"))
        .args(["--api-devserver-url", &dev.base_url()])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(&cli_dir)
        .env("SWA_CLI_DEBUG", "silly")
        .env("SWA_DISABLE_TELEMETRY", "true");
    let mut swa = Process::spawn(command, artifacts.join("swa.log"));
    swa.wait_for_port(port, Duration::from_secs(120));

    run_scenario(
        "swa-cli.mjs",
        &format!("http://127.0.0.1:{port}"),
        &artifacts,
        &[&dev.process, &swa],
    );
}
