// Projections & rules: every projection's figures, deploy (pasted or from a file), one projection
// (status, last error with its event position, state per partition, admin actions, its rules drawn)
// and one alert (what it says, which events matched which step of its rule).
import { get, request } from './api.js';
import { clear, correlationHref, duration, eventHref, fmt, h, json, projectionHref, streamHref, time } from './dom.js';
import { draw, ruleElements } from './diagram.js';
import { projectionRows } from './overview.js';
import { matchedSteps, summaryOf } from './alert-summary.js';

const post = (url, body, type) => request('POST', url, body === undefined ? {} : { body, type });

function deployForm(ctx, onDone) {
  const name = h('input', { name: 'name', id: 'deploy-name', placeholder: 'card-testing', required: true });
  const emit = h('input', { type: 'checkbox', id: 'deploy-emit', checked: true });
  const source = h('textarea', { id: 'deploy-source', placeholder: "fromCategory('card').when({ ... })", spellcheck: 'false' });
  const file = h('input', { type: 'file', id: 'deploy-file', accept: '.js,text/javascript' });
  const message = h('p', { id: 'deploy-message' });
  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    if (!f) return;
    source.value = await f.text();
    if (!name.value) name.value = f.name.replace(/\.[^.]+$/, '');
  });
  const form = h('form', { class: 'panel', id: 'deploy-form' },
    h('h2', {}, 'Deploy a projection or rule'),
    h('div', { class: 'toolbar' }, h('label', {}, 'Name ', name), h('label', {}, emit, ' may emit (alerts)'), h('label', {}, 'or upload ', file)),
    source,
    h('div', { class: 'toolbar', style: 'margin-top: 10px' }, h('button', { type: 'submit', class: 'primary' }, 'Deploy'), message));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    message.className = 'muted';
    message.textContent = 'Deploying…';
    try {
      await post(`/projections/continuous?${new URLSearchParams({ name: name.value, emit: emit.checked ? 'true' : 'false', enabled: 'true' })}`, source.value, 'application/javascript');
      message.textContent = `Deployed ${name.value}.`;
      onDone(name.value);
    } catch (err) {
      message.className = 'error';
      message.textContent = err.message;
    }
  });
  return form;
}

export async function projectionsView(ctx) {
  const { root, live, session } = ctx;
  const tbody = h('tbody', { id: 'projection-rows' });
  root.append(
    h('h1', {}, 'Projections & rules'),
    h('section', { class: 'panel' },
      h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Status', 'Rate', 'Lag', 'Position', 'Processed', 'Last error'].map((t) => h('th', {}, t)))), tbody)),
  );
  if (!session.projections) root.append(h('p', { class: 'muted' }, 'This server runs no projection runtime.'));
  else if (session.ops) root.append(h('div', { style: 'margin-top: 16px' }, deployForm(ctx, (name) => (location.hash = projectionHref(name)))));
  const drawRows = () => {
    const sorted = [...live.projections].sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'system' ? 1 : -1));
    clear(tbody, sorted.length === 0 ? h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No projections yet.')) : projectionRows(sorted));
  };
  ctx.onDispose(live.subscribe((kind) => kind !== 'alert' && drawRows()));
  drawRows();
}

function ruleFacts(rule) {
  if (rule.kind === 'pattern') {
    return h('dl', { class: 'facts' },
      h('dt', {}, 'Per key'), h('dd', { class: 'mono' }, rule.keyBy ?? 'one sequence for all events'),
      h('dt', {}, 'Within'), h('dd', {}, rule.within ? duration(rule.within) : 'no limit'),
      h('dt', {}, 'After a match'), h('dd', {}, rule.skip.kind + (rule.skip.step ? ` (${rule.skip.step})` : '')),
      h('dt', {}, 'Allowed lateness'), h('dd', {}, duration(rule.allowedLateness)),
      h('dt', {}, 'Limits'), h('dd', {}, `${fmt(rule.limits.maxPartialMatchesPerKey)} partial matches per key, ${fmt(rule.limits.maxPartialMatches)} in all${rule.limits.idleKeyTimeout ? `, idle keys dropped after ${duration(rule.limits.idleKeyTimeout)}` : ''}`));
  }
  return h('dl', { class: 'facts' },
    h('dt', {}, 'Window'), h('dd', {}, JSON.stringify(rule.window)),
    h('dt', {}, 'Emit'), h('dd', {}, rule.emit),
    h('dt', {}, 'Allowed lateness'), h('dd', {}, duration(rule.allowedLateness)));
}

/** Draws each rule of `rules` into `container`; `counts` marks the steps an alert matched. */
function drawRules(ctx, container, rules, counts) {
  for (const rule of rules) {
    const box = h('div', { class: 'diagram', dataset: { rule: rule.name } });
    container.append(h('section', { class: 'panel rule', style: 'margin-bottom: 16px' },
      h('header', {}, h('h2', {}, `${rule.kind === 'window' ? 'Window rule' : 'Pattern'} “${rule.name}”`)),
      h('div', { class: 'split' }, box, ruleFacts(rule))));
    const cy = draw(box, ruleElements(rule, counts));
    ctx.onDispose(() => cy.destroy());
  }
}

