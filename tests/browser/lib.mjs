// Shared helpers for the browser scenarios: launching the Debian Chromium, screenshots,
// failing on page errors, dialogs and CSP violations.

import { mkdirSync } from 'node:fs';
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
    // The platform's own sign-in page is not ours to police; the app's pages are.
    const own = !new URL(message.location().url || page.url(), BASE).pathname.startsWith('/.auth/');
    if (own && message.type() === 'error' && /Content Security Policy|Refused to/i.test(text)) {
      problems.push(`${label}: ${text}`);
    }
  });
  return page;
}

let shot = 0;
export async function screenshot(page, name) {
  shot += 1;
  const file = path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
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
