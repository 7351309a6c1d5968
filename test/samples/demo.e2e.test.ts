// `telltale demo fraud` as a newcomer runs it: a server comes up with the sample rules deployed,
// generated traffic flows in over the HTTP API, and alerts are written to `alerts-*` streams,
// readable over the HTTP API while it runs; `--duration` ends it cleanly with totals that agree
// with what its store holds afterwards. A busy machine may send fewer events than the rate asks
// for (the demo sends less rather than running past --duration), so the totals are checked
// against the store, not against the rate.
import { expect } from '../support/chai.js';
import { start, tempDir } from '../cli/cli-process.js';
import { openStore } from '../../store/index.js';
import '../../store/log/register.js';

const AUTH = `Basic ${Buffer.from('admin:changeit').toString('base64')}`;
const ALERT_STREAMS = ['failed-logins-then-success', 'small-then-large', 'signup-rate-per-ip', 'atm-test-then-large', 'auth-velocity', 'impossible-travel'].map((r) => `alerts-${r}`);

async function alertsIn(api: string, stream: string): Promise<number> {
  const r = await fetch(`${api}/streams/${stream}?embed=body`, { headers: { Accept: 'application/vnd.eventstore.atom+json', Authorization: AUTH } });
  if (r.status === 404) return 0;
  expect(r.status, stream).to.equal(200);
  const feed = (await r.json()) as { entries?: unknown[] };
  return feed.entries?.length ?? 0;
}

describe('telltale demo', function () {
  this.timeout(90_000);

  it('demo fraud: deploys the rules, feeds traffic, and alerts can be read over the HTTP API', async () => {
    const dir = await tempDir();
    const demo = start(['demo', 'fraud', '--port', '0', '--duration', '25', '--db', dir.path, '--json']);
    try {
      const first = await demo.waitFor(/^(\{.*"dashboard".*\})$/m, 30_000);
      const info = JSON.parse(first[1]!) as { api: string; dashboard: string; rules: number };
      expect(info.rules).to.equal(14);
      const page = await fetch(info.dashboard, { headers: { Accept: 'text/html' } });
      expect(page.status).to.equal(200);
      let found = 0;
      for (const deadline = Date.now() + 20_000; found === 0 && Date.now() < deadline; ) {
        for (const s of ALERT_STREAMS) found += await alertsIn(info.api, s);
        if (found === 0) await new Promise((r) => setTimeout(r, 1000));
      }
      expect(found, 'alerts written while the demo runs').to.be.greaterThan(0);
      const end = await demo.waitFor(/^\{"sent":(\d+),"alerts":(\d+)\}$/m, 40_000);
      const sent = Number(end[1]);
      const alerts = Number(end[2]);
      expect(sent).to.be.greaterThan(0);
      expect(alerts).to.be.greaterThan(0);
      const code = demo.child.exitCode ?? (await new Promise<number | null>((r) => demo.child.once('exit', (c) => r(c))));
      expect(code, demo.stderr()).to.equal(0);
      // Every event it says it sent is stored, once; every alert it counted is stored (rules may
      // write a few more as they stop, after the count was taken).
      const store = await openStore(`file:${dir.path}`);
      try {
        let traffic = 0;
        let stored = 0;
        for await (const e of store.readAll()) {
          if (e.streamId.startsWith('alerts-')) stored++;
          else if (!e.streamId.startsWith('$')) traffic++;
        }
        expect(traffic, 'traffic events in the store').to.equal(sent);
        expect(stored, 'alerts in the store').to.be.at.least(alerts);
      } finally {
        await store.close();
      }
    } finally {
      await demo.stop('SIGKILL');
      await dir.remove();
    }
  });
});
