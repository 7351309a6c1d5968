// Per-zone statistics over a sliding 10 minutes, published every minute: readings, mean, min,
// max, spread and the 95th percentile, as `ZoneStatistics` events in `zone_statistics-<zone>`.
// A hopping window (10 minutes long, starting every minute) is the sliding window computed once a
// minute instead of at every reading: one summary a minute per zone, whatever the reading rate.

const stats = windowed('zone-statistics')
  .keyBy((e) => e.data.zone)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('30s') // sensors report through gateways that can lag
  .hopping('10m', '1m')
  .aggregate({
    readings: count(),
    mean: avg((e) => e.data.temperature),
    min: min((e) => e.data.temperature),
    max: max((e) => e.data.temperature),
    stddev: stddev((e) => e.data.temperature),
    p95: percentile((e) => e.data.temperature, 0.95),
  });

const round = (x) => (x === null ? null : Math.round(x * 100) / 100);

fromAll().when({
  $init: () => ({ stats: stats.initialState() }),
  TemperatureMeasured: (s, e) => {
    const out = stats.advance(s.stats, { id: e.eventId, data: e.data });
    for (const r of out.results) {
      const v = r.values;
      emit('zone_statistics-' + r.key, 'ZoneStatistics', {
        zone: r.key,
        from: new Date(r.start).toISOString(),
        to: new Date(r.end).toISOString(),
        readings: v.readings,
        mean: round(v.mean),
        min: v.min,
        max: v.max,
        stddev: round(v.stddev),
        p95: round(v.p95),
      });
    }
    return s;
  },
});
