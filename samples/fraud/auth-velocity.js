// Authorisation velocity: more than 3 authorisation attempts on one card within 5 seconds
// (cep-engines.md §8.4, ksqlDB's example).
//
// Why: scripts that test or drain a card fire attempts faster than any person at a till or a
// checkout page can. ksqlDB's example counts in 5-second *tumbling* windows; a burst that straddles
// a window boundary (2 attempts before it, 2 after) then goes unseen, so this sample counts over a
// *sliding* 5 seconds instead: every burst of 4 is seen. It alerts once per burst: when the count
// goes over 3, and again only after it has fallen back to 3 or fewer.

const rule = windowed('auth-velocity')
  .keyBy((e) => e.data.card)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('1m')
  .sliding('5s')
  .aggregate({ attempts: count() });

// One partition per key: each keeps its own window in its own state, so the rule's memory grows
// with the number of keys only as far as the engine's partition cache, not in one state object.
fromAll()
  .partitionBy((e) => e.data.card)
  .when({
  $init: () => ({ rule: rule.initialState(), bursting: {} }),
  CardAuthorized: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
    for (const r of out.results) {
      if (r.values.attempts <= 3) {
        delete s.bursting[r.key];
        continue;
      }
      if (s.bursting[r.key]) continue; // this burst has been reported
      s.bursting[r.key] = true;
      emit('alerts-auth-velocity', 'AuthVelocityAlert', {
        rule: r.rule,
        key: r.key,
        reason: 'more than 3 authorisation attempts on one card within 5 seconds',
        steps: { attempts: r.eventIds.map((id) => ({ id })) },
        values: r.values,
        start: r.start,
        end: r.end,
      });
    }
    return s;
  },
});
