// The world map: every player as a clustered marker with a popup offering "Say Hi", plus the
// same players as a plain list for keyboard and screen-reader users.

import L from './leaflet-global.js';
import 'leaflet.markercluster';
import { addBasemap } from './basemap.js';
import { el, replaceChildren } from './dom.js';

const WORLD = { center: [20, 10], zoom: 2 };

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
    this.map = L.map(mapNode, { worldCopyJump: true, minZoom: 1, maxZoom: 18, ...WORLD });
    addBasemap(this.map, config);
    this.cluster = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40 });
    this.map.addLayer(this.cluster);
  }

  /** Replaces every player (after a load or a reconnect). */
  setPlayers(users) {
    this.players.clear();
    this.markers.clear();
    this.cluster.clearLayers();
    for (const user of users) this.put(user, false);
    this.renderList();
    if (!this.framed && this.markers.size > 0) {
      this.framed = true;
      this.map.fitBounds(this.cluster.getBounds(), { padding: [30, 30], maxZoom: 4 });
    }
  }

  /** Adds or moves one player (a `UserCreatedEvent` or a refreshed profile). */
  upsertPlayer(user) {
    this.put(user, true);
    this.renderList();
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
    const icon = L.divIcon({
      className: self ? 'pin pin-me' : 'pin',
      html: '',
      iconSize: [22, 22],
      iconAnchor: [11, 22],
      popupAnchor: [0, -20],
    });
    const marker = L.marker(at, { icon, title: user.name, alt: user.name, keyboard: true });
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
      el('strong', { class: 'popup-name', text: user.name }),
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
    replaceChildren(
      this.listNode,
      users.map((user) => {
        const self = user.id === this.me.userId;
        return el(
          'li',
          { class: 'player', dataset: { userId: user.id } },
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
    this.map.remove();
  }
}
