// Sign-up rate per IP address: more than 3 sign-ups from one IP within 10 minutes
// (cep-engines.md §8.9, SQRL's `rateLimited(BY Ip MAX 3 EVERY 10 MINUTES)`).
//
// Why: fake accounts (for promotions, mule accounts, spam) are made by scripts, many from one
// address. A family or an office sharing an address makes 2 or 3, rarely more in ten minutes.
// One alert per burst: when the count goes over 3, again only after it has fallen back to 3.

const rule = windowed('signup-rate-per-ip')
  .keyBy((e) => e.data.ip)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('1m')
  .sliding('10m')
  .aggregate({ signups: count() });

// One partition per key: each keeps its own window in its own state, so the rule's memory grows
// with the number of keys only as far as the engine's partition cache, not in one state object.
fromAll()
  .partitionBy((e) => e.data.ip)
  .when({
  $init: () => ({ rule: rule.initialState(), bursting: {} }),
  SignedUp: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
    for (const r of out.results) {
      if (r.values.signups <= 3) {
        delete s.bursting[r.key];
        continue;
      }
      if (s.bursting[r.key]) continue;
      s.bursting[r.key] = true;
      emit('alerts-signup-rate-per-ip', 'SignupRatePerIpAlert', {
        rule: r.rule,
        key: r.key,
        reason: 'more than 3 sign-ups from one IP address within 10 minutes',
        steps: { signups: r.eventIds.map((id) => ({ id })) },
        values: r.values,
        start: r.start,
        end: r.end,
      });
    }
    return s;
  },
});
