// The leaderboard with its 7-day / 30-day / all-time tabs (computed by the server) and my
// stats. Both refresh when a `ScoreUpdatedEvent` arrives; refreshes coalesce so a burst of
// events costs one request per view.

import { api, listOf } from './api.js';
import { el, replaceChildren } from './dom.js';

const TOP = 10;

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

  select(window) {
    if (!window) return;
    this.window = window;
    for (const tab of this.nodes.tabs) {
      const selected = tab.dataset.window === window;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    this.nodes.table.setAttribute('aria-labelledby', `tab-${window}`);
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
    const window = this.window;
    try {
      const data = await api.leaderboard(window, TOP);
      if (window !== this.window) return;
      this.render(listOf(data, 'standings', 'leaderboard', 'entries'));
    } catch (error) {
      this.nodes.status.textContent = `Could not load the leaderboard: ${error.message}`;
    }
  }

  render(standings) {
    this.nodes.status.textContent = standings.length ? '' : 'No scores yet in this period.';
    replaceChildren(
      this.nodes.body,
      standings.map((row, index) =>
        el(
          'tr',
          { class: row.userId === this.me.userId ? 'me' : null, dataset: { userId: row.userId } },
          el('td', { text: row.rank ?? index + 1 }),
          el('td', { text: row.userName ?? row.user?.name ?? '' }),
          el('td', { class: 'score', text: row.score ?? 0 }),
        ),
      ),
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
  }

  async fetch() {
    try {
      this.render(await api.stats(this.me.userId));
    } catch (error) {
      this.nodes.status.textContent = `Could not load your stats: ${error.message}`;
    }
  }

  render(stats) {
    const rows = STATS.filter(([key]) => typeof stats?.[key] === 'number').map(([key, label]) => [label, stats[key]]);
    this.nodes.status.textContent = rows.length ? '' : 'No stats yet: complete a task to score.';
    replaceChildren(
      this.nodes.list,
      rows.map(([label, value]) => [el('dt', { text: label }), el('dd', { text: value })]),
    );
  }
}
