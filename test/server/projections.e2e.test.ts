// Projection management over HTTP at Event Store's URLs, against the real projection runtime.
import { expect } from '../support/chai.js';
import { ProjectionManager } from '../../engine/index.js';
import { openStore } from '../../store/index.js';
import { ADMIN, appendBatch, basic, batch, call, startServer, type Running } from './server-fixture.js';
import { openTestStore } from './server-fixture.js';

const COUNTER = `fromStream('orders').when({
  $init: function () { return { count: 0 }; },
  OrderPlaced: function (s, e) { s.count += 1; return s; }
});`;

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('HTTP projections', function () {
  this.timeout(60_000);
  let s: Running;
  let projections: ProjectionManager;
  before(async () => {
    const store = await openTestStore();
    projections = new ProjectionManager(store, { systemProjections: false });
    await projections.start();
    s = await startServer({ store, projections });
  });
  after(async () => {
    await s.stop();
  });

  const state = async (name: string) => {
    const text = await (await call(s.url, `/projection/${name}/state`)).text();
    return text === '' ? undefined : (JSON.parse(text) as { count: number });
  };

  it('creates a continuous projection (201 + Location), runs it and serves its state', async () => {
    const r = await call(s.url, '/projections/continuous?name=counter&type=JS&enabled=true&emit=false', { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: COUNTER });
    expect(r.status, await r.clone().text()).to.equal(201);
    expect(r.headers.get('location')).to.equal(`${s.url}/projection/counter`);
    await appendBatch(s.url, 'orders', batch('OrderPlaced', 'OrderPlaced', 'Other', 'OrderPlaced'));
    await until('count 3', () => state('counter'), (v) => v?.count === 3);
    const status = (await (await call(s.url, '/projection/counter')).json()) as Record<string, unknown>;
    expect(status).to.include({ name: 'counter', mode: 'Continuous', status: 'Running' });
    const list = (await (await call(s.url, '/projections/continuous')).json()) as { projections: Array<{ name: string }> };
    expect(list.projections.map((p) => p.name)).to.include('counter');
    expect((await call(s.url, '/projection/counter/query')).headers.get('content-type')).to.match(/^text\/plain/);
    expect(await (await call(s.url, '/projection/counter/query')).text()).to.equal(COUNTER);
  });

  it('disables, enables, resets, updates and deletes', async () => {
    expect((await call(s.url, '/projection/counter/command/disable', { method: 'POST' })).status).to.equal(200);
    await until('stopped', async () => ((await (await call(s.url, '/projection/counter')).json()) as { status: string }).status, (v) => v === 'Stopped');
    expect((await call(s.url, '/projection/counter/command/enable', { method: 'POST' })).status).to.equal(200);
    const updated = COUNTER.replace('s.count += 1', 's.count += 10');
    expect((await call(s.url, '/projection/counter/query?type=JS&emit=false', { method: 'PUT', headers: { 'content-type': 'application/javascript' }, body: updated })).status).to.equal(200);
    expect((await call(s.url, '/projection/counter/command/reset', { method: 'POST' })).status).to.equal(200);
    await call(s.url, '/projection/counter/command/enable', { method: 'POST' });
    await until('count 30 after reset with the new query', () => state('counter'), (v) => v?.count === 30);
    expect((await call(s.url, '/projection/counter?deleteCheckpointStream=true&deleteStateStream=true', { method: 'DELETE' })).status).to.equal(200);
    expect((await call(s.url, '/projection/counter')).status).to.equal(404);
  });

  it('runs a one-time projection to completion and serves its result', async () => {
    const r = await call(s.url, '/projections/onetime?name=once&enabled=true', { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: COUNTER });
    expect(r.status).to.equal(201);
    await until('completed', async () => ((await (await call(s.url, '/projection/once')).json()) as { status: string }).status, (v) => v === 'Completed');
    expect(await (await call(s.url, '/projection/once/result')).json()).to.deep.equal({ count: 3 });
  });

  it('answers 400 with the line for an invalid query, 409 for a duplicate name, 403 for a non-ops user', async () => {
    const bad = await call(s.url, '/projections/continuous?name=broken', { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: 'fromAll().when({ $any: function (s, e) { return s +; } })' });
    expect(bad.status).to.equal(400);
    const dup = await call(s.url, '/projections/onetime?name=once', { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: COUNTER });
    expect(dup.status).to.equal(409);
    await call(s.url, '/users', { headers: { 'content-type': 'application/json' }, body: { loginName: 'dave', password: 'dave-pass' } });
    const dave = basic('dave', 'dave-pass');
    expect((await call(s.url, '/projections/continuous?name=x', { method: 'POST', auth: dave, headers: { 'content-type': 'application/javascript' }, body: COUNTER })).status).to.equal(403);
    expect((await call(s.url, '/projection/once', { auth: dave })).status).to.equal(200);
    expect((await call(s.url, '/projection/once', { auth: null })).status).to.equal(401);
  });

  it('sends projection status changes as server-sent events and projection figures in /metrics', async () => {
    const controller = new AbortController();
    const r = await fetch(`${s.url}/feeds/projections`, { headers: { authorization: ADMIN }, signal: controller.signal });
    const reader = r.body!.getReader();
    let text = '';
    while (!text.includes('"name":"once"')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).to.match(/event: projection\ndata: \{.*"status":"Completed"/);
    const metrics = await (await call(s.url, '/metrics', { auth: null })).text();
    expect(metrics).to.match(/^telltale_projection_events_processed_total\{projection="once"\} \d+$/m);
  });
});
