// The local dashboard (`/_devhost/`) in Chromium: an admin signs in with the local form and
// watches, without reloading, a chat message and a command go through the platform: each
// function's invocations and percentiles, the traces drawn as waterfalls, every trigger's lag
// and backlog with sparklines, a player's Web PubSub connection, and a poison command's dead
// letter replayed with the page's button.

import { axeCheck, BASE, check, launch, onboard, principal, run, screenshot, watchedPage } from './lib.mjs';

const DESKTOP = { width: 1366, height: 900 };

/** The number the functions table shows in `field` for `name`. */
async function figure(page, name, field) {
  const text = await page.locator(`#functions tr[data-function="${name}"] td[data-field="${field}"]`).textContent();
  return Number(text.replace(/,/g, ''));
}

/** Waits until the functions table shows at least `least` invocations of `name`. */
async function invocations(page, name, least) {
  await page.waitForFunction(
    ([n, l]) => {
      const cell = document.querySelector(`#functions tr[data-function="${n}"] td[data-field="invocations"]`);
      return cell && Number(cell.textContent.replace(/,/g, '')) >= l;
    },
    [name, least],
  );
  return figure(page, name, 'invocations');
}

/** `fetch` from the page (same origin, the session cookie), answering status and JSON. */
async function call(page, method, path, body) {
  return page.evaluate(
    async ([m, p, b]) => {
      const response = await fetch(p, {
        method: m,
        headers: b === undefined ? {} : { 'Content-Type': 'application/json' },
        body: b === undefined ? undefined : JSON.stringify(b),
      });
      return { status: response.status, body: await response.json().catch(() => null) };
    },
    [method, path, body],
  );
}

