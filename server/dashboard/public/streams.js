// Streams: the searchable, paged list; one stream's events, newest first; one event.
import { get } from './api.js';
import { ago, clear, correlationHref, eventHref, fmt, h, json, streamHref } from './dom.js';

const PAGE = 50;
const EVENTS = 20;

export async function streamsView(ctx) {
  const { root, params } = ctx;
  const search = h('input', { type: 'search', id: 'stream-search', placeholder: 'Search streams by name…', value: params.get('q') ?? '', autofocus: true });
  const system = h('input', { type: 'checkbox', id: 'stream-system', checked: params.get('system') === '1' });
  const summary = h('span', { class: 'muted', id: 'stream-summary' });
  const tbody = h('tbody', { id: 'stream-rows' });
  const prev = h('button', { type: 'button', id: 'stream-prev' }, '← Newer');
  const next = h('button', { type: 'button', id: 'stream-next' }, 'Older →');
  const pageLabel = h('span', { class: 'muted', id: 'stream-page' });
  root.append(
    h('h1', {}, 'Streams'),
    h('div', { class: 'toolbar' }, search, h('label', {}, system, ' include system streams'), summary),
    h('section', { class: 'panel' },
      h('table', {}, h('thead', {}, h('tr', {}, ['Stream', 'Events', 'Last event', 'Written'].map((t) => h('th', {}, t)))), tbody),
      h('div', { class: 'pager' }, prev, next, pageLabel)),
  );
  let offset = Number(params.get('offset') ?? 0);
  let seq = 0;
  async function load() {
    const mine = ++seq;
    const q = new URLSearchParams({ q: search.value, offset: String(offset), limit: String(PAGE), system: system.checked ? '1' : '0' });
    const started = performance.now();
    const page = await get(`/dashboard/api/streams?${q}`);
    if (mine !== seq) return; // a newer keystroke already asked
    const took = performance.now() - started;
    clear(tbody, page.streams.length === 0 ? h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No streams match.')) : page.streams.map((s) =>
      h('tr', { class: 'clickable', dataset: { stream: s.name }, onclick: () => (location.hash = streamHref(s.name)) },
        h('td', {}, h('a', { href: streamHref(s.name) }, s.name)),
        h('td', { class: 'mono' }, fmt(Number(s.lastRevision) + 1)),
        h('td', {}, s.lastType),
        h('td', { class: 'muted', title: s.lastWritten }, ago(s.lastWritten)))));
    summary.textContent = `${fmt(page.total)} stream${page.total === 1 ? "" : "s"}${search.value ? ` matching “${search.value}”` : ''}`;
    summary.dataset.total = String(page.total);
    summary.dataset.tookMs = took.toFixed(1);
    summary.dataset.serverMs = String(page.tookMs);
    pageLabel.textContent = page.total === 0 ? '' : `${fmt(offset + 1)}–${fmt(offset + page.streams.length)} of ${fmt(page.total)}`;
    prev.disabled = offset === 0;
    next.disabled = offset + PAGE >= page.total;
    tbody.dataset.offset = String(offset);
    tbody.dataset.loaded = String(mine);
    // Keep the address in step, without re-rendering, so back/forward and reload land here.
    const hash = `#/streams?${new URLSearchParams({ q: search.value, offset: String(offset), system: system.checked ? '1' : '0' })}`;
    history.replaceState(null, '', hash);
  }
  let timer;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    offset = 0;
    timer = setTimeout(() => void load(), 120);
  });
  system.addEventListener('change', () => { offset = 0; void load(); });
  prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); void load(); });
  next.addEventListener('click', () => { offset += PAGE; void load(); });
  await load();
}

function correlationOf(e) {
  const c = e.metadata?.$correlationId;
  return typeof c === 'string' && c !== '' ? c : undefined;
}

export async function streamView(ctx, stream) {
  const { root } = ctx;
  const tbody = h('tbody', { id: 'event-rows' });
  const more = h('button', { type: 'button', id: 'event-more' }, 'Older events');
  root.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/streams' }, 'Streams'), ' / ', stream),
    h('h1', {}, stream),
    h('section', { class: 'panel' },
      h('table', {}, h('thead', {}, h('tr', {}, ['#', 'Type', 'Created', 'Correlation', 'Data'].map((t) => h('th', {}, t)))), tbody),
      h('div', { class: 'pager' }, more)),
  );
  let before = '';
  async function load() {
    const page = await get(`/dashboard/api/streams/${encodeURIComponent(stream)}/events?limit=${EVENTS}${before ? `&before=${before}` : ''}`);
    for (const e of page.events) {
      const rev = e.link ? e.link.revision : e.revision;
      const corr = correlationOf(e);
      tbody.append(h('tr', { class: 'clickable', dataset: { revision: rev }, onclick: (ev) => { if (ev.target.tagName !== 'A') location.hash = eventHref(stream, rev); } },
        h('td', { class: 'mono' }, h('a', { href: eventHref(stream, rev) }, rev)),
        h('td', {}, e.type, e.link ? h('span', { class: 'muted' }, ` → ${e.streamId}@${e.revision}`) : ''),
        h('td', { class: 'muted', title: e.created }, ago(e.created)),
        h('td', {}, corr ? h('a', { href: correlationHref(corr) }, 'graph') : ''),
        h('td', { class: 'mono muted' }, JSON.stringify(e.data).slice(0, 90))));
      before = rev;
    }
    more.disabled = page.events.length < EVENTS || before === '0';
    if (page.events.length === 0 && tbody.children.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'This stream has no events.')));
  }
  more.addEventListener('click', () => void load());
  await load();
}

export async function eventView(ctx, stream, revision) {
  const { root } = ctx;
  const e = await get(`/dashboard/api/streams/${encodeURIComponent(stream)}/events/${revision}`);
  const corr = correlationOf(e) ?? e.id;
  root.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/streams' }, 'Streams'), ' / ', h('a', { href: streamHref(stream) }, stream), ' / ', revision),
    h('h1', { id: 'event-title' }, `${e.type} `, h('span', { class: 'muted' }, `${stream}@${revision}`)),
    h('section', { class: 'panel' },
      h('dl', { class: 'facts' },
        h('dt', {}, 'Id'), h('dd', { class: 'mono' }, e.id),
        h('dt', {}, 'Position'), h('dd', { class: 'mono' }, e.position),
        h('dt', {}, 'Created'), h('dd', {}, new Date(e.created).toLocaleString()),
        e.link ? [h('dt', {}, 'Link to'), h('dd', {}, h('a', { href: eventHref(e.streamId, e.revision) }, `${e.streamId}@${e.revision}`))] : null,
        h('dt', {}, 'Correlation'), h('dd', {}, h('a', { id: 'event-correlation', href: correlationHref(corr, `?focus=${encodeURIComponent(e.id)}`) }, corr)),
      )),
    h('div', { class: 'split', style: 'margin-top: 16px' },
      h('section', { class: 'panel' }, h('h2', {}, 'Data'), h('div', { id: 'event-data' }, json(e.data))),
      h('section', { class: 'panel' }, h('h2', {}, 'Metadata'), h('div', { id: 'event-metadata' }, json(e.metadata)))),
  );
}
