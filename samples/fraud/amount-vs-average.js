// Amount against the card's moving average: a payment of at least 250 that is more than 8 times the
// average of the card's previous 9 payments (cep-engines.md §8.10: Esper's "price vs avg(price)"
// flipped to amount > k × avg, per card; k and the window are ours, no vendor publishes them).
//
// Why: a stolen card is used very differently from how its holder uses it. The window is the last
// 10 payments (a count window), so a card used twice a month and one used ten times a day are each
// compared with their own habits; the first 5 payments of a card set no habit yet.

const K = 8;
const MIN_AMOUNT = 250;
const rule = windowed('amount-vs-average')
  .keyBy((e) => e.data.card)
  .eventTime((e) => Date.parse(e.data.at))
  .where((e) => e.data.approved)
  .count(10, 1) // the card's last 10 payments, a result for each payment
  .aggregate({ payments: count(), total: sum((e) => e.data.amount), amount: last((e) => e.data.amount) });

// One partition per key: each keeps its own window in its own state, so the rule's memory grows
// with the number of keys only as far as the engine's partition cache, not in one state object.
fromAll()
  .partitionBy((e) => e.data.card)
  .when({
  $init: () => ({ rule: rule.initialState() }),
  CardAuthorized: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
    for (const r of out.results) {
      const { payments, total, amount } = r.values;
      if (payments < 6) continue;
      const before = (total - amount) / (payments - 1); // the average of the earlier payments
      if (amount < MIN_AMOUNT || amount <= K * before) continue;
      emit('alerts-amount-vs-average', 'AmountVsAverageAlert', {
        rule: r.rule,
        key: r.key,
        reason: 'a payment of ' + amount + ' against an average of ' + Math.round(before * 100) / 100 + ' over the card\'s previous ' + (payments - 1),
        steps: { history: r.eventIds.slice(0, -1).map((id) => ({ id })), payment: [{ id: r.lastEventId, amount }] },
        values: { amount, average: Math.round(before * 100) / 100, payments },
        start: r.start,
        end: r.end,
      });
    }
    return s;
  },
});
