// The app behind the real Static Web Apps CLI, which serves web/ and proxies /api to
// `cosmospark dev` with the principal from its auth cookie (set directly: the CLI's own
// sign-in form needs a CDN).

import { BASE, check, launch, onboard, run, screenshot, watchedPage } from './lib.mjs';

const PRINCIPAL = {
  identityProvider: 'github',
  userId: 'swacli0001',
  userDetails: 'swa-player',
  userRoles: ['anonymous', 'authenticated'],
  claims: [],
};

run(async () => {
  const problems = [];
  const browser = await launch();
  try {
    const anonymous = await browser.newContext();
    const guest = await watchedPage(anonymous, 'guest', problems);
    await guest.goto(BASE);
    await guest.locator('#signin').waitFor({ state: 'visible' });
    const blocked = await anonymous.request.get(`${BASE}/api/users`, { maxRedirects: 0 });
    check(blocked.status() === 302, `anonymous /api/users is redirected to sign-in (got ${blocked.status()})`);
    check((blocked.headers().location ?? '').includes('/.auth/login/'), 'redirect target is the sign-in page');
    const round = await anonymous.request.get(`${BASE}/api/round`);
    check(round.ok(), `GET /api/round is public (got ${round.status()})`);
    await screenshot(guest, 'swa-signin');

    const context = await browser.newContext({ viewport: { width: 1024, height: 800 } });
    await context.addCookies([
      {
        name: 'StaticWebAppsAuthCookie',
        value: Buffer.from(JSON.stringify(PRINCIPAL)).toString('base64'),
        url: BASE,
      },
    ]);
    const page = await watchedPage(context, 'player', problems);
    await page.goto(BASE);
    await onboard(page, 'SWA player', 47.37, 8.54, { live: false });
    await page.click('.players-box summary');
    const me = page.locator(`#players li[data-user-id="${PRINCIPAL.userId}"] .player-name`);
    await me.waitFor();
    check((await me.textContent()) === 'SWA player (you)', 'the profile was saved for the cookie principal');
    const profile = await page.evaluate(async (id) => (await fetch(`/api/user/${id}`)).json(), PRINCIPAL.userId);
    check(profile?.name === 'SWA player', 'GET /api/user/{me} through the proxy returns my profile');
    // Negotiate through the CLI's proxy: the app sees only the CLI's X-MS-CLIENT-PRINCIPAL and
    // asks the hub's REST token API for that user. (The CLI does not proxy the hub itself, so
    // live updates are covered by the `dev` scenarios, not here.)
    const negotiated = await page.evaluate(async () => {
      const response = await fetch('/api/pubsub/connection');
      return { status: response.status, body: await response.json() };
    });
    check(negotiated.status === 200, `GET /api/pubsub/connection through the proxy (got ${negotiated.status})`);
    const token = negotiated.body?.accessToken ?? '';
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString() || '{}');
    check(claims.sub === PRINCIPAL.userId, `the client token is issued for the cookie principal (got ${claims.sub})`);
    check(
      (negotiated.body?.url ?? '').endsWith(`/client/hubs/CosmosPark?access_token=${token}`),
      'the client URL carries the token for hub CosmosPark',
    );
    await page.locator('#tasks, #round-status').first().waitFor({ state: 'attached' });
    await screenshot(page, 'swa-game');
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`page problems:\n${problems.join('\n')}`);
});