export async function projectionView(ctx, name) {
  const { root, live, session } = ctx;
  const facts = h('dl', { class: 'facts', id: 'projection-facts' });
  const fault = h('div', { id: 'projection-fault' });
  const actions = h('div', { class: 'toolbar', id: 'projection-actions' });
  const rulesBox = h('div', { id: 'rules' });
  const partitionList = h('select', { id: 'partition', size: 1 });
  const stateBox = h('div', { id: 'state' });
  const actionMessage = h('span', { class: 'muted', id: 'action-message' });
  root.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/projections' }, 'Projections'), ' / ', name),
    h('h1', {}, name, ' ', h('span', { class: 'status', id: 'projection-status' })),
    fault,
    h('div', { class: 'split' },
      h('section', { class: 'panel' }, h('h2', {}, 'Status'), facts, actions),
      h('section', { class: 'panel' }, h('header', {}, h('h2', {}, 'State'), partitionList), stateBox)),
    h('h2', { style: 'margin-top: 18px' }, 'Rules'),
    rulesBox,
  );

  function drawStatus() {
    const p = live.projections.find((x) => x.name === name);
    const status = document.getElementById('projection-status');
    if (!p) {
      status.textContent = 'deleted';
      return;
    }
    status.textContent = p.status;
    status.className = `status ${p.status}`;
    facts.dataset.enabled = String(p.enabled);
    clear(facts,
      h('dt', {}, 'Mode'), h('dd', {}, `${p.mode}${p.kind === 'system' ? ' (system)' : ''}`),
      h('dt', {}, 'Enabled'), h('dd', {}, p.enabled ? 'yes' : 'no'),
      h('dt', {}, 'Position'), h('dd', { class: 'mono' }, p.position ?? '–'),
      h('dt', {}, 'Rate'), h('dd', { class: 'mono' }, `${fmt(p.rate)} events/s`),
      h('dt', {}, 'Lag'), h('dd', { class: 'mono' }, fmt(p.lag)),
      h('dt', {}, 'Processed'), h('dd', { class: 'mono' }, fmt(p.eventsProcessed)),
      h('dt', {}, 'Partitions cached'), h('dd', { class: 'mono' }, fmt(p.partitionsCached)),
      h('dt', {}, 'Version / epoch'), h('dd', { class: 'mono' }, `${p.version} / ${p.epoch}`));
    const e = p.lastError;
    clear(fault, e ? h('div', { class: 'fault', id: 'fault-message' },
      h('strong', {}, 'Faulted: '), e.message,
      e.line ? ` (line ${e.line}${e.column ? `:${e.column}` : ''})` : '',
      e.position ? [' at event position ', h('span', { class: 'mono', id: 'fault-position' }, e.position)] : '') : null);
  }

  async function act(command) {
    actionMessage.textContent = `${command}…`;
    try {
      if (command === 'delete') {
        if (!confirm(`Delete projection ${name}? Its checkpoint stays unless you reset first.`)) return (actionMessage.textContent = '');
        await request('DELETE', `/projection/${encodeURIComponent(name)}`);
        location.hash = '#/projections';
        return;
      }
      if (command === 'reset' && !confirm(`Reset ${name}? It starts again from the beginning.`)) return (actionMessage.textContent = '');
      await post(`/projection/${encodeURIComponent(name)}/command/${command}`);
      actionMessage.textContent = `${command}d`;
      await loadState();
    } catch (err) {
      actionMessage.textContent = err.message;
    }
  }
  if (session.ops) {
    const p = live.projections.find((x) => x.name === name);
    actions.append(
      h('button', { type: 'button', id: 'action-enable', onclick: () => act('enable') }, 'Enable'),
      h('button', { type: 'button', id: 'action-disable', onclick: () => act('disable') }, 'Disable'),
      h('button', { type: 'button', id: 'action-reset', onclick: () => act('reset') }, 'Reset'),
      p?.kind === 'system' ? null : h('button', { type: 'button', class: 'danger', id: 'action-delete', onclick: () => act('delete') }, 'Delete'),
      actionMessage);
  } else {
    actions.append(h('span', { class: 'muted' }, 'Signed in read-only: ask an operator ($ops) to change projections.'));
  }

  async function loadState() {
    const partition = partitionList.value;
    const res = await fetch(`/projection/${encodeURIComponent(name)}/state?partition=${encodeURIComponent(partition)}`, { headers: authHeaders() });
    const text = await res.text();
    clear(stateBox, res.ok ? (text === '' ? h('p', { class: 'muted' }, 'No state yet.') : json(JSON.parse(text))) : h('p', { class: 'error' }, text));
  }
  partitionList.addEventListener('change', () => void loadState());

  drawStatus();
  ctx.onDispose(live.subscribe((kind) => kind !== 'alert' && drawStatus()));
  const [rules, partitions] = await Promise.all([
    get(`/dashboard/api/projections/${encodeURIComponent(name)}/rules`).catch((err) => ({ rules: [], error: err.message })),
    get(`/dashboard/api/projections/${encodeURIComponent(name)}/partitions`).catch(() => ({ partitions: [] })),
  ]);
  clear(partitionList, h('option', { value: '' }, '(root partition)'), partitions.partitions.map((p) => h('option', { value: p }, p)));
  if (partitions.partitions.length > 0) partitionList.value = partitions.partitions[0];
  await loadState();
  if (rules.error) rulesBox.append(h('p', { class: 'error' }, `Could not describe the rules: ${rules.error}`));
  if (rules.rules.length === 0) rulesBox.append(h('p', { class: 'muted' }, 'This projection defines no pattern or window rule.'));
  drawRules(ctx, rulesBox, rules.rules);
}

