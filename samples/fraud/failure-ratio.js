// Failure ratio: more than 5% of a merchant's card authorisations declined within one minute
// (cep-engines.md §8.12, Siddhi's two windowed counts; here one window with two counts).
//
// Why: card-testing bots run lists of stolen card numbers through one merchant's checkout, and most
// of them are declined. A minute with fewer than 20 authorisations says nothing (one decline in
// ten is 10%), so quiet minutes are not judged. The window is a tumbling minute: the alert comes when
// the minute closes, i.e. when the first event after it arrives (plus the allowed lateness).

const rule = windowed('failure-ratio')
  .keyBy((e) => e.data.merchant)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('10s')
  .tumbling('1m')
  .aggregate({ all: count(), declined: sum((e) => (e.data.approved ? 0 : 1)) })
  .having((v) => v.all >= 20 && v.declined / v.all > 0.05);

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  CardAuthorized: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
    for (const r of out.results) {
      emit('alerts-failure-ratio', 'FailureRatioAlert', {
        rule: r.rule,
        key: r.key,
        reason: r.values.declined + ' of ' + r.values.all + ' authorisations declined in one minute',
        steps: { first: [{ id: r.firstEventId }], last: [{ id: r.lastEventId }] },
        values: r.values,
        start: r.start,
        end: r.end,
      });
    }
    return s;
  },
});
