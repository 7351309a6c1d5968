// Rolling spend cap: more than 10,000 spent on one card in any 24 hours (cep-engines.md §8.5).
//
// Why: a per-payment limit misses a card drained in several smaller payments (5,000 then 6,000);
// only a sum over a rolling window sees it. The alert is raised once when a card goes over the cap,
// and again only after its 24-hour total has fallen back under it.

const CAP = 10_000;
const rule = windowed('rolling-spend-cap')
  .keyBy((e) => e.data.card)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('1m')
  .where((e) => e.data.approved)
  .sliding('24h')
  .aggregate({ total: sum((e) => e.data.amount), payments: count() });

// One partition per key: each keeps its own window in its own state, so the rule's memory grows
// with the number of keys only as far as the engine's partition cache, not in one state object.
fromAll()
  .partitionBy((e) => e.data.card)
  .when({
  $init: () => ({ rule: rule.initialState(), over: {} }),
  CardAuthorized: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
    for (const r of out.results) {
      if (r.values.total <= CAP) {
        delete s.over[r.key];
        continue;
      }
      if (s.over[r.key]) continue; // already alerted for this card's current 24 hours
      s.over[r.key] = true;
      emit('alerts-rolling-spend-cap', 'RollingSpendCapAlert', {
        rule: r.rule,
        key: r.key,
        reason: 'more than 10,000 spent on one card within 24 hours',
        steps: { payments: r.eventIds.map((id) => ({ id })) },
        values: r.values,
        start: r.start,
        end: r.end,
      });
    }
    return s;
  },
});
