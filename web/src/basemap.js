// The map's background: country outlines from world-atlas (bundled, works offline), or Azure
// Maps raster tiles when the deployment configures a tile URL in `/config.json`.

import { feature } from 'topojson-client';
import countries from 'world-atlas/countries-110m.json';
import L from './leaflet-global.js';

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
  L.geoJSON(land, {
    interactive: false,
    style: { color: '#7c8aa5', weight: 0.7, fillColor: '#e9edf4', fillOpacity: 1 },
  }).addTo(map);
  map.attributionControl.addAttribution('Outlines: Natural Earth via world-atlas');
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
