// The map's background: Azure Maps tiles when the deployment has Azure Maps, else country
// outlines from world-atlas (bundled, works offline; what `cosmospark dev` shows).
//
// Azure Maps is reached with a short-lived Entra ID token from `GET /api/azMap/token` (the
// Function App's managed identity) and the account's client id, sent as `Authorization` and
// `x-ms-client-id` headers on each tile request; no key is ever in the page. The token is
// renewed before it expires.

import { feature } from 'topojson-client';
import countries from 'world-atlas/countries-110m.json';
import L from './leaflet-global.js';

const ANTARCTICA = '010';
const TILE_URL = 'https://atlas.microsoft.com/map/tile?api-version=2024-04-01'
  + '&tilesetId=microsoft.base.road&tileSize=256';
/** Renew this long before expiry (and at the latest after half the lifetime). */
const RENEW_BEFORE_MS = 5 * 60 * 1000;
const RETRY_MS = 30 * 1000;

/** Adds the basemap to `map`: Azure Maps tiles when `config.maps` holds a token, else outlines. */
export function addBasemap(map, config) {
  if (config?.maps instanceof MapsToken) {
    new AzureMapsLayer(config.maps, {
      maxZoom: 18,
      attribution: '© Microsoft Azure Maps, © TomTom',
    }).addTo(map);
    return;
  }
  const land = feature(countries, countries.objects.countries);
  // Antarctica's outline runs to the pole, which Web Mercator draws as a band across the map.
  land.features = land.features.filter((country) => country.id !== ANTARCTICA);
  for (const country of land.features) unwrapAntimeridian(country.geometry);
  L.geoJSON(land, {
    interactive: false,
    style: { color: '#7c8aa5', weight: 0.7, fillColor: '#e9edf4', fillOpacity: 1 },
  }).addTo(map);
  map.attributionControl.addAttribution('Outlines: Natural Earth via world-atlas');
}

/**
 * Rings that cross the antimeridian (Fiji, Chukotka) jump from +180 to -180, which a flat map
 * draws as a line across the world; moving their western points by 360° keeps them whole.
 */
function unwrapAntimeridian(geometry) {
  const polygons = geometry?.type === 'Polygon' ? [geometry.coordinates] : (geometry?.coordinates ?? []);
  for (const polygon of polygons) {
    for (const ring of polygon) {
      const crosses = ring.some((point, i) => i > 0 && Math.abs(point[0] - ring[i - 1][0]) > 180);
      if (!crosses) continue;
      for (const point of ring) if (point[0] < 0) point[0] += 360;
    }
  }
}

/** `{accessToken, expiresOn, clientId}` from the API, or null when Azure Maps is not set up. */
async function fetchMapsToken() {
  try {
    const response = await fetch('/api/azMap/token', { credentials: 'same-origin' });
    if (!response.ok) return null;
    const token = await response.json();
    const expires = Date.parse(token?.expiresOn);
    if (typeof token?.accessToken !== 'string' || typeof token?.clientId !== 'string') return null;
    if (!Number.isFinite(expires)) return null;
    return { accessToken: token.accessToken, clientId: token.clientId, expires };
  } catch {
    return null;
  }
}

/** The current Azure Maps token, renewed on a timer before it expires. */
export class MapsToken {
  constructor(token) {
    this.token = token;
    this.timer = null;
    this.schedule();
    addEventListener('pagehide', () => clearTimeout(this.timer), { once: true });
  }

  schedule() {
    const lifetime = this.token.expires - Date.now();
    const delay = Math.max(Math.min(lifetime - RENEW_BEFORE_MS, lifetime / 2), RETRY_MS);
    this.timer = setTimeout(() => this.renew(), delay);
  }

  async renew() {
    const fresh = await fetchMapsToken();
    if (fresh) this.token = fresh;
    this.schedule();
  }

  headers() {
    return { authorization: `Bearer ${this.token.accessToken}`, 'x-ms-client-id': this.token.clientId };
  }
}

/** Tiles fetched with the token's headers (an `<img src>` cannot carry them). */
const AzureMapsLayer = L.GridLayer.extend({
  initialize(token, options) {
    this.mapsToken = token;
    L.setOptions(this, options);
  },

  createTile(coords, done) {
    const tile = document.createElement('img');
    tile.alt = '';
    const url = `${TILE_URL}&zoom=${coords.z}&x=${coords.x}&y=${coords.y}`;
    fetch(url, { headers: this.mapsToken.headers() })
      .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(`tile ${response.status}`))))
      .then((blob) => {
        const src = URL.createObjectURL(blob);
        tile.onload = () => {
          URL.revokeObjectURL(src);
          done(null, tile);
        };
        tile.src = src;
      })
      .catch((error) => done(error, tile));
    return tile;
  },
});

/**
 * The map configuration: `{maps: MapsToken}` when the API hands out Azure Maps tokens (in Azure),
 * `{}` otherwise (`cosmospark dev` answers 503: the offline outlines are used).
 */
export async function loadConfig() {
  const token = await fetchMapsToken();
  return token ? { maps: new MapsToken(token) } : {};
}
