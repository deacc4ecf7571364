//! The web front end in a real browser: two players in two headless Chromium contexts play
//! against `cosmospark dev` (scenario in tests/browser/two-players.mjs). Screenshots land in
//! target/browser-artifacts/two-players/.

mod web_support;

use web_support::{Dev, artifacts, chromium, npm_install, repo, run_scenario};

#[test]
fn two_players_sign_in_chat_live_and_score() {
    chromium();
    npm_install(&repo().join("tests/browser"), "playwright-core", &[]);
    let artifacts = artifacts("two-players");
    let dev = Dev::start(&artifacts);
    run_scenario("two-players.mjs", &dev.url(), &artifacts, &[&dev.process]);
}
