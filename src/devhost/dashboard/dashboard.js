// The local dashboard: renders the snapshots `/_devhost/api/stream` pushes (Server-Sent Events)
// into tables, inline SVG sparklines and trace waterfalls. Every value reaches the DOM as text
// (textContent or SVG attributes), never as markup.

const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** An SVG element with attributes; `text` becomes its text content. */
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const ms = (value) => (value === null || value === undefined ? '—' : value < 10 ? value.toFixed(2) : value.toFixed(1));
const count = (value) => Number(value ?? 0).toLocaleString('en');
const shortId = (id) => String(id).slice(0, 8);

const seen = new Map();
/** True when `value` differs from what `key` showed last (so unchanged parts keep focus). */
function changed(key, value) {
  const text = JSON.stringify(value);
  if (seen.get(key) === text) return false;
  seen.set(key, text);
  return true;
}

function renderFunctions(functions) {
  const rows = functions.map((f) =>
    el(
      'tr',
      { 'data-function': f.function },
      el('th', { scope: 'row' }, f.function),
      el('td', {}, f.trigger ?? '—'),
      el('td', { class: 'num', 'data-field': 'invocations' }, count(f.invocations)),
      el('td', { class: f.failures > 0 ? 'num bad' : 'num', 'data-field': 'failures' }, count(f.failures)),
      el('td', { class: 'num', 'data-field': 'p50' }, ms(f.p50Ms)),
      el('td', { class: 'num', 'data-field': 'p99' }, ms(f.p99Ms)),
    ),
  );
  $('functions').tBodies[0].replaceChildren(...rows);
}

/** A sparkline of `values` (oldest first) with a text alternative. */
function sparkline(values, label, unit) {
  const width = 120;
  const height = 28;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  const now = values.length ? values[values.length - 1] : 0;
  const peak = values.length ? Math.max(...values) : 0;
  const chart = svg('svg', {
    class: 'spark',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': `${label}: now ${count(now)} ${unit}, peak ${count(peak)} ${unit} over ${values.length} samples`,
  });
  chart.append(svg('line', { class: 'spark-base', x1: 0, y1: height - 2, x2: width, y2: height - 2 }));
  if (values.length === 1) chart.append(svg('circle', { class: 'spark-dot', cx: 0, cy: points[0].split(',')[1], r: 2 }));
  if (values.length > 1) chart.append(svg('polyline', { class: 'spark-line', points: points.join(' ') }));
  return chart;
}

function renderTriggers(view) {
  const note = view.sampledAt
    ? `Sampled ${new Date(view.sampledAt).toLocaleTimeString('en')}; ${count(view.inFlight)} invocation(s) running.`
    : 'No sample yet.';
  $('triggers-note').textContent = note;
  const rows = view.triggers.map((t) =>
    el(
      'tr',
      { 'data-trigger': t.trigger },
      el('th', { scope: 'row' }, t.trigger),
      el('td', {}, t.kind),
      el('td', {}, t.source),
      el('td', { class: 'num', 'data-field': 'pending' }, count(t.pending)),
      el('td', {}, sparkline(t.history.map((s) => s.pending), `Backlog of ${t.trigger}`, 'items')),
      el('td', { class: 'num', 'data-field': 'lag' }, count(t.oldestPendingAgeMs ?? 0)),
      el('td', {}, sparkline(t.history.map((s) => s.lagMs), `Lag of ${t.trigger}`, 'ms')),
    ),
  );
  $('triggers').tBodies[0].replaceChildren(...rows);
}

/** One trace as a waterfall: a row per span, bars placed on the trace's time axis. */
function waterfall(trace) {
  const label = 180;
  const bars = 520;
  const row = 20;
  const top = 18;
  const total = Math.max(trace.durationMs, 0.001);
  const x = (t) => label + (t / total) * bars;
  const height = top + trace.spans.length * row + 4;
  const summary = trace.spans
    .map((s) => `${s.function} at ${ms(s.offsetMs)} ms for ${ms(s.durationMs)} ms${s.error ? ' (failed)' : ''}`)
    .join('; ');
  const chart = svg('svg', {
    class: 'waterfall',
    viewBox: `0 0 ${label + bars + 10} ${height}`,
    role: 'img',
    'aria-label': `Trace ${trace.traceId}: ${summary}`,
  });
  const axis = svg('g', { class: 'axis' });
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const at = x(fraction * total);
    axis.append(svg('line', { x1: at, y1: top - 4, x2: at, y2: height }));
    axis.append(
      svg('text', { x: at, y: top - 7, 'text-anchor': fraction === 0 ? 'start' : fraction === 1 ? 'end' : 'middle' }, `${ms(fraction * total)} ms`),
    );
  }
  chart.append(axis);
  trace.spans.forEach((span, i) => {
    const y = top + i * row;
    const group = svg('g', { class: span.error ? 'span failed' : 'span', 'data-function': span.function });
    group.append(svg('text', { class: 'span-label', x: 4, y: y + 14 }, span.function));
    const width = Math.max(2, (span.durationMs / total) * bars);
    const bar = svg('rect', { x: x(span.offsetMs).toFixed(2), y: y + 3, width: width.toFixed(2), height: row - 6, rx: 2 });
    bar.append(
      svg(
        'title',
        {},
        `${span.function} (invocation ${span.invocationId}, parent span ${span.parentId ?? '—'}): ` +
          `${ms(span.durationMs)} ms${span.error ? ` — failed: ${span.error}` : ''}`,
      ),
    );
    group.append(bar);
    chart.append(group);
  });
  return chart;
}