function authHeaders() {
  const c = sessionStorage.getItem('telltale.credentials');
  return c ? { Authorization: `Basic ${c}` } : {};
}

/** An alert: its data, the events that matched each step of its rule, and the rule drawn with them. */
export async function alertView(ctx, stream, revision) {
  const { root } = ctx;
  const a = await get(`/dashboard/api/streams/${encodeURIComponent(stream)}/events/${revision}`);
  const steps = matchedSteps(a);
  const correlation = typeof a.metadata?.$correlationId === 'string' ? a.metadata.$correlationId : undefined;
  const matchedIds = steps ? Object.values(steps).flat().map((c) => String(c.id)) : [];
  const graphHref = correlation ? correlationHref(correlation, `?alert=${encodeURIComponent(a.id)}&hl=${encodeURIComponent(matchedIds.join(','))}`) : undefined;
  root.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/projections' }, 'Projections & rules'), ' / alert'),
    h('h1', { id: 'alert-title' }, a.type, ' ', h('span', { class: 'muted' }, summaryOf(a))),
    h('section', { class: 'panel' },
      h('dl', { class: 'facts' },
        h('dt', {}, 'Stream'), h('dd', {}, h('a', { href: eventHref(stream, revision) }, `${stream}@${revision}`)),
        h('dt', {}, 'Created'), h('dd', {}, new Date(a.created).toLocaleString()),
        h('dt', {}, 'Caused by'), h('dd', { class: 'mono' }, a.metadata?.$causationId ?? '–'),
        h('dt', {}, 'Correlation'), h('dd', {}, graphHref ? h('a', { id: 'alert-graph', href: graphHref }, `${correlation} — open the graph`) : '–'))),
  );
  if (steps) {
    const rows = Object.entries(steps).flatMap(([step, events]) => events.map((c, i) =>
      h('tr', { dataset: { step } },
        h('td', {}, i === 0 ? step : ''),
        h('td', { class: 'mono' }, String(c.id)),
        h('td', {}, typeof c.time === 'number' ? time(new Date(c.time).toISOString()) : ''),
        h('td', { class: 'mono muted' }, JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'id' && k !== 'time')))))));
    root.append(h('section', { class: 'panel', style: 'margin-top: 16px' },
      h('h2', {}, 'Which events matched which step'),
      h('table', { class: 'steps', id: 'matched-steps' }, h('thead', {}, h('tr', {}, ['Step', 'Event id', 'Event time', 'Remembered'].map((t) => h('th', {}, t)))), h('tbody', {}, rows))));
  }
  root.append(h('section', { class: 'panel', style: 'margin-top: 16px' }, h('h2', {}, 'Data'), json(a.data)));
  // The rule that raised it: the projection that defines a rule of that name.
  const ruleName = a.data && typeof a.data === 'object' ? a.data.rule : undefined;
  if (ruleName && ctx.session.projections) {
    const counts = steps ? Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, v.length])) : {};
    for (const p of ctx.live.projections.filter((x) => x.kind !== 'system')) {
      const described = await get(`/dashboard/api/projections/${encodeURIComponent(p.name)}/rules`).catch(() => ({ rules: [] }));
      const rule = described.rules.find((r) => r.name === ruleName);
      if (!rule) continue;
      const box = h('div', { style: 'margin-top: 16px' }, h('p', { class: 'muted' }, 'Rule ', h('a', { href: projectionHref(p.name) }, `${ruleName} in ${p.name}`), ', with the steps this alert matched:'));
      root.append(box);
      drawRules(ctx, box, [rule], counts);
      break;
    }
  }
  root.append(h('p', {}, h('a', { href: streamHref(stream) }, `All of ${stream}`)));
}
