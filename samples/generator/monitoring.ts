// TemperatureMeasured traffic for the monitoring samples (Event Store's example): servers in zones
// reporting every 15 seconds, following a daily curve with noise; now and then a zone overheats for
// a few minutes, or a server goes quiet. Deterministic for a seed, like the fraud traffic.
import { Prng } from './prng.js';
import type { GeneratedEvent } from './traffic.js';

export const ZONES: Readonly<Record<string, readonly string[]>> = {
  Ireland: ['web1', 'web2', 'db1'],
  Frankfurt: ['web3', 'web4', 'db2'],
  Virginia: ['web5', 'web6', 'db3'],
};

export interface MonitoringOptions {
  readonly seed?: number;
  readonly start: number;
  readonly minutes: number;
  /** One overheating zone every this many minutes (8 minutes hot), and a silent server as often. @defaultValue 10 */
  readonly incidentEveryMinutes?: number;
}

export function generateMonitoring(options: MonitoringOptions): GeneratedEvent[] {
  const rnd = new Prng(options.seed ?? 1);
  const every = options.incidentEveryMinutes ?? 10;
  const end = options.start + options.minutes * 60_000;
  const zones = Object.keys(ZONES);
  const servers = zones.flatMap((zone) => ZONES[zone]!.map((server) => ({ zone, server, base: rnd.uniform(20, 25) })));
  // Incidents: [from, to) hot spells per zone and silences per server.
  const hot: { zone: string; from: number; to: number }[] = [];
  const silent: { server: string; from: number; to: number }[] = [];
  for (let t = options.start + 60_000, i = 0; t < end; t += every * 60_000, i++) {
    hot.push({ zone: zones[i % zones.length]!, from: t, to: t + 8 * 60_000 });
    silent.push({ server: servers[(i * 4 + 1) % servers.length]!.server, from: t + 2 * 60_000, to: t + 6 * 60_000 });
  }
  const events: GeneratedEvent[] = [];
  for (let t = options.start; t < end; t += 15_000) {
    for (const s of servers) {
      if (silent.some((x) => x.server === s.server && t >= x.from && t < x.to)) continue;
      const at = t + rnd.int(0, 2000);
      const daily = 2 * Math.sin(((at % 86_400_000) / 86_400_000) * 2 * Math.PI);
      const heat = hot.some((x) => x.zone === s.zone && at >= x.from && at < x.to) ? rnd.uniform(15, 19) : 0;
      const temperature = Math.round((s.base + daily + heat + rnd.normal() * 0.5) * 10) / 10;
      events.push({ streamId: `temperatures-${s.server}`, type: 'TemperatureMeasured', id: rnd.uuid(), time: at, deliverAt: at, data: { zone: s.zone, server: s.server, temperature, at: new Date(at).toISOString() } });
    }
  }
  return events.sort((a, b) => a.time - b.time);
}
