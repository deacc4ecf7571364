// Live updates through the official Web PubSub client. The connection is negotiated through
// `/api/pubsub/connection` on every fresh connect. Nothing here polls.
//
// The indicator must say "offline" soon after the server is gone. Two client settings make it:
// - the plain JSON subprotocol: with the reliable one the SDK silently retries the same
//   connection for up to 30 s before it reports anything; with this one a closed socket is
//   `disconnected` at once, the SDK reconnects, and `onResync` reloads what may have been missed;
// - keep-alive pings (answered by pongs, which Azure Web PubSub and the local hub both send): a
//   socket that stays open but hears nothing for `KEEP_ALIVE_TIMEOUT_MS` is closed;
// - a socket whose close is reported at once: the SDK closes a silent socket and waits for its
//   `close` event (webPubSubClient.ts `_checkKeepAliveTimeout` in Azure/azure-sdk-for-js,
//   sdk/web-pubsub/web-pubsub-client), but a browser fires that event only when the server
//   answers the close or after its closing-handshake timeout (a minute in Chromium), which a
//   gone server never does. `PromptCloseSocket` reports the close when it is asked for.
//
// The server decides what each user receives (pushes to the user and to groups granted in the
// access token), so the page never joins groups itself.

import { WebPubSubClient, WebPubSubJsonProtocol } from '@azure/web-pubsub-client';
import { api } from './api.js';

/** A ping this often… */
export const KEEP_ALIVE_INTERVAL_MS = 1200;
/** …and silence this long closes the socket (checked every third of it): offline within 5 s. */
export const KEEP_ALIVE_TIMEOUT_MS = 3000;
const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 10000;

/** The SDK's WebSocket wrapper (websocket/websocketClient.ts), reporting a local close at once. */
class PromptCloseSocket {
  constructor(uri, protocolName) {
    this.socket = new WebSocket(uri, protocolName);
    this.socket.binaryType = 'arraybuffer';
    this.closed = false;
    this.closeHandler = null;
  }

  onopen(fn) {
    this.socket.onopen = fn;
  }

  onclose(fn) {
    this.closeHandler = fn;
    this.socket.onclose = (event) => this.reportClose(event.code, event.reason);
  }

  onerror(fn) {
    this.socket.onerror = (event) => fn(event);
  }

  onmessage(fn) {
    this.socket.onmessage = (event) => fn(event.data);
  }

  close(code, reason) {
    this.socket.close(code, reason);
    this.reportClose(code ?? 1006, reason ?? 'closed by the client');
  }

  reportClose(code, reason) {
    if (this.closed) return;
    this.closed = true;
    this.closeHandler?.(code, reason);
  }

  send(data) {
    return new Promise((resolve, reject) => {
      try {
        this.socket.send(data);
        resolve();
      } catch (error) {
        reject(error);
      }
    });
  }

  isOpen() {
    return !this.closed && this.socket.readyState === WebSocket.OPEN;
  }
}

/** The SDK's client with `PromptCloseSocket`s (its factory hook, pinned version 1.0.4). */
class LiveClient extends WebPubSubClient {
  _getWebSocketClientFactory() {
    return { create: (uri, protocolName) => new PromptCloseSocket(uri, protocolName) };
  }
}

/**
 * Starts the connection. `handlers[type](data)` runs for each message whose `data.type` is
 * `type`; `onStatus('online' | 'offline')` follows the connection; `onResync()` runs after a
 * reconnect that may have missed messages. Returns `stop()`.
 */
export function connectRealtime({ handlers, onStatus, onResync }) {
  let everConnected = false;
  let stopped = false;
  // The SDK only starts from its stopped state; while it reconnects by itself, leave it be.
  let idle = false;
  let retryHandle = null;
  let retryDelay = FIRST_RETRY_MS;
  const client = new LiveClient(
    {
      getClientAccessUrl: async () => {
        const info = await api.pubsub();
        if (!info?.url) throw new Error('/api/pubsub/connection gave no url');
        return info.url;
      },
    },
    {
      protocol: WebPubSubJsonProtocol(),
      keepAliveIntervalInMs: KEEP_ALIVE_INTERVAL_MS,
      keepAliveTimeoutInMs: KEEP_ALIVE_TIMEOUT_MS,
      reconnectRetryOptions: { maxRetries: 3, retryDelayInMs: FIRST_RETRY_MS },
    },
  );

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
    idle = false;
    retryDelay = FIRST_RETRY_MS;
    onStatus('online');
    // Every connection after the first may have missed pushes while it was down.
    if (everConnected) onResync();
    everConnected = true;
  });
  client.on('disconnected', () => onStatus('offline'));
  client.on('stopped', () => {
    idle = true;
    onStatus('offline');
    if (!stopped) retryStart();
  });

  // After the SDK's own reconnects give up: start again, backing off to every 10 s.
  const retryStart = (delay = retryDelay) => {
    clearTimeout(retryHandle);
    retryHandle = setTimeout(() => {
      if (!idle || stopped) return;
      idle = false;
      client.start().catch(() => {
        idle = true;
        retryDelay = Math.min(retryDelay * 2, LONGEST_RETRY_MS);
        if (!stopped) retryStart();
      });
    }, delay);
  };
  // The browser knows when the network is back: try at once.
  const online = () => {
    if (!stopped) retryStart(0);
  };
  window.addEventListener('online', online);

  client.start().catch((error) => {
    console.warn('live updates unavailable, retrying', error);
    idle = true;
    onStatus('offline');
    retryStart();
  });

  return () => {
    stopped = true;
    window.removeEventListener('online', online);
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