run(async () => {
  const problems = [];
  const browser = await launch();
  try {
    // A player, live on the game's hub.
    const bob = await watchedPage(await browser.newContext({ viewport: DESKTOP }), 'bob', problems);
    await bob.goto(BASE);
    await bob.click('a[data-provider=github]');
    await bob.fill('#userDetails', 'bob');
    await bob.click('button[type=submit]');
    await bob.waitForURL((url) => !url.pathname.startsWith('/.auth/'));
    await onboard(bob, 'bob', -33.87, 151.21);
    const bobId = (await principal(bob)).userId;

    // The admin opens the dashboard through the local sign-in.
    const ops = await watchedPage(await browser.newContext({ viewport: DESKTOP }), 'ops', problems);
    await ops.goto(`${BASE}/.auth/login/github?post_login_redirect_uri=/_devhost/`);
    await ops.fill('#userDetails', 'ops');
    await ops.fill('#userRoles', 'admin');
    await ops.click('button[type=submit]');
    await ops.waitForURL((url) => url.pathname === '/_devhost/');
    await ops.locator('#live[data-state=online]').waitFor();
    await ops.locator('#functions tr[data-function="CreateChat"]').waitFor();
    await ops.evaluate(() => {
      window.__noReload = true;
    });
    await axeCheck(ops, 'dashboard at start');
    await screenshot(ops, 'dashboard-start', { fullPage: true });
    const chatsBefore = await figure(ops, 'CreateChat', 'invocations');

    // Bob's connection shows under the hub.
    await ops.locator(`#hubs td`, { hasText: bobId }).first().waitFor();
    const hubSummary = await ops.locator('[data-hub-summary]').first().textContent();
    check(/[1-9]\d* client\(s\) connected/.test(hubSummary), `the hub lists bob's client (${hubSummary})`);

    // A chat message and a command through the API, and a command the update processor cannot read.
    const opsId = (await principal(ops)).userId;
    const me = await call(ops, 'POST', '/api/user', { name: 'ops', position: { latitude: 48.85, longitude: 2.35 } });
    check(me.status === 200 || me.status === 201, `profile created (${JSON.stringify(me)})`);
    const sent = await call(ops, 'POST', '/api/chat', { toUserId: bobId, content: 'Hello from the dashboard' });
    check(sent.status >= 200 && sent.status < 300, `chat message sent (${JSON.stringify(sent)})`);
    const command = await call(ops, 'POST', '/api/command/insert', { Data: { from: 'dashboard' } });
    check(command.status === 202, `command accepted (${JSON.stringify(command)})`);
    const poison = await call(ops, 'POST', '/_devhost/containers/Commands/items', { id: 'no-data', userId: opsId });
    check(poison.status === 200, `poison command written (${JSON.stringify(poison)})`);

    // Functions: counts and percentiles, live.
    check((await invocations(ops, 'CreateChat', chatsBefore + 1)) === chatsBefore + 1, 'one more CreateChat');
    check((await invocations(ops, 'CommandInsert', 1)) === 1, 'one CommandInsert');
    await invocations(ops, 'UpdateProcessor', 1);
    for (const name of ['CreateChat', 'CommandInsert', 'UpdateProcessor']) {
      const p50 = await figure(ops, name, 'p50');
      const p99 = await figure(ops, name, 'p99');
      check(p50 > 0 && p50 <= p99, `${name}: p50 ${p50} ms <= p99 ${p99} ms`);
    }

    // Traces: waterfalls whose spans sit on a time axis; one spans several functions.
    await ops.locator('figure.trace g.span[data-function="CreateChat"]').first().waitFor();
    await ops.waitForFunction(() =>
      [...document.querySelectorAll('figure.trace')].some(
        (f) => new Set([...f.querySelectorAll('g.span')].map((g) => g.dataset.function)).size >= 2,
      ),
    );
    const spans = await ops.evaluate(() => {
      const trace = [...document.querySelectorAll('figure.trace')].find(
        (f) => new Set([...f.querySelectorAll('g.span')].map((g) => g.dataset.function)).size >= 2,
      );
      return [...trace.querySelectorAll('g.span rect')].map((r) => ({
        x: Number(r.getAttribute('x')),
        width: Number(r.getAttribute('width')),
        title: r.querySelector('title').textContent,
      }));
    });
    check(spans.length >= 2 && spans.every((s) => s.width > 0), `spans drawn (${JSON.stringify(spans)})`);
    check(spans.every((s, i) => i === 0 || s.x >= spans[i - 1].x), 'spans in start order on the time axis');
    check(spans[spans.length - 1].x > spans[0].x, 'later spans start further right');
    check(spans.every((s) => /invocation [0-9a-f-]{36}/.test(s.title)), 'each span names its invocation');

    // Trigger lag and backlog: figures and sparklines for every trigger, sampled live.
    const processor = ops.locator('#triggers tr[data-trigger="UpdateProcessor"]');
    await processor.waitFor();
    await ops.waitForFunction(() => document.querySelectorAll('#triggers tr[data-trigger="UpdateProcessor"] svg.spark polyline').length === 2);
    const lag = await processor.locator('td[data-field="lag"]').textContent();
    const pending = await processor.locator('td[data-field="pending"]').textContent();
    check(/^\d[\d,]*$/.test(lag) && /^\d[\d,]*$/.test(pending), `lag ${lag} ms and backlog ${pending} shown`);
    const sparkLabel = await processor.locator('svg.spark').first().getAttribute('aria-label');
    check(/^Backlog of UpdateProcessor: now \d+ items, peak \d+ items over \d+ samples$/.test(sparkLabel), sparkLabel);

    // The poison command's dead letter, with its error; replayed from the page.
    const letter = ops.locator('#dead-letters tr[data-dead-letter]', { hasText: 'UpdateProcessor' }).first();
    await letter.waitFor();
    const letterId = await letter.getAttribute('data-dead-letter');
    check((await letter.locator('td.error').textContent()).includes('Data'), 'the dead letter shows its error');
    await axeCheck(ops, 'dashboard with traces and a dead letter');
    await screenshot(ops, 'dashboard-busy', { fullPage: true });
    const processed = await figure(ops, 'UpdateProcessor', 'invocations');
    await ops.getByRole('button', { name: `Replay dead letter ${letterId}` }).click();
    await ops.locator('#replay-status', { hasText: `Replayed ${letterId}` }).waitFor();
    const outcome = await ops.locator('#replay-status').getAttribute('data-outcome');
    check(outcome === 'sent' || outcome === 'failed-again', `replay answered (${outcome})`);
    // The replayed event reaches the update processor again, which sets it aside again.
    await invocations(ops, 'UpdateProcessor', processed + 1);
    await ops.locator(`#dead-letters tr[data-dead-letter="${letterId}"] button:not([disabled])`).waitFor();
    await screenshot(ops, 'dashboard-replayed', { fullPage: true });

    check(await ops.evaluate(() => window.__noReload === true), 'the dashboard never reloaded');
    check(problems.length === 0, `no page problems:\n${problems.join('\n')}`);
  } finally {
    await browser.close();
  }
});
