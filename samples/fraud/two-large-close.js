// Two large card payments close together, per customer (cep-engines.md §8.3, Esper keyed context).
//
// Why: once a fraudster holds a customer's card details they spend fast, and across the customer's
// cards; two payments over 400 within ten minutes is unusual for most customers. This is the
// weakest rule of the set on its own: people do buy two expensive things in one afternoon, so its
// alerts are a reason to look, not to block (docs/evaluation.md has its precision).

const rule = pattern('two-large-close')
  .keyBy((e) => e.data.customer)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('1m')
  .remember((e) => ({ amount: e.data.amount, merchant: e.data.merchant, card: e.data.card }))
  .begin('first', (e) => e.data.approved && e.data.amount > 400)
  .followedBy('second', (e) => e.data.approved && e.data.amount > 400)
  .within('10m')
  .afterMatch(skipPastLastEvent());

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  CardAuthorized: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
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
    return s;
  },
});
