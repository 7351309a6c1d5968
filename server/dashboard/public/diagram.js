// Drawing with cytoscape + dagre: a rule's description (steps, contiguity, quantifiers, negations,
// windows and aggregates) as a left-to-right flow, and correlation graphs top to bottom.
import cytoscape from '/dashboard/vendor/cytoscape.js';
import cytoscapeDagre from '/dashboard/vendor/cytoscape-dagre.js';
import { duration } from './dom.js';

cytoscape.use(cytoscapeDagre);

const CONTIGUITY = { strict: 'next', relaxed: 'followed by', any: 'followed by any' };

function quantifier(n) {
  if (n.min === 1 && n.max === 1) return '';
  if (n.max === null) return n.min === 1 ? 'one or more' : `${n.min} or more`;
  return n.min === n.max ? `× ${n.min}` : `${n.min}…${n.max} times`;
}

function clip(text, n = 48) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** A condition's source, without the arrow's parameters: `(e) => e.data.amount < 2` → `e.data.amount < 2`. */
function condition(src) {
  return clip(src.replace(/^\s*(?:function\s*\w*)?\s*\(?[\w\s,]*\)?\s*=>\s*/, '').replace(/^\{\s*return\s+|;?\s*\}$/g, ''));
}

/** Cytoscape elements for one explained rule; `counts` (step → events matched) marks an alert's match. */
export function ruleElements(rule, counts = {}) {
  const els = [];
  if (rule.kind === 'pattern') {
    rule.nodes.forEach((n, i) => {
      const negated = n.kind !== 'step';
      const lines = [negated ? `not ${n.name}` : n.name];
      if (!negated && quantifier(n)) lines.push(quantifier(n) + (n.optional ? ', optional' : ''));
      else if (!negated && n.optional) lines.push('optional');
      for (const w of [...n.where, ...n.or]) lines.push(condition(w));
      if (counts[n.name]) lines.push(`✓ ${counts[n.name]} event${counts[n.name] > 1 ? 's' : ''} matched`);
      els.push({ data: { id: `n${i}`, label: lines.join('\n') }, classes: [negated ? 'negation' : 'step', counts[n.name] ? 'matched' : ''].join(' ') });
      if (i > 0) {
        const label = negated ? (n.kind === 'notNext' ? 'not next' : 'not followed by') : CONTIGUITY[n.contiguity];
        els.push({ data: { id: `e${i}`, source: `n${i - 1}`, target: `n${i}`, label } });
      }
    });
    const end = [`match`, rule.within ? `within ${duration(rule.within)}` : 'no time limit'];
    els.push({ data: { id: 'end', label: end.join('\n') }, classes: 'end' });
    if (rule.nodes.length > 0) els.push({ data: { id: 'e-end', source: `n${rule.nodes.length - 1}`, target: 'end', label: '' } });
  } else if (rule.kind === 'window') {
    const w = rule.window ?? {};
    const size = w.size !== undefined ? (w.kind === 'count' ? `${w.size} events` : duration(w.size)) : w.gap !== undefined ? `gap ${duration(w.gap)}` : '';
    const nodes = [
      ['in', 'events' + (rule.keyBy ? `\nper ${condition(rule.keyBy)}` : '')],
      rule.where ? ['where', `where\n${condition(rule.where)}`] : null,
      ['window', `${w.kind} window\n${size}${w.advance ? `, every ${duration(w.advance)}` : ''}${w.slide ? `, every ${w.slide}` : ''}`],
      ['agg', Object.entries(rule.aggregates ?? {}).map(([k, a]) => `${k} = ${a.kind}${a.of ? `(${condition(a.of, 24)})` : ''}`).join('\n') || 'aggregates'],
      rule.having ? ['having', `having\n${condition(rule.having)}`] : null,
      ['emit', `emit ${rule.emit}`],
    ].filter(Boolean);
    nodes.forEach(([id, label], i) => {
      els.push({ data: { id, label }, classes: id === 'emit' ? 'end' : 'step' });
      if (i > 0) els.push({ data: { id: `e${i}`, source: nodes[i - 1][0], target: id, label: '' } });
    });
  }
  return els;
}

const STYLE = [
  { selector: 'node', style: { shape: 'round-rectangle', 'background-color': '#fff', 'border-width': 1.5, 'border-color': '#2f6fde', label: 'data(label)', 'text-wrap': 'wrap', 'text-valign': 'center', 'font-size': 11, 'font-family': 'system-ui, sans-serif', color: '#1d2330', width: 'label', height: 'label', padding: 10 } },
  { selector: 'node.negation', style: { 'border-color': '#c8322f', 'border-style': 'dashed', color: '#8b1f1c' } },
  { selector: 'node.end', style: { 'background-color': '#eef3fd', 'border-color': '#9bb5e8' } },
  { selector: 'node.matched', style: { 'background-color': '#fde7f7', 'border-color': '#b5179e', 'border-width': 2.5 } },
  { selector: 'edge', style: { 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', width: 1.5, 'line-color': '#98a2b3', 'target-arrow-color': '#98a2b3', label: 'data(label)', 'font-size': 10, color: '#667085', 'text-background-color': '#fbfcfe', 'text-background-opacity': 1, 'text-rotation': 'autorotate' } },
  { selector: 'node.event', style: { 'border-color': '#98a2b3' } },
  { selector: 'node.focus', style: { 'border-color': '#2f6fde', 'border-width': 3, 'background-color': '#eef3fd' } },
  { selector: 'node.alert', style: { 'border-color': '#b5179e', 'border-width': 2.5, color: '#7a0f6a' } },
  { selector: 'node.highlight', style: { 'background-color': '#fde7f7', 'border-color': '#b5179e', 'border-width': 2.5 } },
  { selector: 'node:selected', style: { 'overlay-color': '#2f6fde', 'overlay-opacity': 0.12 } },
];

export function draw(container, elements, { rankDir = 'LR' } = {}) {
  const cy = cytoscape({
    container,
    elements,
    style: STYLE,
    layout: { name: 'dagre', rankDir, nodeSep: 30, rankSep: rankDir === 'LR' ? 60 : 50, padding: 16 },
    wheelSensitivity: 0.3,
    minZoom: 0.2,
    maxZoom: 2,
    autoungrabify: false,
  });
  cy.ready(() => cy.fit(undefined, 16));
  return cy;
}
