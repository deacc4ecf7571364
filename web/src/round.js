// The current round: my three tasks and a countdown to the end of the UTC hour. The server
// owns round times and task assignment; the page only counts down to the `end` it was given
// and reloads when the round is over (or a `RoundStartedEvent` says so).

import { api, listOf, readable } from './api.js';
import { avatar } from './avatar.js';
import { el, replaceChildren } from './dom.js';
import { GREETING } from './greeting.js';
import { Countdown, formatCountdown } from './time.js';

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
  /** `onTargets(userIds)` hears which players this round's tasks name. */
  constructor({ me, nodes, notify, onSayHi, onTargets = () => {} }) {
    this.me = me;
    this.nodes = nodes;
    this.notify = notify;
    this.onSayHi = onSayHi;
    this.onTargets = onTargets;
    this.celebrated = null;
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
      this.onTargets(this.tasks.map((task) => task.taskDetail?.userId));
    } catch (error) {
      this.nodes.status.textContent = `Could not load this round. ${readable(error)}`;
      this.notify(`Could not load this round. ${readable(error)}`, {
        error: true,
        key: 'round-failed',
        retry: () => this.load(),
      });
    }
  }

  /** Whether a task of mine names `userId`: `open`, `done` (all such tasks done) or `none`. */
  targetState(userId) {
    const named = this.tasks.filter((task) => task.taskDetail?.userId === userId);
    if (named.length === 0) return 'none';
    return named.some((task) => !task.isCompleted) ? 'open' : 'done';
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
      this.notify(`Task done: +${task.points ?? 0} points`, { key: 'task-done' });
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
      this.notify(`Could not check the task. ${readable(error)}`, {
        error: true,
        retry: () => this.check(task, button),
      });
      button.disabled = false;
    }
  }

  render() {
    const done = this.tasks.filter((t) => t.isCompleted).length;
    const complete = this.tasks.length > 0 && done === this.tasks.length;
    this.nodes.status.textContent = this.tasks.length
      ? `${done} of ${this.tasks.length} done`
      : 'No tasks yet: they appear as other players join the map. Invite a friend to play.';
    this.renderComplete(complete);
    replaceChildren(
      this.nodes.list,
      this.tasks.map((task) => {
        const target = task.taskDetail ?? {};
        return el(
          'li',
          { class: task.isCompleted ? 'task done' : 'task', dataset: { taskId: task.id } },
          el('span', { class: 'task-mark', 'aria-hidden': 'true', text: task.isCompleted ? '✓' : '○' }),
          el('span', { class: 'task-text' }, avatar({ id: target.userId, name: target.userName }, { small: true }), ' ', taskText(task)),
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

  /** The round-complete moment: a banner in the panel and, once per round, a notice. */
  renderComplete(complete) {
    const node = this.nodes.complete;
    node.hidden = !complete;
    if (!complete) return;
    const points = this.tasks.reduce((sum, task) => sum + (Number(task.points) || 0), 0);
    node.textContent = `Round complete! All ${this.tasks.length} tasks done${points ? `, +${points} points` : ''}. New tasks come with the next round.`;
    const round = this.round?.roundId ?? '';
    if (this.celebrated !== round) {
      this.celebrated = round;
      this.notify(`Round complete: well done! ${this.tasks.length} of ${this.tasks.length} tasks.`, { key: 'round-complete' });
    }
  }

  destroy() {
    this.countdown.stop();
  }
}
