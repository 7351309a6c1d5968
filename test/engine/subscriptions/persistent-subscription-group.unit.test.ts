// The competing-consumer group itself, over the memory store: strategies, checkpoints that stay at
// the lowest unfinished message, retries and parking, and consumers that leave.
import { expect } from '../../support/chai.js';
import { PersistentSubscriptionGroup, parseSubscriptionSettings, type PersistentConsumer } from '../../../engine/subscriptions/index.js';
import { openStore, type Store } from '../../../store/index.js';

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function append(store: Store, stream: string, types: string[]): Promise<void> {
  await store.appendToStream(stream, types.map((type) => ({ type, data: {} })));
}

describe('PersistentSubscriptionGroup', () => {
  let store: Store;
  let group: PersistentSubscriptionGroup | undefined;
  beforeEach(async () => {
    store = await openStore('memory:');
  });
  afterEach(async () => {
    await group?.stop();
    await store.close();
  });

  function start(stream: string, settings: object): Promise<PersistentSubscriptionGroup> {
    group = new PersistentSubscriptionGroup(store, stream, 'g', parseSubscriptionSettings(settings));
    return group.start().then(() => group!);
  }

  it('spreads messages evenly over consumers with RoundRobin', async () => {
    await append(store, 's', Array.from({ length: 30 }, (_, i) => `E${i}`));
    const g = await start('s', { namedConsumerStrategy: 'RoundRobin' });
    const consumers = [0, 1, 2].map((i) => g.connect({ name: `c${i}`, capacity: 100 }));
    await until(() => consumers.reduce((n, c) => n + c.inbox.length, 0) === 30, 'all dispatched');
    expect(consumers.map((c) => c.inbox.length)).to.deep.equal([10, 10, 10]);
  });

  it('keeps every stream on one consumer with Pinned and rebalances when one leaves', async () => {
    for (const s of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
      await append(store, s, ['X', 'Y']);
      await store.appendToStream('pins', [{ type: '$>', data: `0@${s}` }, { type: '$>', data: `1@${s}` }]);
    }
    const g = await start('pins', { namedConsumerStrategy: 'Pinned', resolveLinktos: true });
    const c1 = g.connect({ name: 'c1', capacity: 100 });
    const c2 = g.connect({ name: 'c2', capacity: 100 });
    await until(() => c1.inbox.length + c2.inbox.length === 16, 'all dispatched');
    const owners = (c: PersistentConsumer) => new Set(c.inbox.map((t) => t.event.streamId));
    const [o1, o2] = [owners(c1), owners(c2)];
    expect([...o1].filter((s) => o2.has(s)), 'no stream on both').to.deep.equal([]);
    expect(o1.size + o2.size).to.equal(8);
    c2.close();
    await until(() => c1.inbox.length === 16, 'c2\'s messages moved to c1');
  });

  it('keeps the checkpoint at the lowest unfinished message and resumes there', async () => {
    await append(store, 's', ['A', 'B', 'C', 'D']);
    const g = await start('s', { minCheckPointCount: 1, checkPointAfterMilliseconds: 10 });
    const c = g.connect({ name: 'c', capacity: 10 });
    await until(() => c.inbox.length === 4, 'dispatch');
    const messages = c.take(4);
    g.ack([messages[0]!.id, messages[2]!.id, messages[3]!.id]);
    await until(async () => (await g.info()).lastCheckpointedEventNumber === 0, 'checkpoint 0');
    expect((await g.info()).lastProcessedEventNumber).to.equal(0);
    await g.stop();
    group = new PersistentSubscriptionGroup(store, 's', 'g', parseSubscriptionSettings({}));
    await group.start();
    const again = group.connect({ name: 'c', capacity: 10 });
    await until(() => again.inbox.length === 3, 'redelivery from the checkpoint');
    expect(again.take(10).map((m) => m.event.type)).to.deep.equal(['B', 'C', 'D']);
  });

  it('parks after maxRetryCount retries; the parked message no longer holds the checkpoint back', async () => {
    await append(store, 's', ['ok', 'bad', 'ok2']);
    const g = await start('s', { maxRetryCount: 1 });
    const c = g.connect({ name: 'c', capacity: 10 });
    let deliveries = 0;
    for (let round = 0; round < 10 && (await g.parkedCount()) === 0; round++) {
      await until(() => c.inbox.length > 0 || round > 0, 'messages');
      for (const m of c.take(10)) {
        if (m.event.type === 'bad') {
          deliveries++;
          g.nack([m.id], 'retry');
        } else g.ack([m.id]);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(deliveries).to.equal(2);
    await until(async () => (await g.parkedCount()) === 1, 'parked');
    expect((await g.info()).lastProcessedEventNumber).to.equal(2);
    expect(await g.replayParked()).to.equal(1);
    await until(() => c.inbox.length === 1, 'replay');
    const [replayed] = c.take(1);
    expect(replayed!.event.type).to.equal('bad');
    g.ack([replayed!.id]);
    expect((await g.info()).lastProcessedEventNumber, 'a replay does not move the checkpoint').to.equal(2);
  });

  it('gives messages a leaving consumer had not taken to the others without counting a retry', async () => {
    await append(store, 's', ['A', 'B']);
    const g = await start('s', { namedConsumerStrategy: 'DispatchToSingle' });
    const first = g.connect({ name: 'first', capacity: 10 });
    await until(() => first.inbox.length === 2, 'dispatch to first');
    const second = g.connect({ name: 'second', capacity: 10 });
    first.close();
    await until(() => second.inbox.length === 2, 'moved to second');
    expect(second.take(2).map((m) => m.retryCount)).to.deep.equal([0, 0]);
  });
});
