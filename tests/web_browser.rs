//! The web front end in a real browser: two players in two headless Chromium contexts play
//! against `cosmospark dev` (scenario in tests/browser/two-players.mjs). Screenshots land in
//! target/browser-artifacts/two-players/.

mod support;

use support::{Dev, artifacts, chromium, npm_install, repo, run_scenario};

#[tokio::test]
async fn two_players_sign_in_chat_live_and_score() {
    chromium();
    npm_install(&repo().join("tests/browser"), "playwright-core", &[]);
    let artifacts = artifacts("two-players");
    let dev = Dev::start_site(&artifacts).await;
    run_scenario(
        "two-players.mjs",
        &dev.base_url(),
        &artifacts,
        &[&dev.process],
    );
}
