// Unit tests for the front end's pure modules, run with `node --test` by tests/web_units.rs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, Unreachable, readable } from '../../web/src/api.js';
import { hueOf, initials } from '../../web/src/avatar.js';
import { byOrder, normaliseMessage } from '../../web/src/chat.js';
import { isGreeting } from '../../web/src/greeting.js';
import { taskText } from '../../web/src/round.js';
import { Countdown, formatCountdown, secondsLeft } from '../../web/src/time.js';

test('countdown text is MM:SS and never negative', () => {
  assert.equal(formatCountdown(3600), '60:00');
  assert.equal(formatCountdown(61), '01:01');
  assert.equal(formatCountdown(-5), '00:00');
});

test('seconds left counts to the UTC end, rounding partial seconds up', () => {
  const end = 1_700_003_600;
  assert.equal(secondsLeft(end, (end - 90) * 1000 + 400), 90);
  assert.equal(secondsLeft(end, end * 1000 + 5000), 0);
});

/** Replaces the global interval functions with ones that count live intervals. */
function fakeIntervals() {
  const live = new Map();
  let next = 1;
  const saved = [globalThis.setInterval, globalThis.clearInterval];
  globalThis.setInterval = (fn) => {
    live.set(next, fn);
    return next++;
  };
  globalThis.clearInterval = (id) => live.delete(id);
  return { live, restore: () => ([globalThis.setInterval, globalThis.clearInterval] = saved) };
}

test('a countdown keeps one interval however often it is re-armed, and clears it', () => {
  const timers = fakeIntervals();
  try {
    let now = 1_000_000;
    const ticks = [];
    let elapsed = 0;
    const countdown = new Countdown((left) => ticks.push(left), () => elapsed++, () => now);
    countdown.start(1_000 + 10);
    countdown.start(1_000 + 20);
    countdown.start(1_000 + 30);
    assert.equal(timers.live.size, 1, 'one interval after three starts');
    now += 30_000;
    [...timers.live.values()][0]();
    assert.equal(elapsed, 1, 'the end of the round is reported once');
    assert.equal(timers.live.size, 0, 'the interval is cleared when the round ends');
    assert.equal(ticks.at(-1), 0);
    countdown.start(1_000 + 3_600 + 30);
    countdown.stop();
    assert.equal(timers.live.size, 0, 'stop() clears it');
    assert.equal(countdown.running, false);
  } finally {
    timers.restore();
  }
});

test('messages from the API and from MessageSentEvent normalise alike', () => {
  const stored = normaliseMessage({
    id: 'm1',
    chat: { id: 'c1' },
    message: { senderId: 'u1', content: 'Hi-CosmosPark', timestamp: 10 },
    seq: 4,
  });
  const pushed = normaliseMessage({
    type: 'MessageSentEvent',
    chatId: 'c1',
    senderId: 'u1',
    senderMessage: 'Hi-CosmosPark',
    timestamp: 10,
    messageId: 'm1',
    seq: 4,
  });
  assert.deepEqual(stored, pushed);
  assert.equal(stored.seq, 4);
  assert.equal(normaliseMessage({ id: 'x' }), null, 'no content, no message');
});

test('task text names the target and place, skipping unknown parts', () => {
  const text = taskText({
    taskDetail: { userName: 'bob', municipality: 'Pune', country: { subDivision: 'Maharashtra', name: 'India' } },
  });
  assert.equal(text, "Say 'Hi-CosmosPark' to bob in Pune, Maharashtra, India");
  assert.equal(taskText({ taskDetail: { userName: 'ann', country: {} } }), "Say 'Hi-CosmosPark' to ann");
});

test('a chat sorts by the server sequence, whatever the stamps and ids', () => {
  const at = (id, seq, timestamp) => ({ id, seq, timestamp });
  const sorted = [at('z', 3, 10), at('a', 2, 10), at('m', 1, 10), at('old', 0, 5)].sort(byOrder);
  assert.deepEqual(sorted.map((m) => m.id), ['old', 'm', 'a', 'z']);
});

test('the greeting rule matches the server: case, punctuation and whitespace around it', () => {
  for (const text of ['Hi-CosmosPark', 'hi-cosmospark!', '  HI-COSMOSPARK. ', '¡Hi-CosmosPark!', '"Hi-CosmosPark"']) {
    assert.ok(isGreeting(text), text);
  }
  for (const text of ['Hi CosmosPark', 'Hi-CosmosParks', 'Hi-CosmosPark friend', '']) {
    assert.ok(!isGreeting(text), text);
  }
});

test('initials: up to two, from letters or digits, uppercase; a stable colour per id', () => {
  assert.equal(initials('ada lovelace'), 'AL');
  assert.equal(initials('mallory the second'), 'MT');
  assert.equal(initials('<script>alert(1)</script>'), 'S');
  assert.equal(initials('  '), '?');
  assert.equal(initials('émile-zola'), 'ÉZ');
  assert.equal(hueOf('u1'), hueOf('u1'));
  assert.ok(hueOf('u1') >= 0 && hueOf('u1') < 8);
});

test('errors read as sentences, never as raw browser or server text', () => {
  assert.match(readable(new Unreachable()), /cannot be reached/);
  assert.match(readable(new ApiError(500, 'stack trace here')), /had a problem/);
  assert.match(readable(new ApiError(409, 'etag')), /Try again/);
  assert.equal(readable(new ApiError(400, 'name: too long')), 'name: too long');
  assert.match(readable(new TypeError('Failed to fetch')), /Something went wrong/);
});
