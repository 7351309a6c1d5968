// A server that stops reporting: no reading from it for two minutes after its last one (servers
// report every 15 seconds). A dead agent, a crashed host or a network partition all look like
// this, and a temperature rule cannot see them: no readings, nothing to be hot.
// The alert fires when event time (readings from the other servers) passes the two minutes.

const rule = pattern('server-stopped-reporting')
  .keyBy((e) => e.data.server)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('30s')
  .remember((e) => ({ zone: e.data.zone, temperature: e.data.temperature }))
  .begin('last', () => true)
  .notFollowedBy('next', () => true)
  .within('2m');

fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  TemperatureMeasured: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, data: e.data });
    for (const m of out.matches) {
      const last = m.steps.last[0];
      emit('alerts-server-stopped-reporting', 'ServerStoppedReportingAlert', {
        rule: m.rule,
        key: m.key,
        server: m.key,
        zone: last.zone,
        reason: m.key + ' has sent no reading for two minutes',
        steps: m.steps,
        lastReadingAt: new Date(m.start).toISOString(),
        provenAt: new Date(m.provenAt).toISOString(),
      });
    }
    return s;
  },
});
