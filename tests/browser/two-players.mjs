// Two players in two browser contexts against `cosmospark dev`: local sign-in form,
// onboarding, each other on the map, live chat both ways, a task completed by greeting, the
// other window's leaderboard updating live, and a hostile name rendered as text.

import { BASE, check, launch, onboard, principal, run, screenshot, watchedPage } from './lib.mjs';

const HOSTILE = '<script>alert(1)</script>';

async function signInWithForm(page, userName) {
  await page.goto(BASE);
  await page.locator('#signin').waitFor({ state: 'visible' });
  await screenshot(page, 'signin');
  await page.click('a[data-provider=github]');
  await page.fill('#userDetails', userName);
  await page.click('button[type=submit]');
  await page.waitForURL((url) => !url.pathname.startsWith('/.auth/'));
  // Marks this document: if it survives to the end, nothing reloaded the page.
  await page.evaluate(() => {
    window.__noReload = true;
  });
}

const bubble = (page, text) => page.locator('#messages li.bubble .bubble-text', { hasText: text });

run(async () => {
  const problems = [];
  const browser = await launch();
  try {
    const alice = await watchedPage(await browser.newContext({ viewport: { width: 1280, height: 900 } }), 'alice', problems);
    const mallory = await watchedPage(await browser.newContext({ viewport: { width: 390, height: 844 } }), 'mallory', problems);

    await signInWithForm(alice, 'alice');
    await onboard(alice, 'alice', 52.52, 13.405);
    await signInWithForm(mallory, 'mallory');
    await screenshot(mallory, 'onboarding');
    await onboard(mallory, HOSTILE, -33.87, 151.21);
    const aliceId = (await principal(alice)).userId;
    const malloryId = (await principal(mallory)).userId;

    // Each sees the other; alice learns of mallory live (she was already on the game screen).
    await alice.click('.players-box summary');
    const malloryRow = alice.locator(`#players li[data-user-id="${malloryId}"]`);
    await malloryRow.waitFor();
    check((await malloryRow.locator('.player-name').textContent()) === HOSTILE, 'hostile name shown verbatim in the player list');
    await mallory.locator(`#players li[data-user-id="${aliceId}"]`).waitFor({ state: 'attached' });
    check((await alice.locator('.leaflet-marker-icon, .marker-cluster').count()) >= 1, 'markers on the map');
    await screenshot(alice, 'map-both-players');

    // Alice's round: a task to greet mallory (assigned once there is someone to greet).
    const task = alice.locator('#tasks li.task').first();
    await task.waitFor();
    check((await task.textContent()).includes(HOSTILE), 'the task names mallory, as text');

    // Alice says hi from the player list (the keyboard-friendly twin of the marker popup).
    await malloryRow.locator('button.say-hi').click();
    check((await alice.inputValue('#chat-input')) === 'Hi-CosmosPark', 'Say Hi pre-fills the greeting');
    check((await alice.textContent('#chat-title')) === `To: ${HOSTILE}`, 'chat title shows the name as text');
    await alice.click('#chat-send');
    await bubble(alice, 'Hi-CosmosPark').waitFor();

    // Mallory's chat list gets the conversation live, with an unread count.
    const convo = mallory.locator(`#chat-list li[data-user-id="${aliceId}"] button`);
    await convo.waitFor();
    await mallory.locator(`#chat-list li[data-user-id="${aliceId}"] .unread`).waitFor();
    await screenshot(mallory, 'chat-list-unread');
    await convo.click();
    await bubble(mallory, 'Hi-CosmosPark').waitFor();

    // Both ways, live, with a typing indicator on the way.
    await mallory.fill('#chat-input', '');
    await mallory.type('#chat-input', 'hello alice');
    await alice.locator('#typing', { hasText: 'is typing' }).waitFor();
    await mallory.click('#chat-send');
    await bubble(alice, 'hello alice').waitFor();
    await alice.fill('#chat-input', 'greetings from Berlin');
    await alice.press('#chat-input', 'Enter');
    await bubble(mallory, 'greetings from Berlin').waitFor();
    await screenshot(alice, 'chat-alice');
    await screenshot(mallory, 'chat-mallory');

    // The greeting completed alice's task; mallory's leaderboard shows it without a reload.
    await alice.locator('#tasks li.task.done').first().waitFor();
    const aliceScore = mallory.locator(`#leaderboard-body tr[data-user-id="${aliceId}"] td.score`);
    await mallory.waitForFunction(
      (id) => Number(document.querySelector(`#leaderboard-body tr[data-user-id="${id}"] td.score`)?.textContent) > 0,
      aliceId,
    );
    const sevenDay = Number(await aliceScore.textContent());
    await mallory.click('#tab-all');
    await mallory.locator('#tab-all[aria-selected=true]').waitFor();
    await mallory.waitForFunction(
      ([id, score]) => Number(document.querySelector(`#leaderboard-body tr[data-user-id="${id}"] td.score`)?.textContent) === score,
      [aliceId, sevenDay],
    );
    await mallory.click('#tab-30d');
    await mallory.locator('#tab-30d[aria-selected=true]').waitFor();
    await screenshot(mallory, 'leaderboard-updated');
    await screenshot(alice, 'task-done');

    // The hostile name is text everywhere alice sees it; no script element was created.
    const leaderName = alice.locator(`#leaderboard-body tr[data-user-id="${malloryId}"] td:nth-child(2)`);
    if ((await leaderName.count()) > 0) check((await leaderName.textContent()) === HOSTILE, 'leaderboard name as text');
    check((await alice.locator('#main script, #notices script').count()) === 0, 'no injected script elements');
    for (const page of [alice, mallory]) {
      check(await page.evaluate(() => window.__noReload === true), 'pages were never reloaded');
    }
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`page problems:\n${problems.join('\n')}`);
});
