// Start-up: who is signed in, onboarding on the first visit, then the game screen with its
// panels wired to live updates. Everything started here is stopped on `pagehide`.

import { api, onSignedOut, listOf, readable } from './api.js';
import { loadConfig } from './basemap.js';
import { Chats } from './chat.js';
import { byId, showScreen } from './dom.js';
import { Leaderboard, Stats } from './leaderboard.js';
import { PlayerMap } from './map.js';
import { Notices } from './notices.js';
import { onboard } from './onboarding.js';
import { connectRealtime } from './realtime.js';
import { RoundPanel } from './round.js';

const cleanups = [];
const notices = new Notices(byId('notices'));
const notify = (text, options) => notices.show(text, options);
cleanups.push(() => notices.clear());

function signInScreen() {
  byId('who').hidden = true;
  byId('live-status').hidden = true;
  const here = encodeURIComponent(location.pathname + location.search);
  for (const link of document.querySelectorAll('[data-provider]')) {
    link.href = `/.auth/login/${link.dataset.provider}?post_login_redirect_uri=${here}`;
  }
  showScreen('signin');
}

async function start() {
  const principal = await api.me().catch(() => null);
  if (!principal) {
    signInScreen();
    return;
  }
  onSignedOut(signInScreen);
  byId('me-name').textContent = principal.userDetails ?? '';
  byId('who').hidden = false;
  const config = await loadConfig();
  let profile = await api.profile(principal.userId);
  if (!profile?.address?.position && !profile?.position) {
    showScreen('onboarding');
    byId('onboard-name').focus();
    profile = await onboard(principal, config);
  }
  showScreen('game');
  // The onboarding form may have left the page scrolled down: the game starts at the top.
  window.scrollTo(0, 0);
  runGame(principal, profile ?? {}, config);
  byId('main').focus({ preventScroll: true });
}

function runGame(principal, profile, config) {
  const me = { userId: principal.userId, name: profile.name ?? principal.userDetails };
  byId('me-name').textContent = me.name;
  byId('live-status').hidden = false;

  // Panels that refer to each other are wired through these late-bound callbacks.
  let round = null;
  let stats = null;
  const chats = new Chats({
    me,
    notify,
    targetState: (userId) => round?.targetState(userId) ?? 'none',
    onActivity: () => stats?.changed(),
    nodes: {
      list: byId('chat-list'),
      empty: byId('chat-empty'),
      panel: byId('chat-panel'),
      title: byId('chat-title'),
      avatar: byId('chat-avatar'),
      messages: byId('messages'),
      older: byId('load-older'),
      typing: byId('typing'),
      form: byId('chat-form'),
      input: byId('chat-input'),
      send: byId('chat-send'),
    },
  });
  const openChat = (user) => {
    chats.open(user);
    byId('chat').scrollIntoView({ block: 'nearest' });
  };
  const map = new PlayerMap({
    mapNode: byId('map'),
    listNode: byId('players'),
    countNode: byId('player-count'),
    config,
    me,
    onSayHi: openChat,
  });
  round = new RoundPanel({
    me,
    notify,
    onSayHi: openChat,
    onTargets: (userIds) => map.setTargets(userIds),
    nodes: {
      countdown: byId('countdown'),
      roundId: byId('round-id'),
      status: byId('round-status'),
      list: byId('tasks'),
      complete: byId('round-complete'),
    },
  });
  const board = new Leaderboard({
    me,
    nodes: {
      tabs: document.querySelectorAll('#leaderboard [role=tab]'),
      table: byId('leaderboard-table'),
      body: byId('leaderboard-body'),
      status: byId('leaderboard-status'),
    },
  });
  stats = new Stats({ me, nodes: { list: byId('stats'), status: byId('stats-status') } });
  cleanups.push(() => chats.destroy(), () => round.destroy(), () => map.destroy(), () => stats.destroy());

  const loadPlayers = async () => map.setPlayers(listOf(await api.users(), 'users'));
  const loadAll = () =>
    Promise.allSettled([
      loadPlayers(),
      chats.loadSummaries(),
      round.load(),
      board.refresh(),
      stats.refresh(),
    ]).then((results) => {
      if (results.some((result) => result.status === 'rejected')) {
        const failed = results.find((result) => result.status === 'rejected');
        notify(`Some of the game could not load. ${readable(failed.reason)}`, {
          error: true,
          key: 'load-failed',
          retry: loadAll,
        });
      }
    });

  const status = byId('live-status');
  const stopRealtime = connectRealtime({
    onStatus: (state) => {
      status.dataset.state = state;
      status.textContent = state === 'online' ? 'Live' : 'Offline: reconnecting…';
    },
    onResync: loadAll,
    handlers: {
      UserCreatedEvent: (e) => {
        // Redelivered after a reconnect, or a profile update: announce newcomers only.
        const known = map.players.has(e.userId);
        map.upsertPlayer({
          id: e.userId,
          name: e.userName,
          address: {
            position: { latitude: e.latitude, longitude: e.longitude },
            municipality: e.city,
            country: { subDivision: e.state },
          },
        });
        // A known player's profile changed (a rename, say): the board shows names too.
        if (known) board.changed();
        if (e.userId === me.userId || known) return;
        notify(`${e.userName} joined${e.city ? ` from ${e.city}` : ''}`, { key: `joined:${e.userId}` });
        // Tasks are assigned from the players present; a newcomer may fill an empty round.
        if (round.tasks.length < 3) round.load();
      },
      MessageSentEvent: (e) => chats.onMessage(e),
      ChatsBarUpdatedEvent: (e) => chats.onSummary(e),
      typingMessageEvent: (e) => chats.onTyping(e),
      // Anyone's score can move my rank: both views refresh (coalesced).
      ScoreUpdatedEvent: () => {
        board.refresh();
        stats.refresh();
      },
      RoundStartedEvent: (e) => round.onRoundStarted(e),
      TaskCompletedEvent: (e) => {
        if (e.userId !== me.userId) return;
        round.onTaskCompleted(e);
        stats.changed();
      },
    },
  });
  cleanups.push(stopRealtime);
  board.select('7d');
  loadAll();
  requestAnimationFrame(() => map.resize());
}

window.addEventListener('pagehide', () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

start().catch((error) => {
  const node = byId('fatal');
  node.textContent = `CosmosPark could not start: ${error.message}`;
  showScreen('fatal-screen');
});
