// Two players against `cosmospark dev`: alice on a laptop (1366×768), mallory on a phone
// (390×844). Local sign-in form (styled within the CSP), onboarding, each other on the map,
// live chat both ways in one total order that survives a reload, a task completed by a
// greeting with punctuation, stats and leaderboard live, honest live state when the server
// stops answering, notices that can be closed, avatars, and axe-core on every screen at both
// sizes. The second player greets: tasks target the players present when they are assigned.

import {
  BASE,
  axeCheck,
  check,
  inWindow,
  launch,
  mapDrawnToItsBox,
  noPageScroll,
  onboard,
  principal,
  record,
  run,
  screenshot,
  watchedPage,
} from './lib.mjs';

const HOSTILE = '<script>alert(1)</script>';
const DESKTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

async function signInWithForm(page, userName, base = BASE) {
  await page.goto(base);
  await page.locator('#signin').waitFor({ state: 'visible' });
  await axeCheck(page, `sign-in screen (${userName})`);
  await screenshot(page, `signin-${userName}`);
  await page.click('a[data-provider=github]');
  await page.locator('#userDetails').waitFor();
  // The local sign-in page is styled by its own stylesheet, not by inline styles the CSP refuses.
  const styled = await page.evaluate(() => ({
    card: getComputedStyle(document.querySelector('main')).backgroundColor,
    page: getComputedStyle(document.body).backgroundColor,
    button: getComputedStyle(document.querySelector('button[type=submit]')).backgroundColor,
  }));
  check(styled.card === 'rgb(255, 255, 255)', `sign-in card is styled (${styled.card})`);
  check(styled.page === 'rgb(242, 244, 248)', `sign-in page background is styled (${styled.page})`);
  check(styled.button === 'rgb(31, 111, 235)', `sign-in button is styled (${styled.button})`);
  await axeCheck(page, `local sign-in page (${userName})`);
  await screenshot(page, `local-signin-${userName}`);
  await page.fill('#userDetails', userName);
  await page.click('button[type=submit]');
  await page.waitForURL((url) => !url.pathname.startsWith('/.auth/'));
  // Marks this document: if it survives to the end, nothing reloaded the page.
  await page.evaluate(() => {
    window.__noReload = true;
  });
}

const bubble = (page, text) => page.locator('#messages .bubble .bubble-text', { hasText: text });
const bubbleTexts = (page) => page.locator('#messages .bubble .bubble-text').allTextContents();

/** Sends `text` from the open chat with the form, waiting until it shows. */
async function sendInChat(page, text) {
  await page.fill('#chat-input', text);
  await page.click('#chat-send');
  await bubble(page, text).first().waitFor();
}

