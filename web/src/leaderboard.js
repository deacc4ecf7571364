// The leaderboard with its 7-day / 30-day / all-time tabs (computed by the server) and my
// stats. Both refresh when a `ScoreUpdatedEvent` arrives; refreshes coalesce so a burst of
// events costs one request per view.

import { api, listOf, readable } from './api.js';
import { avatar } from './avatar.js';
import { el, replaceChildren } from './dom.js';

const TOP = 10;
/** After a push, the read side catches up within moments: read again on this schedule. */
const CATCH_UP_MS = [400, 1500, 4000];

/** Runs `task` now, or once more after the running call when asked again meanwhile. */
function coalesced(task) {
  let running = null;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await task();
      } while (again);
    })().finally(() => {
      running = null;
    });
    return running;
  };
  return run;
}

export class Leaderboard {
  constructor({ nodes, me }) {
    this.nodes = nodes;
    this.me = me;
    this.window = '7d';
    this.refresh = coalesced(() => this.fetch());
    for (const tab of nodes.tabs) {
      tab.addEventListener('click', () => this.select(tab.dataset.window));
      tab.addEventListener('keydown', (event) => this.arrowKeys(event));
    }
  }

  /** Scores or names changed: refresh now and as the read side catches up. */
  changed() {
    for (const timer of this.timers ?? []) clearTimeout(timer);
    this.refresh();
    this.timers = CATCH_UP_MS.map((ms) => setTimeout(() => this.refresh(), ms));
  }

  select(period) {
    if (!period) return;
    this.window = period;
    for (const tab of this.nodes.tabs) {
      const selected = tab.dataset.window === period;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    this.nodes.table.setAttribute('aria-labelledby', `tab-${period}`);
    this.refresh();
  }

  arrowKeys(event) {
    const tabs = [...this.nodes.tabs];
    const at = tabs.indexOf(event.currentTarget);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(at + step + tabs.length) % tabs.length];
    next.focus();
    this.select(next.dataset.window);
  }

  async fetch() {
    const period = this.window;
    try {
      const data = await api.leaderboard(period, TOP);
      if (period !== this.window) return;
      this.render(listOf(data, 'standings', 'leaderboard', 'entries'));
    } catch (error) {
      this.nodes.status.textContent = `Could not load the leaderboard. ${readable(error)}`;
    }
  }

  render(standings) {
    this.nodes.status.textContent = standings.length
      ? ''
      : 'No scores yet in this period. Complete a task (greet a player named under This round) to get on the board.';
    const ranks = standings.map((row, index) => row.rank ?? index + 1);
    replaceChildren(
      this.nodes.body,
      standings.map((row, index) => {
        const rank = ranks[index];
        // Tied players share a rank number; the tie is said, not only seen.
        const tied = ranks.filter((r) => r === rank).length > 1;
        const name = row.userName ?? row.user?.name ?? '';
        return el(
          'tr',
          { class: row.userId === this.me.userId ? 'me' : null, dataset: { userId: row.userId, rank } },
          el('td', { class: 'rank', text: rank, 'aria-label': tied ? `${rank}, tied` : null }),
          el('td', { class: 'name' }, el('span', { class: 'board-name' }, avatar({ id: row.userId, name }, { small: true }), el('span', { text: name }))),
          el('td', { class: 'score', text: row.score ?? 0 }),
        );
      }),
    );
  }
}

/** The stats shown, in order, with their labels (`GET /api/stats/{me}` field names). */
const STATS = [
  ['score', 'Total score'],
  ['rank', 'Rank (all time)'],
  ['score7d', 'Last 7 days'],
  ['score30d', 'Last 30 days'],
  ['tasksCompleted', 'Tasks completed'],
  ['messagesSent', 'Messages sent'],
  ['messagesReceived', 'Messages received'],
  ['countriesGreeted', 'Countries greeted'],
];

export class Stats {
  constructor({ nodes, me }) {
    this.nodes = nodes;
    this.me = me;
    this.refresh = coalesced(() => this.fetch());
    this.timers = [];
  }

  /** Something I did or received changed my stats: refresh now and as the read side catches up. */
  changed() {
    for (const timer of this.timers) clearTimeout(timer);
    this.refresh();
    this.timers = CATCH_UP_MS.map((ms) => setTimeout(() => this.refresh(), ms));
  }

  async fetch() {
    try {
      this.render(await api.stats(this.me.userId));
    } catch (error) {
      this.nodes.status.textContent = `Could not load your stats. ${readable(error)}`;
    }
  }

  destroy() {
    for (const timer of this.timers) clearTimeout(timer);
  }

  render(stats) {
    const rows = STATS.filter(([key]) => typeof stats?.[key] === 'number').map(([key, label]) => [label, stats[key]]);
    this.nodes.status.textContent = rows.length ? '' : 'No stats yet: send a message or complete a task and they appear here.';
    replaceChildren(
      this.nodes.list,
      rows.map(([label, value]) => [el('dt', { text: label }), el('dd', { text: value })]),
    );
  }
}
