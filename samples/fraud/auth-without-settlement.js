// Absence: a card authorisation that is not settled within 24 hours.
// (Esper `every a=A -> (timer:interval(T) and not B(id=a.id))`, Flink `notFollowedBy` + `within`.)
//
// Why: an approved authorisation holds the customer's money until the merchant settles it. One
// left unsettled for a day is a merchant fault or an authorisation-only scheme (a collusive
// merchant authorising stolen cards to test them, never capturing). Hotels and car rentals
// authorise up front and settle at check-out, days later, so their authorisations are not watched.
// The alert fires when event time passes the deadline: the absence is then proven.

const SETTLES_LATER = ['7011', '7512']; // hotels, car rental
const LATENESS = 60_000; // events arrive up to a minute late (network and queue delays); re-order them
const rule = pattern('auth-without-settlement')
  .keyBy((e) => e.data.authId)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness(LATENESS)
  .remember((e) => ({ card: e.data.card, merchant: e.data.merchant, amount: e.data.amount }))
  .begin('authorised', (e) => e.type === 'CardAuthorized' && e.data.approved && !SETTLES_LATER.includes(e.data.mcc))
  .notFollowedBy('settled', (e) => e.type === 'CardSettled')
  .within('24h');

function raise(out) {
  for (const m of out.matches) {
    const auth = m.steps.authorised[0];
    emit('alerts-auth-without-settlement', 'AuthWithoutSettlementAlert', {
      rule: m.rule,
      key: m.key,
      reason: 'authorisation of ' + auth.amount + ' at ' + auth.merchant + ' not settled within 24 hours',
      steps: m.steps,
      start: m.start,
      provenAt: m.provenAt,
    });
  }
}

function onEvent(s, e) {
  raise(rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data }));
  return s;
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  CardAuthorized: onEvent,
  CardSettled: onEvent,
  // Every other event moves event time on as well, so a match held back for late arrivals is
  // released a minute after its last event, not when the key's next event comes (hours later, maybe).
  $any: (s, e) => {
    const t = e.data ? Date.parse(e.data.at) : NaN;
    if (!Number.isNaN(t)) raise(rule.onWatermark(s.rule, t - LATENESS));
    return s;
  },
});
