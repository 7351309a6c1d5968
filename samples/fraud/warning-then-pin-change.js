// A fraud warning, then a PIN change on the same card within a day (cep-engines.md §8.11, the
// Siddhi benchmark's FraudWarningEvent -> PINChangeEvent).
//
// Why: after the bank has warned about suspicious use of a card, a PIN change is more often the
// fraudster (who phished the holder's details) locking the holder out than the holder reacting.

const rule = pattern('warning-then-pin-change')
  .keyBy((e) => e.data.card)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('1m')
  .remember((e) => ({ channel: e.data.channel }))
  .begin('warning', (e) => e.type === 'FraudWarningIssued')
  .followedBy('pinChange', (e) => e.type === 'PinChanged')
  .within('1d')
  .afterMatch(skipPastLastEvent());

function onEvent(s, e) {
  const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
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
  return s;
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  FraudWarningIssued: onEvent,
  PinChanged: onEvent,
});
