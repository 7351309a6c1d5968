// Graceful shutdown under load loses no acknowledged append; live feeds (server-sent events) and
// /metrics show what the server does.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '../support/chai.js';
import { openStore } from '../../store/index.js';
import { ADMIN, appendBatch, batch, call, checkConsistency, EVENTS_JSON, startServer } from './server-fixture.js';
import { openTestStore } from './server-fixture.js';

describe('HTTP server shutdown', () => {
  it('stops accepting, finishes in-flight appends and loses none that were acknowledged', async function () {
    this.timeout(60_000);
    const store = await openTestStore();
    const s = await startServer({ store });
    const acknowledged: Array<{ stream: string; id: string }> = [];
    const refused = new Map<string, number>();
    let stop = false;
    const writers = Array.from({ length: 32 }, async (_, w) => {
      while (!stop) {
        const id = randomUUID();
        const stream = `load-${w % 8}`;
        try {
          const r = await fetch(`${s.url}/streams/${stream}`, {
            method: 'POST',
            headers: { authorization: ADMIN, 'content-type': EVENTS_JSON },
            body: JSON.stringify([{ eventId: id, eventType: 'Load', data: { w } }]),
          });
          await r.arrayBuffer();
          if (r.status === 201) acknowledged.push({ stream, id });
          else {
            refused.set(String(r.status), (refused.get(String(r.status)) ?? 0) + 1);
            expect(r.status, 'only "closing" may refuse an append').to.equal(503);
          }
        } catch (e) {
          // The socket was closed by the server after the shutdown: not acknowledged, so not owed.
          refused.set('socket', (refused.get('socket') ?? 0) + 1);
          if (stop) return;
        }
        if (s.server.address === undefined) return;
      }
    });
    // Wait for real load (the machine may be slow), then shut down in the middle of it.
    for (let waited = 0; acknowledged.length < 100 && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    const before = acknowledged.length;
    await s.server.close();
    stop = true;
    await Promise.all(writers);
    expect(before, 'load was running').to.be.greaterThan(50);
    const stored = new Set<string>();
    for await (const e of store.readAll()) stored.add(e.id);
    const lost = acknowledged.filter((a) => !stored.has(a.id));
    expect(lost, 'acknowledged appends missing from the store').to.deep.equal([]);
    await checkConsistency(store);
    await store.close();
  });
});

describe('HTTP live feeds and metrics', () => {
  it('streams new events of a stream as server-sent events, from a given event number', async () => {
    const s = await startServer();
    try {
      await appendBatch(s.url, 'live', batch('A', 'B'));
      const controller = new AbortController();
      const r = await fetch(`${s.url}/feeds/streams/live?from=0`, { headers: { authorization: ADMIN }, signal: controller.signal });
      expect(r.status).to.equal(200);
      expect(r.headers.get('content-type')).to.match(/^text\/event-stream/);
      const reader = r.body!.getReader();
      let text = '';
      const got = (async () => {
        while (!text.includes('"eventType":"C"')) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
      })();
      await appendBatch(s.url, 'live', batch('C'));
      await got;
      controller.abort();
      const events = text.split('\n\n').filter((b) => b.includes('event: event'));
      expect(events.map((b) => JSON.parse(b.split('data: ')[1]!).eventType)).to.deep.equal(['B', 'C']);
      expect(events[0]).to.match(/^id: 1$/m);
    } finally {
      await s.stop();
    }
  });

  it('refuses the $all feed to a non-admin and ends feeds on shutdown', async () => {
    const s = await startServer();
    try {
      expect((await call(s.url, '/feeds/all', { auth: null })).status).to.equal(401);
      const r = await fetch(`${s.url}/feeds/all`, { headers: { authorization: ADMIN } });
      expect(r.status).to.equal(200);
      const ended = r.body!.pipeTo(new WritableStream()).then(() => true, () => true);
      await s.server.close();
      expect(await ended).to.equal(true);
    } finally {
      await s.stop();
    }
  });

  it('serves Prometheus metrics: append and read counters, latency histograms, subscription figures', async () => {
    const s = await startServer();
    try {
      await appendBatch(s.url, 'metered', batch('A', 'B', 'C'));
      await call(s.url, '/streams/metered');
      await call(s.url, '/subscriptions/metered/g', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: {} });
      const r = await call(s.url, '/metrics', { auth: null });
      expect(r.status).to.equal(200);
      expect(r.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
      const text = await r.text();
      expect(text).to.match(/^telltale_http_appended_events_total 3$/m);
      expect(text).to.match(/^telltale_http_read_requests_total 1$/m);
      expect(text).to.match(/^telltale_http_append_duration_seconds_bucket\{le="\+Inf"\} 1$/m);
      expect(text).to.match(/^telltale_persistent_delivered_total\{stream="metered",group="g"\} 0$/m);
      expect(text).to.match(/^telltale_http_responses_total\{code="201"\} \d+$/m);
    } finally {
      await s.stop();
    }
  });

  it('serves the log store fsync count and time and its group commits in /metrics', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'telltale-metrics-'));
    const store = await openStore(`file:${dir}`);
    const s = await startServer({ store });
    try {
      await appendBatch(s.url, 'synced', batch('A', 'B'));
      await appendBatch(s.url, 'synced', batch('C'));
      const text = await (await call(s.url, '/metrics', { auth: null })).text();
      const figure = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(figure('telltale_store_fsyncs_total')).to.be.at.least(2);
      expect(figure('telltale_store_fsync_seconds_total')).to.be.greaterThan(0);
      expect(figure('telltale_store_commits_total')).to.be.at.least(2);
    } finally {
      await s.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
