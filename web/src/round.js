// The current round: my three tasks and a countdown to the end of the UTC hour. The server
// owns round times and task assignment; the page only counts down to the `end` it was given
// and reloads when the round is over (or a `RoundStartedEvent` says so).

import { api, listOf } from './api.js';
import { el, replaceChildren } from './dom.js';
import { Countdown, formatCountdown } from './time.js';
import { GREETING } from './chat.js';

/** What a task asks, from its target's profile fields. */
export function taskText(task) {
  const detail = task?.taskDetail ?? {};
  const country = detail.country ?? {};
  const place = [detail.municipality ?? country.secondarySubDivision, country.subDivision, country.name]
    .filter((p) => typeof p === 'string' && p.trim());
  const where = place.length ? ` in ${[...new Set(place)].join(', ')}` : '';
  return `Say '${GREETING}' to ${detail.userName ?? 'a player'}${where}`;
}

export class RoundPanel {
  constructor({ me, nodes, notify, onSayHi }) {
    this.me = me;
    this.nodes = nodes;
    this.notify = notify;
    this.onSayHi = onSayHi;
    this.round = null;
    this.tasks = [];
    this.loading = null;
    this.countdown = new Countdown(
      (left) => {
        this.nodes.countdown.textContent = formatCountdown(left);
        this.nodes.countdown.setAttribute('datetime', `PT${left}S`);
      },
      () => this.load(),
    );
  }

  /** Loads the round and my tasks; concurrent calls share one load. */
  load() {
    this.loading ??= this.fetch().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  async fetch() {
    try {
      const round = await api.round();
      this.round = round;
      this.nodes.roundId.textContent = round?.roundId ?? '';
      this.countdown.start(Number(round?.end) || 0);
      const tasks = await api.tasks(this.me.userId, round.start, round.end);
      this.tasks = listOf(tasks, 'tasks');
      this.render();
    } catch (error) {
      this.nodes.status.textContent = `Could not load this round: ${error.message}`;
    }
  }

  /** `RoundStartedEvent` */
  onRoundStarted(event) {
    if (event?.roundId && event.roundId === this.round?.roundId) return;
    this.load();
  }

  /** `TaskCompletedEvent` */
  onTaskCompleted(event) {
    const task = this.tasks.find((t) => t.id === event?.taskId);
    if (!task) {
      this.load();
      return;
    }
    if (!task.isCompleted) {
      task.isCompleted = true;
      task.points = event.points ?? task.points;
      this.notify(`Task done: +${task.points ?? 0} points`);
    }
    this.render();
  }

  async check(task, button) {
    if (task.isCompleted || !this.round) return;
    button.disabled = true;
    try {
      const result = await api.completeTask(task.id, this.me.userId, this.round.start, this.round.end);
      if (result?.success) {
        task.isCompleted = true;
        this.render();
      } else {
        this.notify(`Not done yet: send '${GREETING}' to ${task.taskDetail?.userName ?? 'them'} first.`);
        button.disabled = false;
      }
    } catch (error) {
      this.notify(`Could not check the task: ${error.message}`);
      button.disabled = false;
    }
  }

  render() {
    const done = this.tasks.filter((t) => t.isCompleted).length;
    this.nodes.status.textContent = this.tasks.length
      ? `${done} of ${this.tasks.length} done`
      : 'No tasks yet: they appear as other players join the map.';
    replaceChildren(
      this.nodes.list,
      this.tasks.map((task) => {
        const target = task.taskDetail ?? {};
        return el(
          'li',
          { class: task.isCompleted ? 'task done' : 'task', dataset: { taskId: task.id } },
          el('span', { class: 'task-mark', 'aria-hidden': 'true', text: task.isCompleted ? '✓' : '○' }),
          el('span', { class: 'task-text', text: taskText(task) }),
          task.isCompleted
            ? el('span', { class: 'task-points', text: `+${task.points ?? ''}`.replace(/\+$/, 'done') })
            : el(
                'span',
                { class: 'task-actions' },
                el(
                  'button',
                  {
                    type: 'button',
                    class: 'say-hi',
                    'aria-label': `Say Hi to ${target.userName ?? 'this player'}`,
                    onClick: () => this.onSayHi({ id: target.userId, name: target.userName }),
                  },
                  'Say Hi',
                ),
                el(
                  'button',
                  {
                    type: 'button',
                    class: 'secondary',
                    'aria-label': `Check task: ${taskText(task)}`,
                    onClick: (event) => this.check(task, event.currentTarget),
                  },
                  'Check',
                ),
              ),
        );
      }),
    );
  }

  destroy() {
    this.countdown.stop();
  }
}
