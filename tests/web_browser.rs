//! The web front end in a real browser: players in headless Chromium contexts, at laptop
//! (1366×768) and phone (390×844) sizes, play against `cosmospark dev` (scenarios in
//! tests/browser/*.mjs), with axe-core checking every screen; and the platform's own
//! dashboard (`/_devhost/`) watched by an admin. Screenshots and measured figures
//! (`metrics.json`) land in target/browser-artifacts/<scenario>/.

mod support;

use support::{Dev, artifacts, chromium, npm_install, repo, run_scenario};

async fn scenario(name: &str) {
    support::browser::start_within_one_round(std::time::Duration::from_secs(300));
    run(name).await;
}

async fn run(name: &str) {
    chromium();
    npm_install(&repo().join("tests/browser"), "axe-core", &[]);
    let artifacts = artifacts(name);
    let dev = Dev::start_site(&artifacts).await;
    run_scenario(
        &format!("{name}.mjs"),
        &dev.base_url(),
        &artifacts,
        &[&dev.process],
    );
}

#[tokio::test]
async fn two_players_sign_in_chat_live_and_score() {
    scenario("two-players").await;
}

#[tokio::test]
async fn three_players_targets_ties_renames_and_a_finished_round() {
    scenario("three-players").await;
}

#[tokio::test]
async fn dashboard_shows_counts_waterfalls_lag_and_replays_a_dead_letter() {
    run("dashboard").await;
}
