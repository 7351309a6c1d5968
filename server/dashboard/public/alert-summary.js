// One line about an alert: its key and the first few scalar fields of its data.
export function summaryOf(a) {
  const d = a.data;
  if (d === null || typeof d !== 'object') return String(d ?? '');
  const parts = [];
  if (d.rule) parts.push(`rule ${d.rule}`);
  if (d.key !== undefined) parts.push(`key ${d.key}`);
  const steps = matchedSteps(a);
  if (steps) parts.push(Object.entries(steps).map(([k, v]) => `${k}×${v.length}`).join(' → '));
  for (const [k, v] of Object.entries(d)) {
    if (parts.length >= 4) break;
    // A pattern match's bookkeeping (kind, start, end) says less than its key and its data.
    if (k === 'rule' || k === 'key' || k === 'kind' || k === 'start' || k === 'end' || (v !== null && typeof v === 'object')) continue;
    parts.push(`${k} ${v}`);
  }
  return parts.join(' · ');
}

/** The events that matched each step: `{ step: [{ id, time, …remembered }] }`, when the alert carries a match. */
export function matchedSteps(a) {
  const d = a.data;
  const steps = d && typeof d === 'object' ? d.steps ?? d.match?.steps : undefined;
  return steps && typeof steps === 'object' ? steps : undefined;
}
