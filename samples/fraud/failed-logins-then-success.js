// Failed logins, then a success: at least 5 failed logins in a row followed by a successful one
// within 5 minutes, per customer (cep-engines.md §8.7, Oracle's example).
//
// Why: password guessing or credential stuffing that finally works. A customer who mistypes a
// password twice and then gets it right is not it; five failures in a row and then a success is.

const LATENESS = 60_000; // events arrive up to a minute late (network and queue delays); re-order them
const rule = pattern('failed-logins-then-success')
  .keyBy((e) => e.data.customer)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness(LATENESS)
  .remember((e) => ({ ip: e.data.ip }))
  .begin('failures', (e) => e.type === 'LoginFailed').timesOrMore(5).consecutive()
  .next('success', (e) => e.type === 'LoginSucceeded')
  .within('5m')
  .afterMatch(skipPastLastEvent()); // one alert with the longest run, not one per suffix of it

function raise(out) {
  for (const m of out.matches) {
    emit('alerts-failed-logins-then-success', 'FailedLoginsThenSuccessAlert', {
      rule: m.rule,
      key: m.key,
      reason: m.steps.failures.length + ' failed logins in a row, then a successful one, within 5 minutes',
      steps: m.steps,
      start: m.start,
      end: m.end,
    });
  }
}

function onLogin(s, e) {
  raise(rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data }));
  return s;
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  LoginFailed: onLogin,
  LoginSucceeded: onLogin,
  // Every other event moves event time on as well, so a match held back for late arrivals is
  // released a minute after its last event, not when the key's next event comes (hours later, maybe).
  $any: (s, e) => {
    const t = e.data ? Date.parse(e.data.at) : NaN;
    if (!Number.isNaN(t)) raise(rule.onWatermark(s.rule, t - LATENESS));
    return s;
  },
});
