// Persistent subscriptions over HTTP with several competing consumers: every message delivered
// and acknowledged, strategies, retries, parking after max retries, replay of parked messages,
// and checkpoints that survive a restart.
import { expect } from '../support/chai.js';
import { openStore, type Store } from '../../store/index.js';
import { appendBatch, batch, call, startServer, type Running } from './server-fixture.js';
import { openTestStore } from './server-fixture.js';

interface Message {
  id: string;
  summary: string;
  retryCount: number;
  streamId?: string;
  links: Array<{ uri: string; relation: string }>;
}

const COMPETING = 'application/vnd.eventstore.competingatom+json';

async function createGroup(s: Running, stream: string, group: string, settings: object): Promise<void> {
  const r = await call(s.url, `/subscriptions/${stream}/${group}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: settings });
  expect(r.status, await r.clone().text()).to.equal(201);
}

async function read(s: Running, stream: string, group: string, count: number, consumer?: string): Promise<Message[]> {
  const q = consumer === undefined ? '?embed=rich' : `?embed=rich&consumer=${consumer}`;
  const r = await call(s.url, `/subscriptions/${stream}/${group}/${count}${q}`, { headers: { accept: COMPETING } });
  expect(r.status).to.equal(200);
  expect(r.headers.get('content-type')).to.match(/competingatom\+json/);
  const entries = ((await r.json()) as { entries: Array<Omit<Message, 'id'>> }).entries;
  // A message's id is the last segment of its ack link (the atom `id` is the event's URL).
  return entries.map((e) => ({ ...e, id: e.links.find((l) => l.relation === 'ack')!.uri.split('/').pop()! }));
}

async function ack(s: Running, stream: string, group: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const r = await call(s.url, `/subscriptions/${stream}/${group}/ack?ids=${ids.join(',')}`, { method: 'POST' });
  expect(r.status).to.equal(202);
}

async function nack(s: Running, stream: string, group: string, id: string, action: string): Promise<void> {
  const r = await call(s.url, `/subscriptions/${stream}/${group}/nack/${id}?action=${action}`, { method: 'POST' });
  expect(r.status).to.equal(202);
}

async function info(s: Running, stream: string, group: string): Promise<Record<string, any>> {
  return (await (await call(s.url, `/subscriptions/${stream}/${group}/info`)).json()) as Record<string, any>;
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('HTTP persistent subscriptions', () => {
  let s: Running;
  let store: Store;
  before(async () => {
    store = await openTestStore();
    s = await startServer({ store });
  });
  after(async () => {
    await s.stop();
  });

  it('creates, lists, updates and deletes groups, with 409 for a duplicate and 404 for a missing one', async () => {
    await createGroup(s, 'admin-orders', 'g1', { startFrom: 0 });
    const again = await call(s.url, '/subscriptions/admin-orders/g1', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: {} });
    expect(again.status).to.equal(409);
    const list = (await (await call(s.url, '/subscriptions')).json()) as Array<{ groupName: string; eventStreamId: string }>;
    expect(list.map((g) => `${g.eventStreamId}/${g.groupName}`)).to.include('admin-orders/g1');
    const updated = await call(s.url, '/subscriptions/admin-orders/g1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: { maxRetryCount: 3 } });
    expect(updated.status).to.equal(200);
    expect((await info(s, 'admin-orders', 'g1')).config.maxRetryCount).to.equal(3);
    expect((await call(s.url, '/subscriptions/admin-orders/g1', { method: 'DELETE' })).status).to.equal(200);
    expect((await call(s.url, '/subscriptions/admin-orders/g1/info')).status).to.equal(404);
    const bad = await call(s.url, '/subscriptions/admin-orders/g2', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: { namedConsumerStrategy: 'Random' } });
    expect(bad.status).to.equal(400);
  });

  it('delivers every message to four competing consumers exactly as acked, round robin', async () => {
    const total = 200;
    for (let i = 0; i < total; i += 50) await appendBatch(s.url, 'rr', batch(...Array.from({ length: 50 }, (_, j) => `E${i + j}`)));
    await createGroup(s, 'rr', 'workers', { namedConsumerStrategy: 'RoundRobin', messageTimeoutMilliseconds: 30_000 });
    const byConsumer = new Map<string, number>();
    const seen = new Set<string>();
    await Promise.all(
      ['c1', 'c2', 'c3', 'c4'].map(async (consumer) => {
        let idle = 0;
        while (idle < 10) {
          const messages = await read(s, 'rr', 'workers', 5, consumer);
          if (messages.length === 0) {
            idle++;
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          idle = 0;
          for (const m of messages) seen.add(m.summary);
          byConsumer.set(consumer, (byConsumer.get(consumer) ?? 0) + messages.length);
          await ack(s, 'rr', 'workers', messages.map((m) => m.id));
        }
      }),
    );
    expect(seen.size).to.equal(total);
    expect([...byConsumer.values()].reduce((a, b) => a + b, 0)).to.equal(total);
    for (const n of byConsumer.values()) expect(n, 'each consumer gets a share').to.be.greaterThan(10);
    await until('the checkpoint', async () => (await info(s, 'rr', 'workers')).lastProcessedEventNumber === total - 1);
  });

  it('gives every message to one consumer with DispatchToSingle while it has room', async () => {
    await appendBatch(s.url, 'single', batch(...Array.from({ length: 10 }, (_, i) => `E${i}`)));
    await createGroup(s, 'single', 'g', { namedConsumerStrategy: 'DispatchToSingle' });
    const first = await read(s, 'single', 'g', 4, 'first');
    expect(first).to.have.length(4);
    const second = await read(s, 'single', 'g', 10, 'second');
    // `first` holds 4 unacked (its capacity): the rest go to the next consumer.
    expect(second).to.have.length(6);
    await ack(s, 'single', 'g', [...first, ...second].map((m) => m.id));
  });

  it('keeps each source stream on one consumer with Pinned', async () => {
    for (const stream of ['acct-1', 'acct-2', 'acct-3', 'acct-4', 'acct-5', 'acct-6']) {
      await appendBatch(s.url, stream, batch('A', 'B', 'C'));
      await appendBatch(s.url, 'pinned-src', [{ eventId: crypto.randomUUID(), eventType: '$>', data: `0@${stream}` }, { eventId: crypto.randomUUID(), eventType: '$>', data: `1@${stream}` }, { eventId: crypto.randomUUID(), eventType: '$>', data: `2@${stream}` }]);
    }
    await createGroup(s, 'pinned-src', 'g', { namedConsumerStrategy: 'Pinned', resolveLinktos: true });
    const owner = new Map<string, Set<string>>();
    let delivered = 0;
    // Both consumers connect before any message is dispatched, so the buckets are split between them.
    await read(s, 'pinned-src', 'g', 0 + 1, 'p1').then(async (m) => {
      for (const x of m) (owner.get(x.streamId!) ?? owner.set(x.streamId!, new Set()).get(x.streamId!)!).add('p1');
      delivered += m.length;
      await ack(s, 'pinned-src', 'g', m.map((x) => x.id));
    });
    for (let round = 0; round < 40 && delivered < 18; round++) {
      for (const c of ['p1', 'p2']) {
        const messages = await read(s, 'pinned-src', 'g', 50, c);
        for (const m of messages) (owner.get(m.streamId!) ?? owner.set(m.streamId!, new Set()).get(m.streamId!)!).add(c);
        delivered += messages.length;
        await ack(s, 'pinned-src', 'g', messages.map((m) => m.id));
      }
    }
    expect(delivered).to.equal(18);
    const multiOwner = [...owner.entries()].filter(([, c]) => c.size > 1).map(([stream]) => stream);
    // The first read happened before p2 connected; after that, each stream stays with one consumer.
    expect(multiOwner.length).to.be.at.most(1);
  });

  it('retries a nacked message, parks it after maxRetryCount retries, and replays parked messages', async () => {
    await appendBatch(s.url, 'retry', batch('ok-1', 'poison', 'ok-2'));
    await createGroup(s, 'retry', 'g', { maxRetryCount: 2, messageTimeoutMilliseconds: 60_000 });
    const deliveries: Record<string, number> = {};
    for (let round = 0; round < 20; round++) {
      const messages = await read(s, 'retry', 'g', 10, 'worker');
      for (const m of messages) {
        deliveries[m.summary] = (deliveries[m.summary] ?? 0) + 1;
        if (m.summary === 'poison') {
          expect(m.retryCount).to.equal(deliveries.poison! - 1);
          await nack(s, 'retry', 'g', m.id, 'Retry');
        } else await ack(s, 'retry', 'g', [m.id]);
      }
      if ((await info(s, 'retry', 'g')).parkedMessageCount === 1) break;
    }
    expect(deliveries).to.deep.equal({ 'ok-1': 1, poison: 3, 'ok-2': 1 });
    const parkedInfo = await info(s, 'retry', 'g');
    expect(parkedInfo.parkedMessageCount).to.equal(1);
    await until('the checkpoint past the parked message', async () => (await info(s, 'retry', 'g')).lastProcessedEventNumber === 2);

    const parked = await call(s.url, '/streams/%24persistentsubscription-retry%3A%3Ag-parked/0/forward/10', { headers: { accept: 'application/vnd.eventstore.atom+json' } });
    expect(parked.status).to.equal(200);

    const replay = await call(s.url, '/subscriptions/retry/g/replayParked', { method: 'POST' });
    expect(replay.status).to.equal(200);
    const again = await read(s, 'retry', 'g', 10, 'worker');
    expect(again.map((m) => m.summary)).to.deep.equal(['poison']);
    await ack(s, 'retry', 'g', [again[0]!.id]);
    expect((await info(s, 'retry', 'g')).parkedMessageCount).to.equal(0);
  });

  it('parks immediately on nack Park and drops on nack Skip', async () => {
    await appendBatch(s.url, 'park-skip', batch('to-park', 'to-skip'));
    await createGroup(s, 'park-skip', 'g', {});
    const messages = await read(s, 'park-skip', 'g', 2);
    await nack(s, 'park-skip', 'g', messages.find((m) => m.summary === 'to-park')!.id, 'Park');
    await nack(s, 'park-skip', 'g', messages.find((m) => m.summary === 'to-skip')!.id, 'Skip');
    await until('one parked', async () => (await info(s, 'park-skip', 'g')).parkedMessageCount === 1);
    expect(await read(s, 'park-skip', 'g', 2)).to.deep.equal([]);
  });

  it('redelivers a message that times out, and parks it when it keeps timing out', async () => {
    await appendBatch(s.url, 'timeout', batch('slow'));
    await createGroup(s, 'timeout', 'g', { messageTimeoutMilliseconds: 100, maxRetryCount: 1 });
    const first = await read(s, 'timeout', 'g', 1);
    expect(first[0]!.retryCount).to.equal(0);
    let second: Message[] = [];
    await until('the retry', async () => (second = await read(s, 'timeout', 'g', 1)).length === 1);
    expect(second[0]!.retryCount).to.equal(1);
    await until('parking after the last timeout', async () => (await info(s, 'timeout', 'g')).parkedMessageCount === 1);
  });

  it('long-polls for the next message', async () => {
    await appendBatch(s.url, 'sub-poll', batch('first'));
    await createGroup(s, 'sub-poll', 'g', { startFrom: -1 });
    const pending = call(s.url, '/subscriptions/sub-poll/g/1?embed=rich', { headers: { accept: COMPETING, 'Kurrent-LongPoll': '10' } });
    await new Promise((r) => setTimeout(r, 200));
    await appendBatch(s.url, 'sub-poll', batch('second'));
    const entries = ((await (await pending).json()) as { entries: Message[] }).entries;
    expect(entries.map((m) => m.summary)).to.deep.equal(['second']);
  });

  it('resumes from its checkpoint after a restart, delivering nothing it checkpointed', async () => {
    await appendBatch(s.url, 'restart', batch(...Array.from({ length: 30 }, (_, i) => `E${i}`)));
    await createGroup(s, 'restart', 'g', { minCheckPointCount: 1, checkPointAfterMilliseconds: 10 });
    const got = await read(s, 'restart', 'g', 20, 'w');
    await ack(s, 'restart', 'g', got.map((m) => m.id));
    await until('checkpoint 19', async () => (await info(s, 'restart', 'g')).lastCheckpointedEventNumber === 19);
    await s.server.close();
    s = await startServer({ store });
    const rest = await read(s, 'restart', 'g', 50, 'w');
    expect(rest.map((m) => m.summary)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `E${20 + i}`));
  });

  it('requires $ops or $admins to manage groups and read access on the stream to consume', async () => {
    await call(s.url, '/users', { headers: { 'content-type': 'application/json' }, body: { loginName: 'carol', password: 'carol-pass', groups: [] } });
    const carol = `Basic ${Buffer.from('carol:carol-pass').toString('base64')}`;
    expect((await call(s.url, '/subscriptions/x/g', { method: 'PUT', auth: carol, headers: { 'content-type': 'application/json' }, body: {} })).status).to.equal(403);
    expect((await call(s.url, '/subscriptions/x/g', { method: 'PUT', auth: null, headers: { 'content-type': 'application/json' }, body: {} })).status).to.equal(401);
    await appendBatch(s.url, 'carol-reads', batch('A'));
    await createGroup(s, 'carol-reads', 'g', {});
    expect((await call(s.url, '/subscriptions/carol-reads/g/1', { auth: carol })).status).to.equal(200);
  });
});
