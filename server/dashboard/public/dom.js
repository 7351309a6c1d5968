// A few DOM helpers, so views build elements instead of concatenating HTML (no injection by data).

/** `h('a', { href: '#/x', class: 'y', onclick }, 'text', child)` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const number = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
export const fmt = (n) => (n === null || n === undefined || n === '' ? '–' : number.format(Number(n)));

export function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return new Date(iso).toLocaleString();
}

export const time = (iso) => new Date(iso).toLocaleTimeString();

export function json(value) {
  return h('pre', { class: 'json' }, value === undefined ? '' : JSON.stringify(value, null, 2));
}

/** ms → "10m", "1h30m", "500ms" */
export function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${ms}ms`;
  const parts = [];
  let s = Math.round(ms / 1000);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join('');
}

export const streamHref = (stream) => `#/streams/${encodeURIComponent(stream)}`;
export const eventHref = (stream, revision) => `#/streams/${encodeURIComponent(stream)}/${revision}`;
export const correlationHref = (id, extra = '') => `#/correlation/${encodeURIComponent(id)}${extra}`;
export const projectionHref = (name) => `#/projections/${encodeURIComponent(name)}`;
export const alertHref = (a) => `#/alert/${encodeURIComponent(a.streamId)}/${a.revision}`;
