// Amount against the card's moving average, from a new place: a payment of at least 250 that is
// more than 8 times the average of the card's previous 9 payments (cep-engines.md §8.10: Esper's
// "price vs avg(price)" flipped to amount > k × avg, per card; k and the window are ours, no vendor
// publishes them), made more than 500 km from every place those previous payments were made.
//
// Why: a stolen card is used very differently from how its holder uses it. The window is the last
// 10 payments (a count window), so a card used twice a month and one used ten times a day are each
// compared with their own habits; the first 5 payments of a card set no habit yet.
//
// Why the second signal: an unusual amount alone is exactly what a customer buying a television
// looks like, and customers do that (on our traffic, more than a third of the alerts an amount-only
// rule raised were such purchases). Fraud teams do not block on amount alone; they pair it with a
// signal the holder's own big purchase usually lacks. Here that is the place: stolen card details are
// spent by someone else, somewhere else (the geolocation of the online shopper's connection, or the
// terminal of a cloned card), while the holder buys the television where they live. The place of a
// payment is where the card was used: the terminal's city for a card-present payment, the
// connection's geolocation for a card-not-present one (`lat`, `lon`). 500 km is further than a
// commute or a weekend's drive, nearer than a flight; a payment without a place is not judged.
// What this misses: a fraudster near the holder (a stolen wallet, a housemate), or one who hides
// behind a proxy in the holder's city. What it still alerts on: the holder's big purchase on a trip,
// abroad (a travel notice would silence it).

const K = 8;
const MIN_AMOUNT = 250;
const NEW_PLACE_KM = 500;
const HISTORY = 10; // the card's last 10 payments: the one judged and 9 before it

function km(a, b) {
  const r = Math.PI / 180;
  const h = Math.sin(((b.lat - a.lat) * r) / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(((b.lon - a.lon) * r) / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}
const placeOf = (e) => (typeof e.data.lat === 'number' && typeof e.data.lon === 'number' ? { lat: e.data.lat, lon: e.data.lon } : null);

const rule = windowed('amount-vs-average')
  .keyBy((e) => e.data.card)
  .eventTime((e) => Date.parse(e.data.at))
  .where((e) => e.data.approved)
  .count(HISTORY, 1) // the card's last 10 payments, a result for each payment
  .aggregate({ payments: count(), total: sum((e) => e.data.amount) });

// One partition per key: each keeps its own window in its own state, so the rule's memory grows
// with the number of keys only as far as the engine's partition cache, not in one state object.
// `places` holds where the card's last payments were made, in the order they arrived, as the count
// window does (null for a payment that gave no place).
fromAll()
  .partitionBy((e) => e.data.card)
  .when({
  $init: () => ({ rule: rule.initialState(), places: [] }),
  CardAuthorized: (s, e) => {
    if (!e.data.approved) return s;
    const earlier = s.places.slice(-(HISTORY - 1)).filter((p) => p !== null);
    const here = placeOf(e);
    s.places = [...s.places, here].slice(-HISTORY);
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
    for (const r of out.results) {
      // The payment judged is the one that just arrived: `last(amount)` would be the latest by event
      // time, another payment when this one arrives late.
      const { payments, total } = r.values;
      const amount = e.data.amount;
      if (payments < 6) continue;
      const before = (total - amount) / (payments - 1); // the average of the earlier payments
      if (amount < MIN_AMOUNT || amount <= K * before) continue;
      if (here === null || earlier.length === 0) continue;
      const nearest = Math.min(...earlier.map((p) => km(p, here))); // from the nearest place the card was used
      if (nearest <= NEW_PLACE_KM) continue;
      emit('alerts-amount-vs-average', 'AmountVsAverageAlert', {
        rule: r.rule,
        key: r.key,
        reason: 'a payment of ' + amount + ' against an average of ' + Math.round(before * 100) / 100 + ' over the card\'s previous ' + (payments - 1) +
          ', ' + Math.round(nearest) + ' km from the nearest place they were made' + (e.data.channel === 'ecom' ? ' (card not present)' : ''),
        steps: { history: r.eventIds.slice(0, -1).map((id) => ({ id })), payment: [{ id: e.eventId, amount }] },
        values: { amount, average: Math.round(before * 100) / 100, payments, km: Math.round(nearest) },
        start: r.start,
        end: r.end,
      });
    }
    return s;
  },
});
