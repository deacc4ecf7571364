// Shared helpers for the browser scenarios: launching the Debian Chromium, screenshots,
// failing on page errors, dialogs and CSP violations, axe-core accessibility checks, layout
// checks.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = required('BASE_URL');
export const ARTIFACTS = required('ARTIFACTS_DIR');
mkdirSync(ARTIFACTS, { recursive: true });

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page whose errors (uncaught exceptions, dialogs, CSP violations) are collected in `problems`. */
export async function watchedPage(context, label, problems) {
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  // Lets a scenario drop the page's WebSocket the way a network failure would.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
      }
    };
  });
  page.on('pageerror', (error) => problems.push(`${label}: uncaught ${error.message}`));
  page.on('dialog', async (dialog) => {
    problems.push(`${label}: unexpected dialog ${JSON.stringify(dialog.message())}`);
    await dialog.dismiss();
  });
  page.on('console', (message) => {
    const text = message.text();
    // Every page, the local sign-in page included, lives within the CSP and loads every file it
    // asks for (API answers such as a new player's 404 profile are the app's business).
    const where = message.location().url || page.url();
    const file = !new URL(where, BASE).pathname.startsWith('/api/');
    const refused = /Content Security Policy|Refused to/i.test(text);
    const missing = file && /Failed to load resource/i.test(text);
    if (message.type() === 'error' && (refused || missing)) problems.push(`${label}: ${text} (${where})`);
  });
  return page;
}

let shot = 0;
/** A screenshot of what the window shows (`fullPage` for the whole scrollable page). */
export async function screenshot(page, name, { fullPage = false } = {}) {
  shot += 1;
  const file = path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

let axeSource = null;

/**
 * Runs axe-core (every rule but the experimental ones: WCAG 2.0–2.2 A/AA and best practices)
 * on what the page shows now; fails listing each violation. Injected through the DevTools
 * protocol, so the page's CSP stays as strict as in production.
 */
export async function axeCheck(page, label) {
  axeSource ??= readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const found = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join('\n    ')}`,
  );
  check(found.length === 0, `axe on ${label}: ${found.length} violation(s)\n  ${found.join('\n  ')}`);
}

/** The page itself does not scroll: everything is reachable in the window. */
export async function noPageScroll(page, label) {
  const { scroll, height } = await page.evaluate(() => ({
    scroll: document.scrollingElement.scrollHeight,
    height: window.innerHeight,
  }));
  check(scroll <= height, `${label}: the page scrolls (${scroll} px of content in a ${height} px window)`);
}

/** Each selector's element is shown entirely inside the window. */
export async function inWindow(page, selectors, label) {
  for (const selector of selectors) {
    const box = await page.evaluate((s) => {
      const r = document.querySelector(s)?.getBoundingClientRect();
      return r && { top: r.top, left: r.left, bottom: r.bottom, right: r.right, w: innerWidth, h: innerHeight };
    }, selector);
    check(box, `${label}: ${selector} exists`);
    check(
      box.top >= 0 && box.left >= 0 && box.bottom <= box.h && box.right <= box.w,
      `${label}: ${selector} is inside the window (${JSON.stringify(box)})`,
    );
  }
}

/**
 * Leaflet draws its vector layers on an SVG sized to the map it last measured (1.2 × with its
 * padding): a map that missed a size change shows a blank strip.
 */
export async function mapDrawnToItsBox(page, label) {
  await page.waitForFunction(() => {
    const map = document.getElementById('map');
    const svg = map.querySelector('.leaflet-overlay-pane svg');
    return svg && Math.abs(Number(svg.getAttribute('height')) - 1.2 * map.clientHeight) <= 2;
  }, undefined, { timeout: 5000 }).catch(async () => {
    const sizes = await page.evaluate(() => ({
      map: document.getElementById('map').clientHeight,
      svg: document.querySelector('#map .leaflet-overlay-pane svg')?.getAttribute('height'),
    }));
    throw new Error(`check failed: ${label}: the map is drawn for another size (${JSON.stringify(sizes)})`);
  });
}

/** Records measured figures in `metrics.json` next to the screenshots. */
export function record(name, value) {
  const file = path.join(ARTIFACTS, 'metrics.json');
  let all = {};
  try {
    all = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    all = {};
  }
  all[name] = value;
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** The signed-in principal as the page sees it. */
export async function principal(page) {
  return page.evaluate(async () => (await (await fetch('/.auth/me')).json()).clientPrincipal);
}

/** Fills and submits the onboarding form, then waits for the game screen. */
export async function onboard(page, name, latitude, longitude, { live = true } = {}) {
  await page.locator('#onboarding').waitFor({ state: 'visible' });
  await page.fill('#onboard-name', name);
  await page.fill('#onboard-lat', String(latitude));
  await page.fill('#onboard-lon', String(longitude));
  await page.click('#onboarding-form button[type=submit]');
  await page.locator('#game').waitFor({ state: 'visible' });
  if (live) await page.locator('#live-status[data-state=online]').waitFor();
}

export async function run(main) {
  try {
    await main();
    console.log('browser scenario passed');
  } catch (error) {
    console.error(error?.stack ?? String(error));
    process.exitCode = 1;
  }
}

