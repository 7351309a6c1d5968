// Impossible travel: two consecutive successful logins of one customer further apart than anyone
// can travel in the time between them, over 1000 km/h (cep-engines.md §8.8, Airlock's default).
//
// Why: the same credentials used from two places at once means someone else has them.
// Locations come from IP geolocation, which is only good to a city, so logins less than 50 km
// apart are never compared (Airlock publishes 1 km for GPS-grade positions). At 1000 km/h nobody
// can cross the Earth (20,000 km at most) in 20 hours, so a login older than that can never pair:
// `within('20h')` costs nothing in detection and bounds what the rule remembers.

const MAX_KMH = 1000;
const MIN_KM = 50;

function km(a, b) {
  const r = Math.PI / 180;
  const h = Math.sin(((b.lat - a.lat) * r) / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(((b.lon - a.lon) * r) / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}

const LATENESS = 60_000; // events arrive up to a minute late (network and queue delays); re-order them
const rule = pattern('impossible-travel')
  .keyBy((e) => e.data.customer)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness(LATENESS)
  .remember((e) => ({ lat: e.data.lat, lon: e.data.lon, city: e.data.city }))
  .begin('from', () => true)
  .next('to', (e, m) => {
    const from = m.last('from');
    const distance = km(from, e.data);
    const hours = (Date.parse(e.data.at) - from.time) / 3_600_000;
    return distance >= MIN_KM && distance / Math.max(hours, 1 / 3600) > MAX_KMH;
  })
  .within('20h');

function raise(out) {
  for (const m of out.matches) {
    const from = m.steps.from[0];
    const to = m.steps.to[0];
    const distance = Math.round(km(from, to));
    emit('alerts-impossible-travel', 'ImpossibleTravelAlert', {
      rule: m.rule,
      key: m.key,
      reason: distance + ' km from ' + from.city + ' to ' + to.city + ' in ' + Math.round((to.time - from.time) / 60_000) + ' minutes',
      steps: m.steps,
      start: m.start,
      end: m.end,
    });
  }
}

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  LoginSucceeded: (s, e) => {
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
