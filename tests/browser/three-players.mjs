// Three players against `cosmospark dev`: alice (Berlin) on a laptop, mallory (Sydney) and
// carol (Seattle) on phones. Carol's first view frames her own pin and her targets; two players
// tied on points share a rank and `top=1` returns one row; a greeting to a player already greeted
// says it scores nothing; a rename reaches the leaderboard and the country lists; finishing every
// task is a round-complete moment. axe-core checks the screens on the way.

import { axeCheck, check, launch, onboard, principal, run, screenshot, watchedPage } from './lib.mjs';
import { BASE } from './lib.mjs';

const DESKTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

async function signIn(page, userName) {
  await page.goto(`${BASE}/.auth/login/github?post_login_redirect_uri=/`);
  await page.fill('#userDetails', userName);
  await page.click('button[type=submit]');
  await page.waitForURL((url) => !url.pathname.startsWith('/.auth/'));
}

const bubble = (page, text) => page.locator('#messages .bubble .bubble-text', { hasText: text });

/** Greets `name` from the task that names them. */
async function greetFromTask(page, name, text = 'Hi-CosmosPark') {
  const task = page.locator('#tasks li.task', { hasText: name }).first();
  await task.waitFor();
  await task.locator('button.say-hi').click();
  await page.fill('#chat-input', text);
  await page.click('#chat-send');
  await bubble(page, text).first().waitFor();
  await page.locator('#tasks li.task.done', { hasText: name }).waitFor();
}

/** The leaderboard as the API gives it. */
async function board(page, top) {
  return page.evaluate(async (n) => (await (await fetch(`/api/leaderboards?window=all&top=${n}`)).json()).standings, top);
}

run(async () => {
  const problems = [];
  const browser = await launch();
  try {
    const alice = await watchedPage(await browser.newContext({ viewport: DESKTOP }), 'alice', problems);
    const mallory = await watchedPage(await browser.newContext({ viewport: PHONE }), 'mallory', problems);
    const carol = await watchedPage(await browser.newContext({ viewport: PHONE }), 'carol', problems);

    await signIn(alice, 'alice');
    await onboard(alice, 'alice', 52.52, 13.405);
    // Alone on the map: the empty panels say what to do.
    await alice.locator('#chat-empty', { hasText: 'say Hi' }).waitFor();
    await alice.locator('#messages .empty', { hasText: 'Choose a conversation' }).waitFor();
    await alice.locator('#round-status', { hasText: 'Invite a friend' }).waitFor();
    await alice.click('.players-box summary');
    await alice.locator('#players .empty-state', { hasText: 'Nobody else' }).waitFor();
    await screenshot(alice, 'desktop-alone');
    await axeCheck(alice, 'empty game (desktop)');

    await signIn(mallory, 'mallory');
    await onboard(mallory, 'mallory', -33.87, 151.21);
    await signIn(carol, 'carol');
    await onboard(carol, 'carol', 47.61, -122.33);
    const ids = {
      alice: (await principal(alice)).userId,
      mallory: (await principal(mallory)).userId,
      carol: (await principal(carol)).userId,
    };

    // Carol in Seattle sees her own pin and both targets in her first view.
    await carol.locator('#tasks li.task', { hasText: 'mallory' }).waitFor();
    await carol.locator('#tasks li.task', { hasText: 'alice' }).waitFor();
    await carol.waitForFunction((names) => {
      const map = document.getElementById('map').getBoundingClientRect();
      return names.every((name) => {
        const pin = document.querySelector(`#map .leaflet-marker-icon[title="${name}"]`);
        const r = pin?.getBoundingClientRect();
        return r && r.left >= map.left && r.right <= map.right && r.top >= map.top && r.bottom <= map.bottom;
      });
    }, ['carol', 'alice', 'mallory']);
    await screenshot(carol, 'phone-seattle-first-view');
    await axeCheck(carol, 'game (phone, three players)');

    // Mallory and carol both greet alice from more than 3,000 km: 6 points each, a tie.
    await greetFromTask(mallory, 'alice');
    await greetFromTask(carol, 'alice');
    await alice.waitForFunction((tied) => tied.every((id) =>
      document.querySelector(`#leaderboard-body tr[data-user-id="${id}"] td.score`)?.textContent === '6'), [ids.mallory, ids.carol]);
    const top1 = await board(alice, 1);
    check(top1.length === 1, `top=1 gives one row (got ${top1.length})`);
    const top2 = await board(alice, 2);
    check(top2.length === 2 && top2.every((row) => row.rank === 1), `the tie shares rank 1: ${JSON.stringify(top2)}`);
    check(top2[0].userId < top2[1].userId, 'the tie is ordered by user id');
    for (const id of [ids.mallory, ids.carol]) {
      const rank = alice.locator(`#leaderboard-body tr[data-user-id="${id}"] td.rank`);
      check((await rank.textContent()) === '1', 'the shared rank is shown');
      check((await rank.getAttribute('aria-label')) === '1, tied', 'the tie is said to screen readers');
    }
    await screenshot(alice, 'desktop-tied-leaderboard');

    // Greeting alice again: carol is told it scores nothing more.
    await carol.fill('#chat-input', 'HI-COSMOSPARK!');
    await carol.click('#chat-send');
    await carol.locator('.notice', { hasText: 'already greeted alice' }).waitFor({ state: 'attached' });

    // A rename reaches the leaderboard (live on alice's screen) and the country list.
    const renamed = await mallory.evaluate(async () => {
      const response = await fetch('/api/user', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'mallory the second', position: { latitude: -33.87, longitude: 151.21 } }),
      });
      return response.status;
    });
    check(renamed === 200, `rename answered ${renamed}`);
    await alice.locator(`#leaderboard-body tr[data-user-id="${ids.mallory}"] td.name`, { hasText: 'mallory the second' }).waitFor();
    await alice.waitForFunction(async () => {
      const list = await (await fetch('/api/countries/AU/users')).json();
      return list.users?.some((user) => user.userName === 'mallory the second');
    }, undefined, { polling: 250 });
    const apiBoard = await board(alice, 10);
    check(apiBoard.find((row) => row.userId === ids.mallory)?.userName === 'mallory the second', 'the board API has the new name');

    // Carol greets her last target: the round is complete, and the screen says so.
    await greetFromTask(carol, 'mallory');
    await carol.locator('#round-complete', { hasText: 'Round complete!' }).waitFor();
    await carol.locator('.notice', { hasText: 'Round complete' }).waitFor({ state: 'attached' });
    await carol.locator('#round-complete').scrollIntoViewIfNeeded();
    await screenshot(carol, 'phone-round-complete');
    await axeCheck(carol, 'round complete (phone)');
    await screenshot(carol, 'phone-round-complete-full', { fullPage: true });
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`page problems:\n${problems.join('\n')}`);
});
