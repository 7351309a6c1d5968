// Overview: events in and alerts out per second (live charts), projection health, newest alerts.
import uPlot from '/dashboard/vendor/uplot.js';
import { ago, alertHref, clear, fmt, h, projectionHref } from './dom.js';
import { summaryOf } from './alert-summary.js';

function rateChart(el, label, color) {
  const opts = {
    width: Math.max(300, el.clientWidth),
    height: 180,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
    axes: [{ stroke: '#667085', grid: { stroke: '#eef0f4' } }, { stroke: '#667085', grid: { stroke: '#eef0f4' }, size: 56 }],
    series: [{}, { label, stroke: color, width: 2, fill: `${color}22`, points: { show: false } }],
  };
  const chart = new uPlot(opts, [[], []], el);
  const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(300, el.clientWidth), height: 180 }));
  resize.observe(el);
  return { chart, dispose: () => { resize.disconnect(); chart.destroy(); } };
}

export function healthCounts(projections) {
  const c = { Running: 0, Stopped: 0, Faulted: 0, lagging: 0 };
  for (const p of projections) {
    if (p.status === 'Running') c.Running++;
    else if (p.status === 'Faulted') c.Faulted++;
    else c.Stopped++;
    if (p.lag !== null && Number(p.lag) > 0) c.lagging++;
  }
  return c;
}

export function projectionRows(projections, { compact = false } = {}) {
  return projections.map((p) =>
    h('tr', { class: 'clickable', dataset: { projection: p.name, status: p.status }, onclick: () => (location.hash = projectionHref(p.name)) },
      h('td', {}, h('a', { href: projectionHref(p.name) }, p.name), p.kind === 'system' ? h('span', { class: 'muted' }, ' system') : ''),
      h('td', {}, h('span', { class: `status ${p.status}` }, p.status)),
      h('td', { class: 'mono' }, fmt(p.rate), '/s'),
      h('td', { class: 'mono' }, fmt(p.lag)),
      compact ? null : h('td', { class: 'mono' }, p.position ?? '–'),
      compact ? null : h('td', { class: 'mono' }, fmt(p.eventsProcessed)),
      h('td', { class: 'error' }, p.lastError ? `${p.lastError.message}${p.lastError.position ? ` (at ${p.lastError.position})` : ''}` : ''),
    ),
  );
}

export function alertItem(a, fresh = false) {
  const s = summaryOf(a);
  return h('li', { class: fresh ? 'fresh' : '', dataset: { alert: a.id } },
    h('span', { class: 'muted', title: a.created }, ago(a.created)),
    h('span', {}, h('a', { class: 'type', href: alertHref(a) }, a.type), ' ', h('span', { class: 'muted' }, a.streamId)),
    h('span', {}),
    h('span', { class: 'mono muted' }, s),
  );
}

export async function overviewView(ctx) {
  const { root, live } = ctx;
  const eventsEl = h('div', { class: 'chart', id: 'chart-events' });
  const alertsEl = h('div', { class: 'chart', id: 'chart-alerts' });
  const eventsNow = h('span', { class: 'big', id: 'rate-events' }, '0');
  const alertsNow = h('span', { class: 'big', id: 'rate-alerts' }, '0');
  const health = h('div', { class: 'health', id: 'health' });
  const tbody = h('tbody', { id: 'projection-rows' });
  const alertList = h('ul', { class: 'alerts', id: 'alert-list' });
  root.append(
    h('div', { class: 'grid overview' },
      h('section', { class: 'panel' }, h('header', {}, h('h2', {}, 'Events in'), eventsNow, h('span', { class: 'muted' }, 'events/s')), eventsEl),
      h('section', { class: 'panel' }, h('header', {}, h('h2', {}, 'Alerts out'), alertsNow, h('span', { class: 'muted' }, 'alerts/s')), alertsEl),
      h('section', { class: 'panel' },
        h('header', {}, h('h2', {}, 'Projections'), h('a', { href: '#/projections' }, 'manage')),
        health,
        h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Status', 'Rate', 'Lag', 'Last error'].map((t) => h('th', {}, t)))), tbody)),
      h('section', { class: 'panel' }, h('header', {}, h('h2', {}, 'Newest alerts')), alertList),
    ),
  );
  const ev = rateChart(eventsEl, 'events/s', '#2f6fde');
  const al = rateChart(alertsEl, 'alerts/s', '#b5179e');
  ctx.onDispose(() => { ev.dispose(); al.dispose(); });

  function drawRates() {
    const [ts, e, a] = live.series();
    ev.chart.setData([ts, e]);
    al.chart.setData([ts, a]);
    const last = (xs) => xs[xs.length - 1] ?? 0;
    eventsNow.textContent = fmt(last(e));
    alertsNow.textContent = fmt(last(a));
    // For tests and curious operators: the newest value and how many seconds had traffic.
    eventsEl.dataset.last = String(last(e));
    eventsEl.dataset.busySeconds = String(e.filter((x) => x > 0).length);
    alertsEl.dataset.last = String(last(a));
  }
  function drawProjections() {
    const c = healthCounts(live.projections);
    clear(health,
      h('div', {}, h('span', { class: 'n', style: 'color: var(--ok)' }, c.Running), h('span', { class: 'muted' }, 'running')),
      h('div', {}, h('span', { class: 'n' }, c.Stopped), h('span', { class: 'muted' }, 'stopped')),
      h('div', {}, h('span', { class: 'n', style: c.Faulted ? 'color: var(--bad)' : '' }, c.Faulted), h('span', { class: 'muted' }, 'faulted')),
      h('div', {}, h('span', { class: 'n', style: c.lagging ? 'color: var(--warn)' : '' }, c.lagging), h('span', { class: 'muted' }, 'lagging')),
    );
    // System projections last: the operator's own rules are what they came to see.
    const sorted = [...live.projections].sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'system' ? 1 : -1));
    clear(tbody, projectionRows(sorted, { compact: true }));
  }
  function drawAlerts(fresh) {
    clear(alertList, live.alerts.length === 0 ? h('li', { class: 'muted' }, 'No alerts yet.') : live.alerts.map((a) => alertItem(a, fresh !== undefined && a.id === fresh.id)));
  }
  const redraw = (kind, payload) => {
    if (kind === 'alert') return drawAlerts(payload);
    drawRates();
    drawProjections();
    if (kind === 'reset') drawAlerts();
  };
  ctx.onDispose(live.subscribe(redraw));
  redraw('reset');
}
