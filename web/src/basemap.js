// The map's background: Azure Maps tiles when the deployment has Azure Maps (authenticated with
// the token of `maps-token.js`), else country outlines from world-atlas (bundled, works offline;
// what `cosmospark dev` shows).

import { feature } from 'topojson-client';
import countries from 'world-atlas/countries-110m.json';
import L from './leaflet-global.js';
import { MapsToken, loadMapsConfig } from './maps-token.js';

const ANTARCTICA = '010';
const TILE_URL = 'https://atlas.microsoft.com/map/tile?api-version=2024-04-01'
  + '&tilesetId=microsoft.base.road&tileSize=256';

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
export const loadConfig = loadMapsConfig;
