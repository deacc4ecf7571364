// Two players in two browser contexts against `cosmospark dev`: local sign-in form,
// onboarding, each other on the map, live chat both ways, a task completed by greeting, the
// other window's leaderboard updating live, and a hostile name rendered as text. The second
// player greets: tasks target the players present when a round's tasks are assigned.

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
    check((await alice.locator('.leaflet-marker-icon').count()) >= 1, 'markers on the map');
    await screenshot(alice, 'map-both-players');

    // Mallory's round has a task to greet alice (tasks go to players present at assignment).
    const task = mallory.locator('#tasks li.task', { hasText: 'alice' }).first();
    await task.waitFor();
    await task.locator('button.say-hi').click();
    check((await mallory.inputValue('#chat-input')) === 'Hi-CosmosPark', 'Say Hi pre-fills the greeting');
    check((await mallory.textContent('#chat-title')) === 'To: alice', 'the chat with alice is open');
    await mallory.click('#chat-send');
    await bubble(mallory, 'Hi-CosmosPark').waitFor();

    // The marker popup offers the same: alice's marker on mallory's map, name as text.
    await mallory.locator('.leaflet-marker-icon[title="alice"]').click();
    const popup = mallory.locator('.leaflet-popup .popup');
    check((await popup.locator('.popup-name').textContent()) === 'alice', 'popup names the player');
    await popup.locator('button.say-hi').click();
    await mallory.locator('.leaflet-popup').waitFor({ state: 'detached' });
    check((await mallory.textContent('#chat-title')) === 'To: alice', 'popup Say Hi opens the chat');
    await screenshot(mallory, 'popup-say-hi');

    // Alice's chat list gets the conversation live, with an unread count and the name as text.
    const entry = alice.locator(`#chat-list li[data-user-id="${malloryId}"]`);
    await entry.locator('.unread').waitFor();
    check((await entry.locator('.chat-name').textContent()) === HOSTILE, 'chat list name as text');
    await screenshot(alice, 'chat-list-unread');
    // By keyboard: the conversation is a button, Enter opens it and focus lands in the input.
    await entry.locator('button').focus();
    await alice.keyboard.press('Enter');
    await bubble(alice, 'Hi-CosmosPark').waitFor();
    check(await alice.evaluate(() => document.activeElement?.id === 'chat-input'), 'focus moves to the message input');
    check((await alice.textContent('#chat-title')) === `To: ${HOSTILE}`, 'chat title as text');
    await entry.locator('.unread').waitFor({ state: 'detached' });

    // Both ways, live, with a typing indicator on the way.
    await alice.locator('#chat-input').pressSequentially('hello from Berlin');
    await mallory.locator('#typing', { hasText: 'is typing' }).waitFor();
    await alice.press('#chat-input', 'Enter');
    await bubble(mallory, 'hello from Berlin').waitFor();
    await mallory.fill('#chat-input', 'greetings from Sydney');
    await mallory.click('#chat-send');
    await bubble(alice, 'greetings from Sydney').waitFor();
    await screenshot(alice, 'chat-alice');
    await screenshot(mallory, 'chat-mallory');

    // A dropped connection recovers, and what was sent meanwhile still arrives.
    const dropped = await alice.evaluate(() => {
      const open = window.__sockets.filter((socket) => socket.readyState === WebSocket.OPEN);
      for (const socket of open) socket.close(4000, 'test: network dropped');
      return open.length;
    });
    check(dropped === 1, `one live connection to drop (found ${dropped})`);
    await mallory.fill('#chat-input', 'while you were away');
    await mallory.click('#chat-send');
    await bubble(mallory, 'while you were away').waitFor();
    await bubble(alice, 'while you were away').waitFor({ timeout: 60000 });
    await alice.locator('#live-status[data-state=online]').waitFor();
    await mallory.fill('#chat-input', 'welcome back');
    await mallory.click('#chat-send');
    await bubble(alice, 'welcome back').waitFor();

    // The greeting completed mallory's task (pushed live).
    await mallory.locator('#tasks li.task.done', { hasText: 'alice' }).waitFor();
    await screenshot(mallory, 'task-done');

    // Alice's leaderboard shows mallory's points without a reload, on every tab.
    const board = await alice.evaluate(async () => (await fetch('/api/leaderboards?window=all&top=10')).status);
    if (board === 200) {
      const scored = (id) =>
        Number(document.querySelector(`#leaderboard-body tr[data-user-id="${id}"] td.score`)?.textContent) > 0;
      await alice.waitForFunction(scored, malloryId);
      // The tabs follow the ARIA pattern: arrow keys move between 7 days, 30 days, all time.
      await alice.focus('#tab-7d');
      for (const tab of ['#tab-30d', '#tab-all']) {
        await alice.keyboard.press('ArrowRight');
        await alice.locator(`${tab}[aria-selected=true]`).waitFor();
        await alice.waitForFunction(scored, malloryId);
      }
      const name = alice.locator(`#leaderboard-body tr[data-user-id="${malloryId}"] td:nth-child(2)`);
      check((await name.textContent()) === HOSTILE, 'leaderboard name as text');
      await screenshot(alice, 'leaderboard-updated');
    } else {
      console.log(`NOTICE: GET /api/leaderboards answered ${board}; leaderboard steps skipped`);
    }

    check((await alice.locator('#main script, #notices script').count()) === 0, 'no injected script elements');
    for (const page of [alice, mallory]) {
      check(await page.evaluate(() => window.__noReload === true), 'pages were never reloaded');
    }
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`page problems:\n${problems.join('\n')}`);
});
