// Correlation graph: the events sharing a $correlationId, laid out by $causationId (cause above
// effect). `?alert=id` marks the alert, `?hl=id,id` the events its rule matched, `?focus=id` one event.
import { get } from './api.js';
import { clear, correlationHref, eventHref, h, json, time } from './dom.js';
import { draw } from './diagram.js';

export async function correlationView(ctx, id) {
  const { root, params } = ctx;
  const input = h('input', { type: 'search', id: 'correlation-id', placeholder: 'Correlation id', value: id });
  const form = h('form', { class: 'toolbar' }, input, h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.value.trim()) location.hash = correlationHref(input.value.trim());
  });
  root.append(h('h1', {}, 'Correlation graph'), form);
  if (!id) {
    root.append(h('p', { class: 'muted' }, 'Pick an event or an alert and follow its correlation link, or paste a correlation id.'));
    return;
  }
  const graph = await get(`/dashboard/api/correlation/${encodeURIComponent(id)}`);
  const alertId = params.get('alert') ?? '';
  const highlighted = new Set((params.get('hl') ?? '').split(',').filter(Boolean));
  const focus = params.get('focus') ?? '';
  const info = h('p', { class: 'muted', id: 'graph-info' },
    `${graph.nodes.length} events, ${graph.edges.length} causation links`,
    graph.source === 'scan' ? ' (found by scanning recent events; turn on $by_correlation_id for an index)' : '',
    graph.partial ? ' — partial: older events may be missing' : '',
    highlighted.size > 0 ? [' · ', h('span', { class: 'legend-chip', style: 'background:#fde7f7;border:1px solid #b5179e' }), 'matched by the alert’s rule'] : '');
  const box = h('div', { class: 'graph', id: 'graph' });
  const detail = h('section', { class: 'panel', id: 'graph-detail' }, h('p', { class: 'muted' }, 'Click an event to see it.'));
  root.append(info, h('div', { style: 'display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 16px' }, box, detail));
  box.dataset.nodes = String(graph.nodes.length);
  box.dataset.edges = String(graph.edges.length);
  const elements = [
    ...graph.nodes.map((n) => ({
      data: { id: n.id, label: `${n.type}\n${n.streamId}@${n.revision}`, node: n },
      classes: ['event', n.id === alertId ? 'alert' : '', highlighted.has(n.id) ? 'highlight' : '', n.id === focus ? 'focus' : ''].join(' '),
    })),
    ...graph.edges.map(([from, to]) => ({ data: { id: `${from}->${to}`, source: from, target: to, label: '' } })),
  ];
  const cy = draw(box, elements, { rankDir: 'TB' });
  ctx.onDispose(() => cy.destroy());
  cy.on('tap', 'node', async (e) => {
    const n = e.target.data('node');
    clear(detail, h('h2', {}, n.type), h('p', {}, h('a', { href: eventHref(n.streamId, n.revision) }, `${n.streamId}@${n.revision}`), ' · ', time(n.created)), h('p', { class: 'muted' }, 'loading…'));
    try {
      const ev = await get(`/dashboard/api/streams/${encodeURIComponent(n.streamId)}/events/${n.revision}`);
      clear(detail, h('h2', {}, n.type), h('p', {}, h('a', { href: eventHref(n.streamId, n.revision) }, `${n.streamId}@${n.revision}`), ' · ', time(n.created)),
        h('h2', {}, 'Data'), json(ev.data), h('h2', { style: 'margin-top: 10px' }, 'Metadata'), json(ev.metadata));
    } catch (err) {
      detail.append(h('p', { class: 'error' }, err.message));
    }
  });
}
