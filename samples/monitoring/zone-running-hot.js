// A zone running hot: every reading from the zone above 30 °C for five minutes. One reading over
// the line is a sensor blip or a busy minute; five minutes with no reading back under it means the
// cooling is not keeping up. One alert per hot spell: the zone must read at or under 30 °C again
// before it can alert again.
//
// As an absence: a hot reading not followed by a cool one within five minutes. The alert fires when
// event time passes the five minutes, so it needs readings to keep coming (from any zone).

const HOT = 30;
const hot = (e) => e.data.temperature > HOT;
const rule = pattern('zone-running-hot')
  .keyBy((e) => e.data.zone)
  .eventTime((e) => Date.parse(e.data.at))
  .allowedLateness('30s')
  .remember((e) => ({ server: e.data.server, temperature: e.data.temperature }))
  .begin('hot', hot)
  .notFollowedBy('cooled', (e) => !hot(e))
  .within('5m');

fromAll().when({
  $init: () => ({ rule: rule.initialState(), alerted: {}, lastCool: {} }),
  TemperatureMeasured: (s, e) => {
    const reading = { id: e.eventId, data: e.data };
    const out = rule.advance(s.rule, reading);
    for (const m of out.matches) {
      if (s.alerted[m.key]) continue; // this hot spell has been reported
      s.alerted[m.key] = true;
      emit('alerts-zone-running-hot', 'ZoneRunningHotAlert', {
        rule: m.rule,
        key: m.key,
        zone: m.key,
        reason: 'every reading in ' + m.key + ' above ' + HOT + ' °C for five minutes',
        steps: m.steps,
        since: new Date(m.start).toISOString(),
        provenAt: new Date(m.provenAt).toISOString(),
      });
    }
    // A cool reading ends the spell (in event time order: the rule has re-ordered what came late).
    if (!hot(reading) && Date.parse(e.data.at) >= (s.lastCool[e.data.zone] || 0)) {
      s.lastCool[e.data.zone] = Date.parse(e.data.at);
      delete s.alerted[e.data.zone];
    }
    return s;
  },
});
