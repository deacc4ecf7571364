// Conversations: the list (last message, unread count) and the open chat (live messages,
// typing indicator, "load older" paging, sending). One conversation per pair of players, so
// the other player's id keys it; the server's chat id is learnt from summaries and messages.
// Messages are ordered by the number the server gives each one in its chat (`seq`), so live
// and fetched messages merge into one order whatever arrives first.

import { api, listOf, readable } from './api.js';
import { avatar } from './avatar.js';
import { el, replaceChildren } from './dom.js';
import { GREETING, isGreeting } from './greeting.js';
import { formatStamp } from './time.js';

const PAGE = 30;
const TYPING_SHOWN_MS = 3000;
const TYPING_SEND_EVERY_MS = 2500;

/** A message from the API (original document shape) or a `MessageSentEvent`, normalised. */
export function normaliseMessage(raw) {
  if (!raw || typeof raw !== 'object') return null;
  const body = raw.message && typeof raw.message === 'object' ? raw.message : raw;
  const id = raw.messageId ?? raw.id;
  const content = body.content ?? raw.senderMessage;
  if (!id || typeof content !== 'string') return null;
  return {
    id: String(id),
    chatId: raw.chat?.id ?? raw.chatId ?? null,
    senderId: body.senderId ?? raw.senderId,
    content,
    timestamp: Number(body.timestamp ?? raw.timestamp) || 0,
    seq: Number(raw.seq) || 0,
  };
}

