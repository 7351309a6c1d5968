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

  it('serves a projection\'s config as Event Store does, and changes it only while the projection is stopped', async () => {
    const created = await call(s.url, '/projections/continuous?name=configured&enabled=true&emit=false', { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: COUNTER });
    expect(created.status).to.equal(201);
    const config = (await call(s.url, '/projection/configured/config')).json();
    expect(await config).to.deep.equal({
      emitEnabled: false,
      trackEmittedStreams: false,
      checkpointAfterMs: 0,
      checkpointHandledThreshold: 4000,
      checkpointUnhandledBytesThreshold: 10000000,
      pendingEventsThreshold: 5000,
      maxWriteBatchLength: 500,
      maxAllowedWritesInFlight: 0,
      projectionExecutionTimeout: null,
    });
    const put = (body: unknown, auth?: string) =>
      call(s.url, '/projection/configured/config', { method: 'PUT', headers: { 'content-type': 'application/json' }, body, ...(auth !== undefined ? { auth } : {}) });
    const whileRunning = await put({ checkpointHandledThreshold: 100 });
    expect(whileRunning.status).to.equal(409);
    expect(((await whileRunning.json()) as { message: string }).message).to.match(/while it is Running: disable it first/);
    expect((await call(s.url, '/projection/configured/command/disable', { method: 'POST' })).status).to.equal(200);
    const unknown = await put({ checkpointHandledThreshold: 100, checkpointsEnabled: true });
    expect(unknown.status).to.equal(400);
    expect(((await unknown.json()) as { message: string }).message).to.match(/^Unknown projection config key 'checkpointsEnabled'; the keys are emitEnabled, /);
    const wrongType = await put({ emitEnabled: 'yes' });
    expect(wrongType.status).to.equal(400);
    expect(await wrongType.json()).to.deep.equal({ error: 'invalid-argument', message: 'emitEnabled must be true or false, got "yes"' });
    expect((await put({ maxWriteBatchLength: -1 })).status).to.equal(400);
    expect((await put({ trackEmittedStreams: true })).status).to.equal(400);
    expect((await put('{"emitEnabled": tru')).status).to.equal(400);
    await call(s.url, '/users', { headers: { 'content-type': 'application/json' }, body: { loginName: 'erin', password: 'erin-pass' } });
    expect((await put({ emitEnabled: true }, basic('erin', 'erin-pass'))).status).to.equal(403);
    const ok = await put({ emitEnabled: true, checkpointHandledThreshold: 100, pendingEventsThreshold: 50 });
    expect(ok.status, await ok.clone().text()).to.equal(200);
    expect(await ok.json()).to.include({ emitEnabled: true, checkpointHandledThreshold: 100, pendingEventsThreshold: 50, maxWriteBatchLength: 500 });
    expect(await (await call(s.url, '/projection/configured/config')).json()).to.include({ emitEnabled: true, checkpointHandledThreshold: 100 });
    expect(await (await call(s.url, '/projection/configured')).json()).to.include({ emitEnabled: true, status: 'Stopped' });
    expect((await call(s.url, '/projection/nope/config')).status).to.equal(404);
  });

  it('serves what a projection logged and the fault that stopped it at /projection/{name}/logs, long-polling for new lines', async () => {
    const CHATTY = `fromStream('chat').when({
      Said: function (s, e) { log('said', e.data.i); },
      Boom: function (s, e) { log('about to fail'); throw new Error('boom at ' + e.data.i); }
    });`;
    expect((await call(s.url, '/projections/continuous?name=chatty&enabled=true', { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: CHATTY })).status).to.equal(201);
    await appendBatch(s.url, 'chat', batch('Said', 'Said'));
    type Logs = { name: string; logs: Array<{ seq: number; time: string; kind: string; message: string; line?: number; position?: string }> };
    const logs = async (query = '', headers: Record<string, string> = {}) => (await (await call(s.url, `/projection/chatty/logs${query}`, { headers })).json()) as Logs;
    const first = await until('two lines', () => logs(), (v) => v.logs.length === 2);
    expect(first.name).to.equal('chatty');
    expect(first.logs.map((l) => [l.seq, l.kind, l.message])).to.deep.equal([[1, 'log', 'said 0'], [2, 'log', 'said 1']]);
    expect(first.logs[0]!.time).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // A long poll after the last line answers when the next one comes.
    const waiting = logs('?after=2', { 'Kurrent-LongPoll': '30' });
    await appendBatch(s.url, 'chat', batch('Said', 'Boom'));
    const next = await waiting;
    expect(next.logs[0]).to.include({ seq: 3, kind: 'log', message: 'said 0' });
    const all = await until('the fault', () => logs('?after=2'), (v) => v.logs.some((l) => l.kind === 'fault'));
    expect(all.logs.map((l) => [l.kind, l.message])).to.deep.equal([['log', 'said 0'], ['log', 'about to fail'], ['fault', 'boom at 1']]);
    const status = (await (await call(s.url, '/projection/chatty')).json()) as { status: string; lastError: { position: string } };
    expect(all.logs[2]).to.include({ line: 3, position: status.lastError.position });
    expect((await call(s.url, '/projection/chatty/logs?after=x')).status).to.equal(400);
    expect((await call(s.url, '/projection/nope/logs')).status).to.equal(404);
    expect((await call(s.url, '/projection/chatty/logs', { auth: null })).status).to.equal(401);
  });

  it('reports a faulted projection that is then disabled as Stopped, as Event Store does', async () => {
    expect(await (await call(s.url, '/projection/chatty')).json()).to.include({ status: 'Faulted', stateReason: 'boom at 1' });
    expect((await call(s.url, '/projection/chatty/command/disable', { method: 'POST' })).status).to.equal(200);
    expect(await (await call(s.url, '/projection/chatty')).json()).to.include({ status: 'Stopped', enabled: false, stateReason: '' });
    const listed = (await (await call(s.url, '/projections/any')).json()) as { projections: Array<{ name: string; status: string }> };
    expect(listed.projections.find((p) => p.name === 'chatty')).to.include({ status: 'Stopped' });
  });

  it('starts a transient query at a $all position or a time given as from=, and refuses a bad one', async () => {
    await appendBatch(s.url, 'ticks', batch('Tick', 'Tick', 'Tick'));
    const ticks: Array<{ position: bigint; created: Date; i: number }> = [];
    for await (const e of s.store.readAll()) if (e.streamId === 'ticks') ticks.push({ position: e.position, created: e.created, i: (e.data as { i: number }).i });
    const COLLECT = `fromStream('ticks').when({ $init: function () { return { seen: [] }; }, Tick: function (s, e) { s.seen.push(e.data.i); return s; } })`;
    const run = async (name: string, from: string) => {
      const r = await call(s.url, `/projections/transient?name=${name}&enabled=true&from=${encodeURIComponent(from)}`, { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: COLLECT });
      expect(r.status, await r.clone().text()).to.equal(201);
      await until(`${name} completed`, async () => ((await (await call(s.url, `/projection/${name}`)).json()) as { status: string }).status, (v) => v === 'Completed');
      return (await (await call(s.url, `/projection/${name}/result`)).json()) as { seen: number[] };
    };
    expect(await run('from-position', ticks[1]!.position.toString())).to.deep.equal({ seen: [1, 2] });
    const third = ticks[2]!;
    expect(await run('from-time', third.created.toISOString())).to.deep.equal({ seen: ticks.filter((t) => t.created >= third.created).map((t) => t.i) });
    const bad = await call(s.url, '/projections/transient?name=from-bad&from=yesterday', { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: COLLECT });
    expect(bad.status).to.equal(400);
    expect(((await bad.json()) as { message: string }).message).to.match(/^from must be a \$all position \(e\.g\. 1024\) or an ISO 8601 time/);
    expect((await call(s.url, '/projections/continuous?name=from-continuous&from=0', { method: 'POST', headers: { 'content-type': 'application/javascript' }, body: COLLECT })).status).to.equal(400);
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
