// A fraud warning, then a PIN change on the same card within a day (cep-engines.md §8.11, the
// Siddhi benchmark's FraudWarningEvent -> PINChangeEvent).
//
// Why: after the bank has warned about suspicious use of a card, a PIN change is more often the
// fraudster (who phished the holder's details) locking the holder out than the holder reacting.

const LATENESS = 60_000; // events arrive up to a minute late (network and queue delays); re-order them
const rule = pattern('warning-then-pin-change')
  .keyBy((e) => e.data.card)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness(LATENESS)
  .remember((e) => ({ channel: e.data.channel }))
  .begin('warning', (e) => e.type === 'FraudWarningIssued')
  .followedBy('pinChange', (e) => e.type === 'PinChanged')
  .within('1d')
  .afterMatch(skipPastLastEvent());

function raise(out) {
  for (const m of out.matches) {
    emit('alerts-warning-then-pin-change', 'WarningThenPinChangeAlert', {
      rule: m.rule,
      key: m.key,
      reason: 'the PIN was changed within a day of a fraud warning on the card',
      steps: m.steps,
      start: m.start,
      end: m.end,
    });
  }
}

function onEvent(s, e) {
  raise(rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data }));
  return s;
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  FraudWarningIssued: onEvent,
  PinChanged: onEvent,
  // Every other event moves event time on as well, so a match held back for late arrivals is
  // released a minute after its last event, not when the key's next event comes (hours later, maybe).
  $any: (s, e) => {
    const t = e.data ? Date.parse(e.data.at) : NaN;
    if (!Number.isNaN(t)) raise(rule.onWatermark(s.rule, t - LATENESS));
    return s;
  },
});
