// Small test charge, then a large one (cep-engines.md §8.1, v2).
//
// Why: whoever buys stolen card numbers first checks that a card works with a charge too small for
// the holder to notice (under $1.00), then spends as much as they can before the card is blocked.
// A large charge (over $500) within a minute of a test charge on the same card is the tell.
// Other charges in between do not hide it (relaxed contiguity, Esper `->`, Flink `followedBy`).

const LATENESS = 60_000; // events arrive up to a minute late (network and queue delays); re-order them
const rule = pattern('small-then-large')
  .keyBy((e) => e.data.card)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness(LATENESS)
  .remember((e) => ({ amount: e.data.amount, merchant: e.data.merchant }))
  .begin('small', (e) => e.data.approved && e.data.amount < 1)
  .followedBy('large', (e) => e.data.approved && e.data.amount > 500)
  .within('1m')
  .afterMatch(skipPastLastEvent()); // one alert per test-then-spend, not one per test charge

function raise(out) {
  for (const m of out.matches) {
    emit('alerts-small-then-large', 'SmallThenLargeAlert', {
      rule: m.rule,
      key: m.key,
      reason: 'a charge under $1 then one over $500 within a minute on the same card',
      steps: m.steps, // which events matched which step: { small: [{id, time, amount, merchant}], large: [...] }
      start: m.start,
      end: m.end,
    });
  }
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  CardAuthorized: (s, e) => {
    // Only the id, type and body go in: a re-ordered event waits in the rule's state until its turn.
    raise(rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data }));
    return s;
  },
  // Every other event moves event time on as well, so a match held back for late arrivals is
  // released a minute after its last event, not when the key's next event comes (hours later, maybe).
  $any: (s, e) => {
    const t = e.data ? Date.parse(e.data.at) : NaN;
    if (!Number.isNaN(t)) raise(rule.onWatermark(s.rule, t - LATENESS));
    return s;
  },
});
