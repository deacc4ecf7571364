// Notices in the page header: they push the game down rather than cover it, each can be
// closed, the same notice twice becomes one with a count, and an error can offer a retry.

import { el, replaceChildren } from './dom.js';

const SHOWN_MS = 8000;
const ERROR_SHOWN_MS = 20000;
const LIMIT = 3;

export class Notices {
  constructor(region) {
    this.region = region;
    this.items = new Map();
  }

  /**
   * Shows `text`. Options: `key` (notices with the same key replace each other; the text by
   * default), `error` (styled as a problem, shown longer), `retry` (a Retry button runs it).
   */
  show(text, { key = text, error = false, retry = null } = {}) {
    const existing = this.items.get(key);
    const count = existing && existing.text === text ? existing.count + 1 : 1;
    if (existing) this.remove(key);
    const item = { text, count, error, retry, node: null, timer: null };
    item.node = this.render(key, item);
    item.timer = setTimeout(() => this.remove(key), error ? ERROR_SHOWN_MS : SHOWN_MS);
    this.items.set(key, item);
    this.region.append(item.node);
    while (this.items.size > LIMIT) this.remove(this.items.keys().next().value);
  }

  render(key, item) {
    const node = el('li', { class: item.error ? 'notice error' : 'notice', dataset: { key } });
    replaceChildren(
      node,
      el('span', { class: 'notice-text', text: item.count > 1 ? `${item.text} (×${item.count})` : item.text }),
      item.retry
        ? el(
            'button',
            {
              type: 'button',
              class: 'retry',
              onClick: () => {
                this.remove(key);
                item.retry();
              },
            },
            'Retry',
          )
        : null,
      el(
        'button',
        { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss notice', onClick: () => this.remove(key) },
        '×',
      ),
    );
    return node;
  }

  remove(key) {
    const item = this.items.get(key);
    if (!item) return;
    clearTimeout(item.timer);
    item.node.remove();
    this.items.delete(key);
  }

  clear() {
    for (const key of [...this.items.keys()]) this.remove(key);
  }
}
