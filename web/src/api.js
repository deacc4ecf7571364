// The game API client: one `request` that speaks JSON, notices an expired session, and turns
// error bodies into messages a person can read.

/** The session is gone (401, or Static Web Apps redirected the call to its sign-in page). */
export class SignedOut extends Error {
  constructor() {
    super('You are signed out. Sign in again to continue.');
    this.name = 'SignedOut';
  }
}

/** A non-2xx answer; `message` is the server's explanation when it gave one. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** No answer at all: the network is down or the server is unreachable. */
export class Unreachable extends Error {
  constructor() {
    super('CosmosPark cannot be reached. Check your connection.');
    this.name = 'Unreachable';
  }
}

/** What to tell a person about a failed request (never a raw browser or server error). */
export function readable(error) {
  if (error instanceof Unreachable || error instanceof SignedOut) return error.message;
  if (error instanceof ApiError) {
    if (error.status === 409 || error.status === 412) return 'Something changed at the same time. Try again.';
    if (error.status === 429) return 'CosmosPark is busy. Wait a moment and try again.';
    if (error.status >= 500) return 'CosmosPark had a problem. Try again in a moment.';
    return error.message;
  }
  return 'Something went wrong. Try again.';
}

const listeners = new Set();

/** `callback()` runs once per request that finds the session gone. */
export function onSignedOut(callback) {
  listeners.add(callback);
  return () => listeners.delete(callback);
}

async function request(method, path, body, { withHeaders = false } = {}) {
  const init = {
    method,
    headers: { accept: 'application/json' },
    credentials: 'same-origin',
    // A 401 on /api is rewritten into a redirect to the sign-in page; see it, don't follow it.
    redirect: 'manual',
  };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new Unreachable();
  }
  if (response.type === 'opaqueredirect' || response.status === 401) {
    for (const listener of listeners) listener();
    throw new SignedOut();
  }
  if (response.status === 204) return withHeaders ? { data: null, headers: response.headers } : null;
  const text = await response.text();
  const data = parseJson(text);
  if (!response.ok) {
    throw new ApiError(response.status, errorMessage(response.status, data, text));
  }
  return withHeaders ? { data, headers: response.headers } : data;
}

function parseJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorMessage(status, data, text) {
  if (data && typeof data === 'object') {
    const detail = data.error?.message ?? data.message ?? data.error ?? data.detail ?? data.title;
    if (typeof detail === 'string' && detail) return detail;
  }
  if (text && text.length < 300 && !text.trimStart().startsWith('<')) return text;
  return `The server answered ${status}.`;
}

const seg = (value) => encodeURIComponent(String(value));

export const api = {
  me: async () => {
    const response = await fetch('/.auth/me', { credentials: 'same-origin' });
    if (!response.ok) return null;
    const data = await response.json();
    return data?.clientPrincipal ?? null;
  },
  profile: (userId) => request('GET', `/api/user/${seg(userId)}`),
  saveProfile: (name, latitude, longitude) =>
    request('POST', '/api/user', { name, position: { latitude, longitude } }),
  users: () => request('GET', '/api/users'),
  sendMessage: (toUserId, content, messageId) =>
    request('POST', '/api/chat', { toUserId, content, messageId }),
  chats: (userId) => request('GET', `/api/chats/user/${seg(userId)}`),
  /** One page of a chat, oldest first; `before` is the cursor of the next older page. */
  messages: async (chatId, before, limit = 30) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before) query.set('before', before);
    const { data, headers } = await request('GET', `/api/chats/${seg(chatId)}?${query}`, undefined, {
      withHeaders: true,
    });
    const cursor = headers.get('x-next-before') ?? data?.before ?? data?.nextBefore ?? null;
    return { messages: listOf(data, 'messages'), before: cursor || null };
  },
  markRead: (chatId) => request('POST', `/api/chats/${seg(chatId)}/read`, {}),
  typing: (chatId) => request('POST', `/api/chats/${seg(chatId)}/typing`, {}),
  round: () => request('GET', '/api/round'),
  tasks: (userId, start, end) =>
    request('GET', `/api/tasks/users/${seg(userId)}/timestamp/${seg(start)}/${seg(end)}`),
  completeTask: (taskId, userId, start, end) =>
    request(
      'POST',
      `/api/tasks/${seg(taskId)}/users/${seg(userId)}/timestamp/${seg(start)}/${seg(end)}`,
      {},
    ),
  leaderboard: (window, top = 10) =>
    request('GET', `/api/leaderboards?window=${seg(window)}&top=${seg(top)}`),
  stats: (userId) => request('GET', `/api/stats/${seg(userId)}`),
  pubsub: () => request('GET', '/api/pubsub/connection'),
  address: (latitude, longitude) =>
    request('GET', `/api/azMap/addressLookup/${seg(latitude)}/${seg(longitude)}`),
};

/** The array inside a list answer, whether bare or wrapped (`items`, `messages`, …). */
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === 'object') {
    for (const key of [...keys, 'items', 'value', 'data']) {
      if (Array.isArray(data[key])) return data[key];
    }
  }
  return [];
}
