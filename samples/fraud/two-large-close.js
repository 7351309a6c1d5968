// Two large card payments close together, per customer (cep-engines.md §8.3, Esper keyed context).
//
// Why: once a fraudster holds a customer's card details they spend fast, and across the customer's
// cards; two payments over 400 within ten minutes is unusual for most customers. This is the
// weakest rule of the set on its own: people do buy two expensive things in one afternoon, so its
// alerts are a reason to look, not to block (docs/evaluation.md has its precision).

const LATENESS = 60_000; // events arrive up to a minute late (network and queue delays); re-order them
const rule = pattern('two-large-close')
  .keyBy((e) => e.data.customer)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness(LATENESS)
  .remember((e) => ({ amount: e.data.amount, merchant: e.data.merchant, card: e.data.card }))
  .begin('first', (e) => e.data.approved && e.data.amount > 400)
  .followedBy('second', (e) => e.data.approved && e.data.amount > 400)
  .within('10m')
  .afterMatch(skipPastLastEvent());

function raise(out) {
  for (const m of out.matches) {
    emit('alerts-two-large-close', 'TwoLargeCloseAlert', {
      rule: m.rule,
      key: m.key,
      reason: 'two card payments over 400 within ten minutes for the same customer',
      steps: m.steps,
      start: m.start,
      end: m.end,
    });
  }
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  CardAuthorized: (s, e) => {
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
