// The map's background: country outlines from world-atlas (bundled, works offline), or Azure
// Maps raster tiles when the deployment configures a tile URL in `/config.json`.

import { feature } from 'topojson-client';
import countries from 'world-atlas/countries-110m.json';
import L from './leaflet-global.js';

const ANTARCTICA = '010';

/** Adds the basemap to `map`. `config.azureMapsTileUrl` is a `{z}/{x}/{y}` template. */
export function addBasemap(map, config) {
  if (typeof config?.azureMapsTileUrl === 'string' && config.azureMapsTileUrl.startsWith('https://')) {
    L.tileLayer(config.azureMapsTileUrl, {
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

/** The optional deployment configuration (`/config.json`); `{}` when absent. */
export async function loadConfig() {
  try {
    const response = await fetch('/config.json', { credentials: 'same-origin' });
    if (!response.ok) return {};
    const type = response.headers.get('content-type') ?? '';
    return type.includes('json') ? await response.json() : {};
  } catch {
    return {};
  }
}
