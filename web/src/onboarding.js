// First visit: choose a display name and a position (browser geolocation, a click on the
// map, or typed coordinates), then create the profile. The server fills in the address.

import L from './leaflet-global.js';
import { api, readable } from './api.js';
import { avatar } from './avatar.js';
import { addBasemap } from './basemap.js';
import { byId } from './dom.js';

/** Shows the onboarding form; resolves with the saved profile. */
export function onboard(principal, config) {
  const form = byId('onboarding-form');
  const name = byId('onboard-name');
  const lat = byId('onboard-lat');
  const lon = byId('onboard-lon');
  const error = byId('onboard-error');
  const locate = byId('onboard-locate');
  name.value ||= principal.userDetails ?? '';

  const map = L.map(byId('onboard-map'), { center: [20, 10], zoom: 1, worldCopyJump: true });
  addBasemap(map, config);
  let marker = null;
  const place = (latitude, longitude, fly) => {
    lat.value = latitude.toFixed(4);
    lon.value = longitude.toFixed(4);
    if (marker) marker.setLatLng([latitude, longitude]);
    else {
      const html = avatar({ id: principal.userId, name: name.value || principal.userDetails });
      const icon = L.divIcon({ className: 'pin pin-me', html, iconSize: [30, 30], iconAnchor: [15, 15] });
      marker = L.marker([latitude, longitude], { icon, title: 'Your position', keyboard: false }).addTo(map);
    }
    if (fly) map.setView([latitude, longitude], 5);
  };
  map.on('click', (event) => place(event.latlng.lat, L.Util.wrapNum(event.latlng.lng, [-180, 180], true), false));
  requestAnimationFrame(() => map.invalidateSize());

  locate.hidden = !('geolocation' in navigator);
  locate.addEventListener('click', () => {
    error.textContent = 'Finding you…';
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        error.textContent = '';
        place(pos.coords.latitude, pos.coords.longitude, true);
      },
      (failure) => {
        error.textContent = `Your browser did not share a location (${failure.message || 'denied'}). Click the map or type coordinates instead.`;
      },
      { timeout: 10000, maximumAge: 600000 },
    );
  });

  return new Promise((resolve) => {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const problem = validate(name.value, lat.value, lon.value);
      if (problem) {
        error.textContent = problem;
        return;
      }
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      error.textContent = 'Saving…';
      try {
        const profile = await api.saveProfile(name.value.trim(), Number(lat.value), Number(lon.value));
        error.textContent = '';
        map.remove();
        resolve(profile);
      } catch (failure) {
        error.textContent = `Your profile was not saved. ${readable(failure)} Press Start playing to try again.`;
        button.disabled = false;
      }
    });
  });
}

/** The first problem with the form's values, naming the field; null when fine. */
export function validate(name, latitude, longitude) {
  if (!name.trim()) return 'Name: enter the name other players will see.';
  if (name.trim().length > 64) return 'Name: use at most 64 characters.';
  if (latitude === '' || longitude === '') return 'Position: use your location, click the map, or type coordinates.';
  const la = Number(latitude);
  const lo = Number(longitude);
  if (!Number.isFinite(la) || la < -90 || la > 90) return 'Latitude: enter a number from -90 to 90.';
  if (!Number.isFinite(lo) || lo < -180 || lo > 180) return 'Longitude: enter a number from -180 to 180.';
  return null;
}
