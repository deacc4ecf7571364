// leaflet.markercluster is a UMD plugin that extends the global `L`; this module runs first
// so the global exists when the plugin is evaluated.
import L from 'leaflet';

globalThis.L = L;
export default L;
