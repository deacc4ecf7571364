// The world map: every player as a clustered marker (their initials, named for screen readers)
// with a popup offering "Say Hi", plus the same players as a plain list for keyboard and
// screen-reader users. The map redraws whenever its box changes size, and the first view frames
// me and my task targets.

import L from './leaflet-global.js';
import 'leaflet.markercluster';
import { avatar } from './avatar.js';
import { addBasemap } from './basemap.js';
import { el, replaceChildren } from './dom.js';

const WORLD = { center: [20, 10], zoom: 2 };

/** A `divIcon` whose element is built by `build()` and carries an accessible name. */
const NamedIcon = L.DivIcon.extend({
  createIcon(old) {
    const div = L.DivIcon.prototype.createIcon.call(this, old);
    div.replaceChildren(this.options.build());
    div.setAttribute('aria-label', this.options.label);
    return div;
  },
});

/** The icon of a group of players: how many, said in words as well. */
function clusterIcon(cluster) {
  const count = cluster.getChildCount();
  return new NamedIcon({
    className: 'cluster',
    iconSize: [36, 36],
    label: `${count} players here: zoom in to see them`,
    build: () => el('span', { 'aria-hidden': 'true', text: count }),
  });
}

/** A player's position as numbers, or null when the profile has none. */
export function positionOf(user) {
  const position = user?.address?.position ?? user?.position;
  const lat = Number(position?.latitude);
  const lon = Number(position?.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return null;
  return [lat, lon];
}

/** A short place label from a profile's address (`city, state, country`). */
export function placeOf(user) {
  const address = user?.address;
  const country = address?.country ?? {};
  const parts = [address?.municipality ?? country.secondarySubDivision, country.subDivision, country.name];
  return [...new Set(parts.filter((p) => typeof p === 'string' && p.trim()))].join(', ');
}

export class PlayerMap {
  /** `onSayHi(user)` opens a chat with `user`. */
  constructor({ mapNode, listNode, countNode, config, me, onSayHi }) {
    this.me = me;
    this.onSayHi = onSayHi;
    this.listNode = listNode;
    this.countNode = countNode;
    this.players = new Map();
    this.markers = new Map();
    // Quarter zoom steps down to the whole world in 256 px: a phone can frame Seattle and Sydney.
    this.map = L.map(mapNode, { worldCopyJump: true, minZoom: 0, maxZoom: 18, zoomSnap: 0.25, ...WORLD });
    addBasemap(this.map, config);
    this.cluster = L.markerClusterGroup({
      showCoverageOnHover: false,
      maxClusterRadius: 40,
      iconCreateFunction: clusterIcon,
    });
    this.map.addLayer(this.cluster);
    this.targets = [];
    // Leaflet measures its box once; a layout change (screen shown, window or panel resized)
    // would otherwise leave part of the map undrawn.
    this.resizer = new ResizeObserver(() => this.map.invalidateSize({ pan: false }));
    this.resizer.observe(mapNode);
  }

  /** Replaces every player (after a load or a reconnect). */
  setPlayers(users) {
    this.players.clear();
    this.markers.clear();
    this.cluster.clearLayers();
    for (const user of users) this.put(user, false);
    this.renderList();
    this.frame();
  }

  /** The players my round's tasks name: the first view frames them with me. */
  setTargets(userIds) {
    this.targets = [...new Set(userIds)].filter((id) => id && id !== this.me.userId).sort();
    this.frame();
  }

  /**
   * Fits me and my targets (everyone, before my tasks are known), once per set of targets and
   * only when all of them are on the map, so a player's own panning is left alone.
   */
  frame() {
    const key = this.targets.join(',');
    if (this.framedFor === key || this.markers.size === 0) return;
    const wanted = [this.me.userId, ...this.targets].map((id) => positionOf(this.players.get(id)));
    if (wanted.some((at) => !at)) return;
    this.framedFor = key;
    const bounds = this.targets.length > 0 ? L.latLngBounds(wanted) : this.cluster.getBounds();
    const pad = Math.min(40, Math.round(this.map.getSize().x / 16));
    this.map.fitBounds(bounds, { padding: [pad, pad], maxZoom: 4, animate: false });
  }

  /** Adds or moves one player (a `UserCreatedEvent` or a refreshed profile). */
  upsertPlayer(user) {
    this.put(user, true);
    this.renderList();
    this.frame();
  }

  put(user, replace) {
    if (!user?.id) return;
    const at = positionOf(user);
    if (replace && this.markers.has(user.id)) {
      this.cluster.removeLayer(this.markers.get(user.id));
      this.markers.delete(user.id);
    }
    this.players.set(user.id, user);
    if (!at) return;
    const self = user.id === this.me.userId;
    const place = placeOf(user);
    const icon = new NamedIcon({
      className: self ? 'pin pin-me' : 'pin',
      iconSize: [30, 30],
      iconAnchor: [15, 15],
      popupAnchor: [0, -14],
      label: `${self ? `${user.name} (you)` : user.name}${place ? `, ${place}` : ''}`,
      build: () => avatar(user),
    });
    const marker = L.marker(at, { icon, title: user.name, keyboard: true });
    // Keep an opened popup clear of the zoom buttons in the top-left corner.
    marker.bindPopup(() => this.popup(user), { autoPanPaddingTopLeft: [60, 20] });
    this.markers.set(user.id, marker);
    this.cluster.addLayer(marker);
  }

  popup(user) {
    const self = user.id === this.me.userId;
    return el(
      'div',
      { class: 'popup', dataset: { userId: user.id } },
      el('div', { class: 'popup-head' }, avatar(user), el('strong', { class: 'popup-name', text: user.name })),
      placeOf(user) ? el('div', { class: 'popup-place', text: placeOf(user) }) : null,
      self
        ? el('div', { class: 'popup-self', text: 'This is you' })
        : el('button', { type: 'button', class: 'say-hi', onClick: () => this.sayHi(user) }, 'Say Hi'),
    );
  }

  sayHi(user) {
    this.map.closePopup();
    this.onSayHi(user);
  }

  /** Centres the map on a player. */
  focus(userId, zoom = 5) {
    const at = positionOf(this.players.get(userId));
    if (at) this.map.setView(at, Math.max(this.map.getZoom(), zoom));
  }

  renderList() {
    const users = [...this.players.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    this.countNode.textContent = String(users.length);
    const alone = users.every((user) => user.id === this.me.userId);
    replaceChildren(
      this.listNode,
      alone ? el('li', { class: 'empty-state', text: 'Nobody else is playing yet. Invite a friend: tasks appear as players join.' }) : null,
      users.map((user) => {
        const self = user.id === this.me.userId;
        return el(
          'li',
          { class: 'player', dataset: { userId: user.id } },
          avatar(user, { small: true }),
          el('span', { class: 'player-name', text: self ? `${user.name} (you)` : user.name }),
          el('span', { class: 'player-place', text: placeOf(user) }),
          self
            ? null
            : el(
                'button',
                { type: 'button', class: 'say-hi', 'aria-label': `Say Hi to ${user.name}`, onClick: () => this.onSayHi(user) },
                'Say Hi',
              ),
        );
      }),
    );
  }

  /** The map's container changed size (screen shown, layout change). */
  resize() {
    this.map.invalidateSize();
  }

  destroy() {
    this.resizer.disconnect();
    this.map.remove();
  }
}
