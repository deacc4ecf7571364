// Azure Maps access for the map control: a short-lived Entra ID token from `GET /api/azMap/token`
// (issued for the Function App's managed identity) plus the Maps account's client id, sent as
// `Authorization` and `x-ms-client-id` headers. No key is ever in the page. The token is renewed
// on a timer before it expires.

/** Renew this long before expiry (and at the latest after half the lifetime). */
export const RENEW_BEFORE_MS = 5 * 60 * 1000;
/** The shortest wait between renewals (also the retry delay after a failed renewal). */
export const RETRY_MS = 30 * 1000;

/** Milliseconds from `now` until a token expiring at `expires` should be renewed. */
export function renewDelay(expires, now) {
  const lifetime = expires - now;
  return Math.max(Math.min(lifetime - RENEW_BEFORE_MS, lifetime / 2), RETRY_MS);
}

/** `{accessToken, clientId, expires}` from the API, or null when Azure Maps is not set up. */
export async function fetchMapsToken(fetchFn = globalThis.fetch) {
  try {
    const response = await fetchFn('/api/azMap/token', { credentials: 'same-origin' });
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

/** The current token, renewed before it expires; `stop()` ends the renewals. */
export class MapsToken {
  constructor(token, { fetchToken = fetchMapsToken, now = Date.now, timers = globalThis } = {}) {
    this.token = token;
    this.fetchToken = fetchToken;
    this.now = now;
    this.timers = timers;
    this.timer = null;
    this.schedule();
    globalThis.addEventListener?.('pagehide', () => this.stop(), { once: true });
  }

  schedule() {
    this.timer = this.timers.setTimeout(() => this.renew(), renewDelay(this.token.expires, this.now()));
  }

  async renew() {
    const fresh = await this.fetchToken();
    if (this.timer === null) return;
    if (fresh) this.token = fresh;
    this.schedule();
  }

  stop() {
    this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  /** The headers an Azure Maps request needs now. */
  headers() {
    return { authorization: `Bearer ${this.token.accessToken}`, 'x-ms-client-id': this.token.clientId };
  }
}

/** `{maps: MapsToken}` when the API hands out Azure Maps tokens (in Azure), `{}` otherwise. */
export async function loadMapsConfig() {
  const token = await fetchMapsToken();
  return token ? { maps: new MapsToken(token) } : {};
}
