// Accumulated payer-to-beneficiary amount: more than 1,000,000 sent from one payer to one
// beneficiary within a week (cep-engines.md §8.6, the Flink fraud-detection blog's rule).
//
// Why: money laundering and invoice fraud move large sums in many transfers each below the
// per-transfer review limit; summing per (payer, beneficiary) pair over a week shows the whole.
// Alerted once when the pair crosses the amount, again only after it has fallen back under it.

const LIMIT = 1_000_000;
const rule = windowed('payer-beneficiary')
  .keyBy((e) => e.data.payer + '->' + e.data.beneficiary)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('1m')
  .sliding('7d')
  .aggregate({ total: sum((e) => e.data.amount), transfers: count() });

// One partition per key: each keeps its own window in its own state, so the rule's memory grows
// with the number of keys only as far as the engine's partition cache, not in one state object.
fromAll()
  .partitionBy((e) => e.data.payer + '->' + e.data.beneficiary)
  .when({
  $init: () => ({ rule: rule.initialState(), over: {} }),
  TransferInitiated: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
    for (const r of out.results) {
      if (r.values.total <= LIMIT) {
        delete s.over[r.key];
        continue;
      }
      if (s.over[r.key]) continue;
      s.over[r.key] = true;
      emit('alerts-payer-beneficiary', 'PayerBeneficiaryAlert', {
        rule: r.rule,
        key: r.key,
        reason: 'more than 1,000,000 from one payer to one beneficiary within a week',
        steps: { transfers: r.eventIds.map((id) => ({ id })) },
        values: r.values,
        start: r.start,
        end: r.end,
      });
    }
    return s;
  },
});