function renderTraces(traces) {
  if (traces.length === 0) {
    $('traces').replaceChildren(el('p', { class: 'empty' }, 'No invocations yet.'));
    return;
  }
  const figures = traces.map((trace) =>
    el(
      'figure',
      { class: 'trace', 'data-trace-id': trace.traceId },
      el(
        'figcaption',
        {},
        `Trace ${trace.traceId} — ${trace.spans.length} span(s), ${ms(trace.durationMs)} ms, started ${new Date(trace.startedAt).toLocaleTimeString('en')}`,
      ),
      waterfall(trace),
    ),
  );
  $('traces').replaceChildren(...figures);
}

function renderDeadLetters(letters) {
  const body = $('dead-letters').tBodies[0];
  if (!Array.isArray(letters)) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 7 }, `Cannot list dead letters: ${letters?.error ?? 'unknown error'}`)));
    return;
  }
  if (letters.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'No dead letters.')));
    return;
  }
  const rows = letters.map((letter) => {
    const corrupt = letter.corrupt !== undefined;
    const button = el(
      'button',
      {
        type: 'button',
        'aria-label': `Replay dead letter ${letter.id}`,
        disabled: corrupt || letter.replaying,
      },
      letter.replaying ? 'Replaying…' : 'Replay',
    );
    button.addEventListener('click', () => replay(letter.id, button));
    return el(
      'tr',
      { 'data-dead-letter': letter.id },
      el('th', { scope: 'row' }, letter.id),
      el('td', {}, letter.kind),
      el('td', {}, letter.function ?? '—'),
      el('td', { class: 'error' }, corrupt ? `unreadable: ${letter.corrupt}` : letter.reason),
      el('td', { class: 'num' }, corrupt ? '—' : count(letter.attempts)),
      el('td', {}, letter.deadLetteredAt ?? '—'),
      el('td', {}, button),
    );
  });
  body.replaceChildren(...rows);
}

async function replay(id, button) {
  const status = $('replay-status');
  button.disabled = true;
  status.textContent = `Replaying ${id}…`;
  try {
    const response = await fetch(`/_devhost/deadletters/${encodeURIComponent(id)}/replay`, { method: 'POST' });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      status.textContent = body.failedAgain
        ? `Replayed ${id}; it failed again and is listed anew.`
        : `Replayed ${id}.`;
      status.dataset.outcome = body.failedAgain ? 'failed-again' : 'sent';
    } else {
      status.textContent = `Replay of ${id} refused (${response.status}): ${body.error ?? response.statusText}`;
      status.dataset.outcome = 'refused';
    }
  } catch (error) {
    status.textContent = `Replay of ${id} failed: ${error.message}`;
    status.dataset.outcome = 'error';
  }
  await refresh();
}

function renderHubs(hubs) {
  if (hubs.length === 0) {
    $('hubs').replaceChildren(el('p', { class: 'empty' }, 'The app declares no Web PubSub hub.'));
    return;
  }
  const parts = hubs.flatMap((hub) => {
    const heading = el('h3', {}, `Hub ${hub.hub}`);
    const summary = el('p', { 'data-hub-summary': hub.hub }, `${count(hub.connections.length)} client(s) connected, ${count(hub.groups.length)} group(s).`);
    if (hub.connections.length === 0) return [heading, summary];
    const clients = el(
      'table',
      { class: 'hub-clients', 'data-hub': hub.hub },
      el('caption', {}, `Clients of ${hub.hub}`),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Connection'), el('th', { scope: 'col' }, 'User'), el('th', { scope: 'col' }, 'Groups'), el('th', { scope: 'col' }, 'State'))),
      el(
        'tbody',
        {},
        ...hub.connections.map((c) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row' }, shortId(c.connectionId)),
            el('td', {}, c.userId ?? '(anonymous)'),
            el('td', {}, c.groups.length ? c.groups.join(', ') : '—'),
            el('td', {}, c.attached ? 'connected' : 'waiting to recover'),
          ),
        ),
      ),
    );
    const groups = hub.groups.length
      ? el(
          'table',
          { class: 'hub-groups' },
          el('caption', {}, `Groups of ${hub.hub}`),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Group'), el('th', { scope: 'col', class: 'num' }, 'Clients'))),
          el('tbody', {}, ...hub.groups.map((g) => el('tr', {}, el('th', { scope: 'row' }, g.group), el('td', { class: 'num' }, count(g.connections))))),
        )
      : null;
    return [heading, summary, clients, groups].filter(Boolean);
  });
  $('hubs').replaceChildren(...parts);
}

function render(snapshot) {
  if (changed('functions', snapshot.functions)) renderFunctions(snapshot.functions);
  if (changed('triggers', snapshot.triggers)) renderTriggers(snapshot.triggers);
  if (changed('traces', snapshot.traces)) renderTraces(snapshot.traces);
  if (changed('deadLetters', snapshot.deadLetters)) renderDeadLetters(snapshot.deadLetters);
  if (changed('hubs', snapshot.hubs)) renderHubs(snapshot.hubs);
  document.body.dataset.updated = String(Date.now());
}

async function refresh() {
  const response = await fetch('/_devhost/api/snapshot');
  if (response.ok) render(await response.json());
}

function setLive(state, text) {
  const live = $('live');
  live.dataset.state = state;
  live.textContent = text;
}

function connect() {
  const events = new EventSource('/_devhost/api/stream');
  events.addEventListener('open', () => setLive('online', 'Live'));
  events.addEventListener('snapshot', (event) => render(JSON.parse(event.data)));
  events.addEventListener('error', () => {
    setLive(
      events.readyState === EventSource.CLOSED ? 'closed' : 'offline',
      events.readyState === EventSource.CLOSED ? 'Disconnected: reload to reconnect' : 'Reconnecting…',
    );
  });
}

connect();
