// ATM test withdrawal, then a very large one on the same card within a day (cep-engines.md §8.2).
//
// Why: a cloned or stolen card is tried at an ATM with a small amount (under 100) to learn that
// the card and PIN work; the large withdrawal (over 10,000) comes later, often from another machine.
// Withdrawals in between do not hide it (relaxed contiguity).

const LATENESS = 60_000; // events arrive up to a minute late (network and queue delays); re-order them
const rule = pattern('atm-test-then-large')
  .keyBy((e) => e.data.card)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness(LATENESS)
  .remember((e) => ({ amount: e.data.amount, atm: e.data.atm }))
  .begin('test', (e) => e.data.amount < 100)
  .followedBy('large', (e) => e.data.amount > 10_000)
  .within('1d')
  .afterMatch(skipPastLastEvent());

function raise(out) {
  for (const m of out.matches) {
    emit('alerts-atm-test-then-large', 'AtmTestThenLargeAlert', {
      rule: m.rule,
      key: m.key,
      reason: 'an ATM withdrawal under 100 then one over 10,000 within a day on the same card',
      steps: m.steps,
      start: m.start,
      end: m.end,
    });
  }
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  AtmWithdrawal: (s, e) => {
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
