// Time arithmetic for rounds and message stamps. Rounds are UTC hours; the server says when
// they start and end, the browser only counts down to `end`.

/** Whole seconds left until `endSeconds` (unix seconds) at `nowMs`, never negative. */
export function secondsLeft(endSeconds, nowMs) {
  return Math.max(0, Math.ceil(endSeconds - nowMs / 1000));
}

/** `MM:SS` for a countdown (an hour shows as `60:00`). */
export function formatCountdown(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const mm = String(Math.floor(s / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return `${mm}:${ss}`;
}

/** A short local time for a unix-seconds stamp: `14:05` today, else `3 Mar 14:05`. */
export function formatStamp(unixSeconds, now = new Date()) {
  if (!Number.isFinite(unixSeconds) || unixSeconds <= 0) return '';
  const date = new Date(unixSeconds * 1000);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === now.toDateString()) return time;
  const day = date.toLocaleDateString([], { day: 'numeric', month: 'short' });
  return `${day} ${time}`;
}

/**
 * One countdown timer. `start(end)` (re)arms it, `stop()` clears it; there is never more than
 * one interval, and `onElapsed` fires once per armed round.
 */
export class Countdown {
  constructor(onTick, onElapsed, clock = () => Date.now()) {
    this.onTick = onTick;
    this.onElapsed = onElapsed;
    this.clock = clock;
    this.handle = null;
    this.end = 0;
  }

  start(endSeconds) {
    this.stop();
    this.end = endSeconds;
    this.tick();
    if (this.end > 0 && this.handle === null && secondsLeft(this.end, this.clock()) > 0) {
      this.handle = setInterval(() => this.tick(), 1000);
    }
  }

  tick() {
    const left = secondsLeft(this.end, this.clock());
    this.onTick(left);
    if (left === 0) {
      this.stop();
      this.onElapsed();
    }
  }

  stop() {
    if (this.handle !== null) clearInterval(this.handle);
    this.handle = null;
  }

  get running() {
    return this.handle !== null;
  }
}
