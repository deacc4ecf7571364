// The map's Azure Maps token (web/src/maps-token.js), run with `node --test` by tests/web_maps.rs:
// it comes from GET /api/azMap/token, is sent as headers, and is renewed before it expires.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MapsToken, RENEW_BEFORE_MS, RETRY_MS, fetchMapsToken, renewDelay } from '../../web/src/maps-token.js';

const HOUR = 60 * 60 * 1000;

/** Timers that run only when the test says so. */
function manualTimers() {
  const pending = new Map();
  let next = 1;
  return {
    pending,
    setTimeout(fn, delay) {
      pending.set(next, { fn, delay });
      return next++;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    async fireOnly() {
      assert.equal(pending.size, 1, 'exactly one renewal is scheduled');
      const [id, { fn, delay }] = [...pending][0];
      pending.delete(id);
      await fn();
      return delay;
    },
  };
}

test('renewal is due before expiry, never later than half the lifetime, never busy', () => {
  assert.equal(renewDelay(HOUR, 0), HOUR / 2);
  assert.equal(renewDelay(8 * 60 * 1000, 0), 8 * 60 * 1000 - RENEW_BEFORE_MS);
  assert.equal(renewDelay(2 * 60 * 1000, 0), RETRY_MS);
  assert.equal(renewDelay(1000, 0), RETRY_MS);
  assert.equal(renewDelay(0, 5000), RETRY_MS);
});

test('the token comes from the API and an unconfigured deployment gives none', async () => {
  const calls = [];
  const ok = async (url, init) => {
    calls.push([url, init]);
    return {
      ok: true,
      json: async () => ({ accessToken: 'eyJ.a', clientId: 'c-1', expiresOn: '2030-01-01T00:00:00Z' }),
    };
  };
  assert.deepEqual(await fetchMapsToken(ok), {
    accessToken: 'eyJ.a',
    clientId: 'c-1',
    expires: Date.parse('2030-01-01T00:00:00Z'),
  });
  assert.equal(calls[0][0], '/api/azMap/token');
  assert.equal(await fetchMapsToken(async () => ({ ok: false, status: 503 })), null);
  assert.equal(await fetchMapsToken(async () => ({ ok: true, json: async () => ({ key: 'x' }) })), null);
  assert.equal(await fetchMapsToken(async () => { throw new Error('offline'); }), null);
});

test('requests carry the current token, which is renewed before it expires', async () => {
  const timers = manualTimers();
  let now = 0;
  const tokens = [
    { accessToken: 'second', clientId: 'c-1', expires: 2 * HOUR },
    null,
    { accessToken: 'third', clientId: 'c-1', expires: 4 * HOUR },
  ];
  const token = new MapsToken(
    { accessToken: 'first', clientId: 'c-1', expires: HOUR },
    { fetchToken: async () => tokens.shift(), now: () => now, timers },
  );
  assert.deepEqual(token.headers(), { authorization: 'Bearer first', 'x-ms-client-id': 'c-1' });
  now = HOUR / 2;
  assert.equal(await timers.fireOnly(), HOUR / 2);
  assert.equal(token.headers().authorization, 'Bearer second');
  // A failed renewal keeps the current token and tries again.
  now = HOUR;
  await timers.fireOnly();
  assert.equal(token.headers().authorization, 'Bearer second');
  await timers.fireOnly();
  assert.equal(token.headers().authorization, 'Bearer third');
  token.stop();
  assert.equal(timers.pending.size, 0, 'stop() leaves no timer behind');
});