/** A chat's order: the server's number, then (for messages without one) time and id. */
export function byOrder(a, b) {
  return (a.seq ?? 0) - (b.seq ?? 0) || a.timestamp - b.timestamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export class Chats {
  /**
   * `notify(text, options)` shows a notice; `targetState(userId)` says whether a task of mine
   * names that player (`open`, `done` or `none`); `onActivity()` runs when I send or receive.
   */
  constructor({ me, nodes, notify, targetState = () => 'open', onActivity = () => {} }) {
    this.me = me;
    this.nodes = nodes;
    this.notify = notify;
    this.targetState = targetState;
    this.onActivity = onActivity;
    this.conversations = new Map();
    this.byChatId = new Map();
    this.active = null;
    this.typingTimer = null;
    this.lastTypingSent = 0;
    this.sending = false;
    this.readPending = new Set();
    this.readAgain = new Set();
    this.pending = null;
    this.nodes.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    this.nodes.input.addEventListener('input', () => this.typed());
    this.nodes.older.addEventListener('click', () => this.loadOlder());
    this.renderPanel();
  }

  /** Loads my conversation summaries (start-up and after a reconnect). */
  async loadSummaries() {
    const summaries = listOf(await api.chats(this.me.userId), 'chats');
    for (const summary of summaries) this.applySummary(summary);
    this.renderList();
    const open = this.active && this.conversations.get(this.active);
    if (open?.chatId) await this.loadNewest(open);
  }

  conversation(toUserId, name) {
    let convo = this.conversations.get(toUserId);
    if (!convo) {
      convo = {
        toUserId,
        chatId: null,
        name: name ?? 'Player',
        lastMessage: '',
        lastTimestamp: 0,
        lastSeq: 0,
        unread: 0,
        messages: new Map(),
        older: null,
        loaded: false,
        typingUntil: 0,
        typingText: '',
      };
      this.conversations.set(toUserId, convo);
    } else if (name) {
      convo.name = name;
    }
    return convo;
  }

  bindChatId(convo, chatId) {
    if (!chatId || convo.chatId === chatId) return;
    convo.chatId = chatId;
    this.byChatId.set(chatId, convo.toUserId);
  }

  applySummary(summary) {
    if (!summary?.toUserId) return null;
    const convo = this.conversation(summary.toUserId, summary.chatName);
    this.bindChatId(convo, summary.chatId);
    const last = {
      seq: Number(summary.lastMessageSeq) || 0,
      timestamp: Number(summary.lastMessageTimestamp) || 0,
      id: '',
    };
    if (byOrder(last, { seq: convo.lastSeq, timestamp: convo.lastTimestamp, id: '' }) >= 0) {
      convo.lastMessage = summary.lastMessage ?? convo.lastMessage;
      convo.lastTimestamp = last.timestamp;
      convo.lastSeq = last.seq;
    }
    if (Number.isFinite(Number(summary.unreadCount))) convo.unread = Number(summary.unreadCount);
    // The open chat is being read: a count computed before my last read is already stale.
    if (this.active === convo.toUserId && convo.unread > 0) this.markRead(convo);
    return convo;
  }

  /** `ChatsBarUpdatedEvent` */
  onSummary(event) {
    this.applySummary(event);
    this.renderList();
  }

  /** `MessageSentEvent` */
  async onMessage(event) {
    const message = normaliseMessage(event);
    if (!message) return;
    let toUserId = this.byChatId.get(message.chatId);
    if (!toUserId) {
      // A conversation someone else just started: learn it from my summaries.
      await this.loadSummaries();
      toUserId = this.byChatId.get(message.chatId);
      if (!toUserId) return;
    }
    const convo = this.conversations.get(toUserId);
    const known = convo.messages.has(message.id);
    this.addMessages(convo, [message]);
    if (!known) this.onActivity();
    if (message.senderId !== this.me.userId) {
      convo.typingUntil = 0;
      if (this.active === toUserId) this.markRead(convo);
      else if (!known) this.notify(`New message from ${convo.name}`, { key: `message:${toUserId}` });
    }
    this.renderList();
    if (this.active === toUserId) this.renderPanel();
  }

  /** `typingMessageEvent` */
  onTyping(event) {
    if (!event?.chatId || event.senderId === this.me.userId) return;
    const toUserId = this.byChatId.get(event.chatId);
    const convo = toUserId && this.conversations.get(toUserId);
    if (!convo) return;
    convo.typingUntil = Date.now() + TYPING_SHOWN_MS;
    convo.typingText = typeof event.message === 'string' ? event.message : `${convo.name} is typing...`;
    if (this.active === toUserId) this.renderTyping();
  }

  addMessages(convo, messages) {
    for (const message of messages) {
      if (!message) continue;
      this.bindChatId(convo, message.chatId);
      convo.messages.set(message.id, message);
      if (byOrder(message, { seq: convo.lastSeq, timestamp: convo.lastTimestamp, id: '' }) >= 0) {
        convo.lastTimestamp = message.timestamp;
        convo.lastSeq = message.seq;
        convo.lastMessage = message.content;
      }
    }
  }

  /** Opens (or starts) the conversation with `user` — the map's "Say Hi". */
  open(user) {
    if (!user?.id || user.id === this.me.userId) return;
    const convo = this.conversation(user.id, user.name);
    this.select(convo.toUserId);
    if (!this.nodes.input.value) this.nodes.input.value = GREETING;
    this.nodes.input.focus();
    this.renderList();
  }

  async select(toUserId) {
    const convo = this.conversations.get(toUserId);
    if (!convo) return;
    if (this.active !== toUserId) this.nodes.input.value = '';
    this.active = toUserId;
    this.renderList();
    this.renderPanel();
    this.nodes.input.focus();
    if (convo.chatId && !convo.loaded) await this.loadNewest(convo);
    if (convo.unread > 0) this.markRead(convo);
  }

  async loadNewest(convo) {
    try {
      const data = await api.messages(convo.chatId, null, PAGE);
      this.addPage(convo, data);
      convo.loaded = true;
    } catch (error) {
      this.notify(`Could not load the chat with ${convo.name}. ${readable(error)}`, {
        error: true,
        retry: () => this.loadNewest(convo),
      });
    }
    if (this.active === convo.toUserId) this.renderPanel();
  }

  async loadOlder() {
    const convo = this.active && this.conversations.get(this.active);
    if (!convo?.chatId || !convo.older) return;
    this.nodes.older.disabled = true;
    try {
      const data = await api.messages(convo.chatId, convo.older, PAGE);
      const scroller = this.nodes.messages;
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      this.addPage(convo, data);
      this.renderPanel({ keepScroll: fromBottom });
    } catch (error) {
      this.notify(`Could not load older messages. ${readable(error)}`, {
        error: true,
        retry: () => this.loadOlder(),
      });
      this.nodes.older.disabled = false;
    }
  }

  addPage(convo, { messages, before }) {
    this.addMessages(convo, messages.map(normaliseMessage));
    convo.older = before;
  }

  /** Marks the chat read now, or once more after a mark already in flight. */
  markRead(convo) {
    convo.unread = 0;
    this.renderList();
    const chatId = convo.chatId;
    if (!chatId) return;
    if (this.readPending.has(chatId)) {
      this.readAgain.add(chatId);
      return;
    }
    this.readPending.add(chatId);
    api
      .markRead(chatId)
      .catch(() => {})
      .finally(() => {
        this.readPending.delete(chatId);
        if (this.readAgain.delete(chatId)) this.markRead(convo);
      });
  }

  typed() {
    const convo = this.active && this.conversations.get(this.active);
    if (!convo?.chatId || !this.nodes.input.value) return;
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    this.lastTypingSent = now;
    api.typing(convo.chatId).catch(() => {});
  }

  async send() {
    const convo = this.active && this.conversations.get(this.active);
    const content = this.nodes.input.value.trim();
    if (!convo) {
      this.notify('Pick a conversation first, or say Hi to someone on the map.');
      return;
    }
    if (!content || this.sending) return;
    // A retry of the same text to the same player reuses the message id: the server stores
    // it once, however many attempts reached it.
    const same = this.pending?.toUserId === convo.toUserId && this.pending.content === content;
    const attempt = same ? this.pending : { toUserId: convo.toUserId, content, id: crypto.randomUUID() };
    this.pending = attempt;
    this.sending = true;
    this.nodes.send.disabled = true;
    try {
      const saved = await api.sendMessage(attempt.toUserId, attempt.content, attempt.id);
      this.pending = null;
      const message = normaliseMessage(saved);
      if (message) {
        const known = convo.messages.has(message.id);
        this.addMessages(convo, [message]);
        if (!known) this.onActivity();
      }
      if (!convo.loaded && convo.chatId) {
        convo.loaded = true;
      }
      if (this.nodes.input.value.trim() === attempt.content) this.nodes.input.value = '';
      this.lastTypingSent = 0;
      this.renderList();
      this.renderPanel();
      this.greetingFeedback(convo, attempt.content);
    } catch (error) {
      this.notify(`Message to ${convo.name} not sent. ${readable(error)}`, {
        error: true,
        key: 'send-failed',
        retry: () => {
          if (!this.nodes.input.value.trim()) this.nodes.input.value = attempt.content;
          if (this.active !== attempt.toUserId) this.select(attempt.toUserId);
          this.send();
        },
      });
    } finally {
      this.sending = false;
      this.nodes.send.disabled = !this.active;
      this.nodes.input.focus();
    }
  }

  /** Says what a greeting does: it scores only when its recipient is one of my targets. */
  greetingFeedback(convo, content) {
    if (!isGreeting(content)) return;
    const key = `greet:${convo.toUserId}`;
    const state = this.targetState(convo.toUserId);
    if (state === 'open') {
      this.notify(`Greeting sent to ${convo.name}: your task is being checked.`, { key });
    } else if (state === 'done') {
      this.notify(`You already greeted ${convo.name} this round: this greeting scores nothing more.`, { key });
    } else {
      this.notify(
        `${convo.name} is not one of your targets this round, so this greeting scores nothing. Greet the players listed under This round.`,
        { key },
      );
    }
  }

  renderList() {
    const convos = [...this.conversations.values()].sort((a, b) => b.lastTimestamp - a.lastTimestamp);
    this.nodes.empty.hidden = convos.length > 0;
    replaceChildren(
      this.nodes.list,
      convos.map((convo) => {
        const active = convo.toUserId === this.active;
        return el(
          'li',
          { dataset: { userId: convo.toUserId, chatId: convo.chatId ?? '' } },
          el(
            'button',
            {
              type: 'button',
              class: active ? 'chat-item active' : 'chat-item',
              'aria-current': active ? 'true' : null,
              onClick: () => this.select(convo.toUserId),
            },
            avatar({ id: convo.toUserId, name: convo.name }, { small: true }),
            el('span', { class: 'chat-name', text: convo.name }),
            el('span', { class: 'chat-time', text: formatStamp(convo.lastTimestamp) }),
            el('span', { class: 'chat-preview', text: convo.lastMessage || 'New conversation' }),
            convo.unread > 0
              ? el('span', { class: 'unread', 'aria-label': `${convo.unread} unread`, text: String(convo.unread) })
              : null,
          ),
        );
      }),
    );
  }

  renderPanel({ keepScroll } = {}) {
    const convo = this.active && this.conversations.get(this.active);
    this.nodes.panel.classList.toggle('has-chat', Boolean(convo));
    this.nodes.title.textContent = convo ? `To: ${convo.name}` : 'No conversation open';
    replaceChildren(this.nodes.avatar, convo ? avatar({ id: convo.toUserId, name: convo.name }, { small: true }) : null);
    this.nodes.input.disabled = !convo;
    this.nodes.send.disabled = !convo || this.sending;
    this.nodes.older.hidden = !convo?.older;
    this.nodes.older.disabled = false;
    const messages = convo ? [...convo.messages.values()].sort(byOrder) : [];
    const scroller = this.nodes.messages;
    replaceChildren(
      scroller,
      messages.length === 0 ? el('p', { class: 'empty', text: this.emptyText(convo) }) : null,
      messages.map((m) => {
        const mine = m.senderId === this.me.userId;
        const who = mine ? this.me : { id: convo.toUserId, name: convo.name };
        return el(
          'div',
          { class: mine ? 'bubble me' : 'bubble you', dataset: { messageId: m.id, seq: m.seq } },
          avatar({ id: who.userId ?? who.id, name: who.name }, { small: true }),
          el(
            'span',
            { class: 'bubble-body' },
            el('span', { class: 'visually-hidden', text: mine ? 'You: ' : `${convo.name}: ` }),
            el('span', { class: 'bubble-text', text: m.content }),
            el('time', { class: 'bubble-time', text: formatStamp(m.timestamp) }),
          ),
        );
      }),
    );
    scroller.scrollTop = keepScroll ? scroller.scrollHeight - keepScroll : scroller.scrollHeight;
    this.renderTyping();
  }

  emptyText(convo) {
    if (!convo) return 'Choose a conversation, or find a player on the map and press Say Hi.';
    if (convo.chatId && !convo.loaded) return 'Loading messages…';
    return `No messages with ${convo.name} yet. Send ${GREETING} to say hello: greeting a player from your tasks scores points.`;
  }

  renderTyping() {
    clearTimeout(this.typingTimer);
    const convo = this.active && this.conversations.get(this.active);
    const left = convo ? convo.typingUntil - Date.now() : 0;
    this.nodes.typing.textContent = left > 0 ? convo.typingText : '';
    if (left > 0) this.typingTimer = setTimeout(() => this.renderTyping(), left);
  }

  destroy() {
    clearTimeout(this.typingTimer);
  }
}
