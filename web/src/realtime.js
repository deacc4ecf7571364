// Live updates through the official Web PubSub client. The connection is negotiated through
// `/api/pubsub/connection` on every fresh connect; the client itself recovers a dropped
// connection (reliable protocol) or reconnects with a new URL. Nothing here polls.
//
// The server decides what each user receives (pushes to the user and to groups granted in the
// access token), so the page never joins groups itself.

import { WebPubSubClient } from '@azure/web-pubsub-client';
import { api } from './api.js';

/**
 * Starts the connection. `handlers[type](data)` runs for each message whose `data.type` is
 * `type`; `onStatus('online' | 'offline')` follows the connection; `onResync()` runs after a
 * reconnect that may have missed messages. Returns `stop()`.
 */
export function connectRealtime({ handlers, onStatus, onResync }) {
  let everConnected = false;
  let stopped = false;
  const client = new WebPubSubClient({
    getClientAccessUrl: async () => {
      const info = await api.pubsub();
      if (!info?.url) throw new Error('/api/pubsub/connection gave no url');
      return info.url;
    },
  });

  const dispatch = (event) => {
    const data = parsePayload(event.message?.data);
    const handler = data && handlers[data.type];
    if (!handler) return;
    try {
      handler(data);
    } catch (error) {
      console.error(`handling ${data.type} failed`, error);
    }
  };
  client.on('server-message', dispatch);
  client.on('group-message', dispatch);
  client.on('connected', () => {
    retryDelay = 2000;
    onStatus('online');
    // A new connection (not a recovered one) may have missed pushes while it was down.
    if (everConnected) onResync();
    everConnected = true;
  });
  client.on('disconnected', () => onStatus('offline'));
  client.on('stopped', () => {
    onStatus('offline');
    if (!stopped) retryStart();
  });

  let retryHandle = null;
  let retryDelay = 2000;
  const retryStart = () => {
    clearTimeout(retryHandle);
    retryHandle = setTimeout(() => {
      client.start().catch(() => {
        retryDelay = Math.min(retryDelay * 2, 60000);
        if (!stopped) retryStart();
      });
    }, retryDelay);
  };

  client.start().catch((error) => {
    console.warn('live updates unavailable, retrying', error);
    onStatus('offline');
    retryStart();
  });

  return () => {
    stopped = true;
    clearTimeout(retryHandle);
    client.stop();
  };
}

function parsePayload(data) {
  if (typeof data === 'string') {
    try {
      return JSON.parse(data);
    } catch {
      return null;
    }
  }
  return data && typeof data === 'object' ? data : null;
}
