// Players' initials in place of profile pictures: one or two letters from the display name on
// a colour picked from the player's id, so the same player looks the same everywhere.

import { el } from './dom.js';

const HUES = 8;

/** Up to two initials of `name` (letters or digits of its first two words); `?` when none. */
export function initials(name) {
  const words = String(name ?? '')
    .split(/[\s\-_.]+/u)
    .map((word) => word.match(/[\p{L}\p{N}]/u)?.[0])
    .filter(Boolean);
  if (words.length === 0) return '?';
  return words
    .slice(0, 2)
    .join('')
    .toLocaleUpperCase();
}

/** A stable colour slot 0..7 for a player id. */
export function hueOf(id) {
  let hash = 0;
  for (const char of String(id ?? '')) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash % HUES;
}

/**
 * The avatar element. Decorative (the name is always written next to it or names its
 * control), so the initials are drawn by CSS from `data-initials` rather than being text a
 * control's visible label would have to include.
 */
export function avatar(user, { small = false } = {}) {
  return el('span', {
    class: `avatar h${hueOf(user?.id ?? user?.userId)}${small ? ' small' : ''}`,
    'aria-hidden': 'true',
    dataset: { initials: initials(user?.name ?? user?.userName) },
  });
}