run(async () => {
  const problems = [];
  const browser = await launch();
  // The server goes silent by being stopped (SIGSTOP): connections stay open, nothing flows.
  const server = Number(process.env.DEV_PID);
  if (!server) throw new Error('DEV_PID is not set');
  try {
    const alice = await watchedPage(await browser.newContext({ viewport: DESKTOP }), 'alice', problems);
    const mallory = await watchedPage(await browser.newContext({ viewport: PHONE }), 'mallory', problems);

    await signInWithForm(alice, 'alice');
    await alice.locator('#onboarding').waitFor({ state: 'visible' });
    await axeCheck(alice, 'onboarding (desktop)');
    await onboard(alice, 'alice', 52.52, 13.405);
    await signInWithForm(mallory, 'mallory');
    await mallory.locator('#onboarding').waitFor({ state: 'visible' });
    await axeCheck(mallory, 'onboarding (phone)');
    await screenshot(mallory, 'onboarding-phone', { fullPage: true });
    await onboard(mallory, HOSTILE, -33.87, 151.21);
    const aliceId = (await principal(alice)).userId;
    const malloryId = (await principal(mallory)).userId;

    // Phone: the game opens at the top with the header in view, and it stays in view.
    check(await mallory.evaluate(() => window.scrollY === 0), 'the phone opens the game at the top');
    await mallory.evaluate(() => window.scrollTo(0, 600));
    const header = await mallory.evaluate(() => document.querySelector('.topbar').getBoundingClientRect().top);
    check(header === 0, `the header stays visible on a phone (top at ${header})`);
    await mallory.evaluate(() => window.scrollTo(0, 0));

    // Desktop: the whole game in the window, the map as tall as the window allows.
    await noPageScroll(alice, 'desktop game');
    await inWindow(alice, ['#map', '#round-title', '#countdown', '#tasks', '#chat-input', '#chat-send', '#board-title', '#leaderboard-table'], 'desktop game');
    const mapHeight = await alice.evaluate(() => document.getElementById('map').clientHeight);
    check(mapHeight >= 768 - 160, `the map fills the window's height (${mapHeight} px)`);
    await mapDrawnToItsBox(alice, 'desktop map at start');
    // The map's box changes without the window changing: it redraws for its new size.
    await alice.click('.players-box summary');
    await mapDrawnToItsBox(alice, 'desktop map after the player list opened');
    await alice.click('.players-box summary');
    await mapDrawnToItsBox(alice, 'desktop map after the player list closed');
    await alice.click('.players-box summary');

    // Each sees the other, with initials; alice learns of mallory live.
    const malloryRow = alice.locator(`#players li[data-user-id="${malloryId}"]`);
    await malloryRow.waitFor();
    check((await malloryRow.locator('.player-name').textContent()) === HOSTILE, 'hostile name shown verbatim in the player list');
    check((await malloryRow.locator('.avatar').getAttribute('data-initials')) === 'S', 'initials in the player list');
    await mallory.locator(`#players li[data-user-id="${aliceId}"]`).waitFor({ state: 'attached' });
    // Markers are named (name and place) and show initials.
    const marker = alice.locator(`.leaflet-marker-icon[title="${HOSTILE}"]`);
    await marker.waitFor();
    check((await marker.getAttribute('aria-label')).startsWith(HOSTILE), 'the marker is named after the player');
    check((await marker.locator('.avatar').getAttribute('data-initials')) === 'S', 'the marker shows initials');
    await screenshot(alice, 'desktop-map-both-players');

    // Phone: the first view frames me and my task's target.
    const task = mallory.locator('#tasks li.task', { hasText: 'alice' }).first();
    await task.waitFor();
    check((await task.locator('.avatar').getAttribute('data-initials')) === 'A', 'initials in the task');
    await mallory.waitForFunction(() => {
      const map = document.getElementById('map').getBoundingClientRect();
      const pins = [...document.querySelectorAll('#map .leaflet-marker-icon')];
      return pins.length >= 2 && pins.every((pin) => {
        const r = pin.getBoundingClientRect();
        return r.left >= map.left && r.right <= map.right && r.top >= map.top && r.bottom <= map.bottom;
      });
    });
    await screenshot(mallory, 'phone-game-top');
    await axeCheck(mallory, 'game (phone)');

    // Mallory greets with punctuation and mixed case: it still counts.
    await task.locator('button.say-hi').click();
    check((await mallory.inputValue('#chat-input')) === 'Hi-CosmosPark', 'Say Hi pre-fills the greeting');
    check((await mallory.textContent('#chat-title')) === 'To: alice', 'the chat with alice is open');
    await mallory.locator('#messages .empty').waitFor();
    await mallory.fill('#chat-input', '  hi-cosmospark!! ');
    await mallory.click('#chat-send');
    await bubble(mallory, 'hi-cosmospark!!').waitFor();
    // (A phone shows only the newest notice; this one may already sit behind "Task done".)
    await mallory.locator('.notice', { hasText: 'your task is being checked' }).waitFor({ state: 'attached' });
    await mallory.locator('#tasks li.task.done', { hasText: 'alice' }).waitFor();
    // Stats follow pushes: one message sent, one task, without a reload.
    await mallory.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#stats dt')];
      const value = (label) => Number(rows.find((dt) => dt.textContent === label)?.nextElementSibling?.textContent);
      return value('Messages sent') === 1 && value('Tasks completed') === 1;
    });
    await screenshot(mallory, 'phone-task-done', { fullPage: true });

    // The marker popup offers the same, with initials: alice's marker on mallory's map.
    await mallory.locator('.leaflet-marker-icon[title="alice"]').click();
    const popup = mallory.locator('.leaflet-popup .popup');
    check((await popup.locator('.popup-name').textContent()) === 'alice', 'popup names the player');
    check((await popup.locator('.avatar').getAttribute('data-initials')) === 'A', 'initials in the popup');
    // Leaflet fades popups in; check the popup as it ends up.
    await mallory.waitForFunction(() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1');
    await axeCheck(mallory, 'map popup (phone)');
    await popup.locator('button.say-hi').click();
    await mallory.locator('.leaflet-popup').waitFor({ state: 'detached' });

    // Alice's chat list gets the conversation live, with an unread count, initials and the name as text.
    const entry = alice.locator(`#chat-list li[data-user-id="${malloryId}"]`);
    await entry.locator('.unread').waitFor();
    check((await entry.locator('.chat-name').textContent()) === HOSTILE, 'chat list name as text');
    check((await entry.locator('.avatar').getAttribute('data-initials')) === 'S', 'initials in the chat list');
    // By keyboard: the conversation is a button, Enter opens it and focus lands in the input.
    await entry.locator('button').focus();
    // Reached by keyboard (away and back), its focus ring shows, drawn inside the scrolling list so the list cannot clip it.
    await alice.keyboard.press('Tab');
    await alice.keyboard.press('Shift+Tab');
    const ring = await entry.locator('button').evaluate((node) => {
      const style = getComputedStyle(node);
      return { visible: node.matches(':focus-visible'), style: style.outlineStyle, width: parseFloat(style.outlineWidth), offset: parseFloat(style.outlineOffset) };
    });
    check(ring.visible && ring.style === 'solid' && ring.width >= 2 && ring.offset <= -ring.width, `focus ring inside the chat list: ${JSON.stringify(ring)}`);
    await alice.keyboard.press('Enter');
    await bubble(alice, 'hi-cosmospark!!').waitFor();
    check(await alice.evaluate(() => document.activeElement?.id === 'chat-input'), 'focus moves to the message input');
    check((await alice.textContent('#chat-title')) === `To: ${HOSTILE}`, 'chat title as text');
    check((await alice.locator('#messages .bubble.you .avatar').first().getAttribute('data-initials')) === 'S', 'initials in chat bubbles');
    check((await alice.locator('#chat-avatar .avatar').getAttribute('data-initials')) === 'S', 'initials in the chat heading');
    await entry.locator('.unread').waitFor({ state: 'detached' });

    // Both ways, live, with a typing indicator; the time to reach the other screen is measured.
    await alice.locator('#chat-input').pressSequentially('hello from Berlin');
    await mallory.locator('#typing', { hasText: 'is typing' }).waitFor();
    await alice.press('#chat-input', 'Enter');
    await bubble(mallory, 'hello from Berlin').waitFor();
    // From the press of Send on one screen to the bubble on the other (same machine clock).
    const latencies = [];
    for (let i = 1; i <= 10; i += 1) {
      const text = `latency ${i}`;
      await alice.evaluate((t) => {
        window.__seenAt = null;
        const observer = new MutationObserver(() => {
          if ([...document.querySelectorAll('#messages .bubble-text')].some((n) => n.textContent === t)) {
            window.__seenAt = Date.now();
            observer.disconnect();
          }
        });
        observer.observe(document.getElementById('messages'), { childList: true, subtree: true });
      }, text);
      await mallory.fill('#chat-input', text);
      await mallory.evaluate(() => {
        document.getElementById('chat-form').addEventListener('submit', () => (window.__sentAt = Date.now()), { once: true, capture: true });
      });
      await mallory.click('#chat-send');
      await bubble(alice, text).waitFor();
      const seenAt = await alice.evaluate(() => window.__seenAt);
      const sentAt = await mallory.evaluate(() => window.__sentAt);
      latencies.push(seenAt - sentAt);
    }
    latencies.sort((a, b) => a - b);
    record('messageToOtherScreenMs', { median: latencies[5], max: latencies[9], samples: latencies });

    // Twenty messages within a second or two come back in the order they were sent after a
    // reload (a server-assigned sequence per chat), and the list shows the last one.
    const numbered = Array.from({ length: 20 }, (_, i) => `n${String(i + 1).padStart(2, '0')}`);
    await alice.evaluate(async ({ to, texts }) => {
      for (const content of texts) {
        const response = await fetch('/api/chat', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ toUserId: to, content, messageId: crypto.randomUUID() }),
        });
        if (!response.ok) throw new Error(`send ${content}: ${response.status}`);
      }
    }, { to: malloryId, texts: numbered });
    await bubble(mallory, 'n20').waitFor();
    await mallory.reload();
    await mallory.locator('#live-status[data-state=online]').waitFor();
    const malloryEntry = mallory.locator(`#chat-list li[data-user-id="${aliceId}"]`);
    await malloryEntry.locator('.chat-preview', { hasText: 'n20' }).waitFor();
    await malloryEntry.locator('button').click();
    await bubble(mallory, 'n20').waitFor();
    const order = (await bubbleTexts(mallory)).filter((t) => /^n\d\d$/.test(t));
    check(JSON.stringify(order) === JSON.stringify(numbered), `messages keep their order after a reload: ${order.join(' ')}`);
    await mallory.evaluate(() => {
      window.__noReload = true;
    });
    await screenshot(mallory, 'phone-chat-ordered');
    await screenshot(alice, 'desktop-chat');
    await axeCheck(alice, 'game with an open chat (desktop)');

    // Honest live state: when the server stops answering, alice's indicator says so within
    // seconds (keep-alive pings), and comes back by itself.
    const frozeAt = Date.now();
    process.kill(server, 'SIGSTOP');
    await alice.locator('#live-status[data-state=offline]').waitFor({ timeout: 15000 });
    const offlineMs = Date.now() - frozeAt;
    await screenshot(alice, 'desktop-offline');
    const thawedAt = Date.now();
    process.kill(server, 'SIGCONT');
    await alice.locator('#live-status[data-state=online]').waitFor({ timeout: 30000 });
    record('liveIndicator', { offlineAfterServerStopsMs: offlineMs, onlineAfterServerReturnsMs: Date.now() - thawedAt });
    // What was sent meanwhile arrives after the reconnect.
    await mallory.fill('#chat-input', 'welcome back');
    await mallory.click('#chat-send');
    await bubble(alice, 'welcome back').waitFor();

    // Notices: a repeat is one notice with a count, they can be closed, and they never cover
    // the countdown, the map's zoom buttons or the chat form.
    await alice.evaluate(() => {
      // Two identical notices through the page's own path: a failed send, twice.
      window.__fetch = window.fetch;
      window.fetch = () => Promise.reject(new TypeError('Failed to fetch'));
    });
    for (let i = 0; i < 2; i += 1) {
      await alice.fill('#chat-input', 'will fail');
      await alice.click('#chat-send');
      await alice.locator('.notice.error', { hasText: 'not sent' }).waitFor();
    }
    const failed = alice.locator('.notice.error', { hasText: 'not sent' });
    check((await failed.count()) === 1, 'a repeated error is one notice');
    const failedText = await failed.locator('.notice-text').textContent();
    check(/cannot be reached/.test(failedText) && !/Failed to fetch/.test(failedText), `a human error message: ${failedText}`);
    check(/×2/.test(failedText), `the repeat is counted: ${failedText}`);
    for (const selector of ['#countdown', '.leaflet-control-zoom-in', '#chat-send', '#chat-input']) {
      const covered = await alice.evaluate((s) => {
        const node = document.querySelector(s);
        const r = node.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return !(hit === node || node.contains(hit));
      }, selector);
      check(!covered, `${selector} is not covered while notices show`);
    }
    await screenshot(alice, 'desktop-notices');
    await noPageScroll(alice, 'desktop game with notices');
    await axeCheck(alice, 'game with notices (desktop)');
    // A notice closes with its button.
    await failed.locator('button.dismiss').click();
    await failed.waitFor({ state: 'detached' });
    // Retry sends the same message (same id) once the network is back: stored once.
    await alice.click('#chat-send');
    await failed.locator('button.retry').waitFor();
    await alice.evaluate(() => {
      window.fetch = window.__fetch;
    });
    await failed.locator('button.retry').click();
    await bubble(mallory, 'will fail').waitFor();
    await failed.waitFor({ state: 'detached' });
    check((await bubble(alice, 'will fail').count()) === 1, 'the retried message is stored once');

    // Alice's leaderboard shows mallory's points without a reload, on every tab.
    const scored = (id) =>
      Number(document.querySelector(`#leaderboard-body tr[data-user-id="${id}"] td.score`)?.textContent) > 0;
    await alice.waitForFunction(scored, malloryId);
    await alice.focus('#tab-7d');
    for (const tab of ['#tab-30d', '#tab-all']) {
      await alice.keyboard.press('ArrowRight');
      await alice.locator(`${tab}[aria-selected=true]`).waitFor();
      await alice.waitForFunction(scored, malloryId);
    }
    const row = alice.locator(`#leaderboard-body tr[data-user-id="${malloryId}"]`);
    check((await row.locator('td.name').textContent()) === HOSTILE, 'leaderboard name as text');
    check((await row.locator('.avatar').getAttribute('data-initials')) === 'S', 'initials on the leaderboard');
    await screenshot(alice, 'desktop-leaderboard-updated');
    await screenshot(mallory, 'phone-game-full', { fullPage: true });

    // First paint of the game for a returning player.
    await alice.reload();
    await alice.locator('#live-status[data-state=online]').waitFor();
    const paint = await alice.evaluate(() => ({
      firstContentfulPaintMs: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
      domContentLoadedMs: performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd,
    }));
    record('desktopReload', paint);
    await noPageScroll(alice, 'desktop game after a reload');
    await mapDrawnToItsBox(alice, 'desktop map after a reload');
    await screenshot(alice, 'desktop-game');
    await alice.evaluate(() => {
      window.__noReload = true;
    });

    check((await alice.locator('#main script, #notices script').count()) === 0, 'no injected script elements');
    for (const page of [alice, mallory]) {
      check(await page.evaluate(() => window.__noReload === true), 'pages were not reloaded unexpectedly');
    }
  } finally {
    await browser.close();
    try {
      process.kill(server, 'SIGCONT');
    } catch {}
  }
  if (problems.length) throw new Error(`page problems:\n${problems.join('\n')}`);
});
