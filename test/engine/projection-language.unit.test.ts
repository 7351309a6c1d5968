// The projection language, Event Store compatible (shared/reference/eventstore-semantics.md §1):
// every selector, modifier, handler key, option and output function, the event object's fields
// and the wrong chains, each against expected states and emitted streams.
import { ProjectionInvalidError } from '../../engine/index.js';
import { expect } from '../support/chai.js';
import { project, type GivenEvent, type Run } from './projection-fixture.js';

const orders: GivenEvent[] = [
  ['order-1', 'Placed', { amount: 10 }],
  ['order-2', 'Placed', { amount: 5 }],
  ['order-1', 'Paid', { amount: 10 }],
  ['invoice-1', 'Issued', { amount: 10 }],
  ['order-3', 'Placed', { amount: 7 }],
];

describe('projection language', () => {
  let run: Run | undefined;
  afterEach(async () => {
    await run?.close();
    run = undefined;
  });

  describe('selectors', () => {
    it('fromAll() sees every event of every user stream', async () => {
      run = await project(orders, `fromAll().when({ $init: () => ({ n: 0 }), $any: (s, e) => { if (e.streamId[0] !== '$') s.n++; } })`);
      expect(await run.state()).to.deep.equal({ n: 5 });
    });

    it('fromStream(s) sees one stream', async () => {
      run = await project(orders, `fromStream('order-1').when({ $init: () => ({ types: [] }), $any: (s, e) => { s.types.push(e.eventType); } })`);
      expect(await run.state()).to.deep.equal({ types: ['Placed', 'Paid'] });
    });

    it('fromStreams(a, b) and fromStreams([a, b]) merge streams in $all order', async () => {
      const query = (args: string) => `fromStreams(${args}).when({ $init: () => ({ seen: [] }), $any: (s, e) => { s.seen.push(e.streamId + ':' + e.eventType); } })`;
      run = await project(orders, query(`'order-2', 'order-1'`));
      expect(await run.state()).to.deep.equal({ seen: ['order-1:Placed', 'order-2:Placed', 'order-1:Paid'] });
      await run.close();
      run = await project(orders, query(`['order-2', 'order-1']`));
      expect(await run.state()).to.deep.equal({ seen: ['order-1:Placed', 'order-2:Placed', 'order-1:Paid'] });
    });

    it('fromCategory(c) reads $ce-c, which the running $by_category fills out of the box', async () => {
      run = await project(orders, `fromCategory('order').when({ $init: () => ({ sum: 0 }), Placed: (s, e) => { s.sum += e.body.amount; } })`, { manager: { systemProjections: true } });
      expect(await run.state()).to.deep.equal({ sum: 22 });
    });

    it('fromCategories(a, b) reads several categories', async () => {
      run = await project(orders, `fromCategories('order', 'invoice').when({ $init: () => ({ n: 0 }), $any: (s) => { s.n++; } })`, { manager: { systemProjections: true } });
      expect(await run.state()).to.deep.equal({ n: 5 });
    });
  });

  describe('handlers', () => {
    it('dispatches to the handler of the exact type, else to $any, never both', async () => {
      run = await project(orders, `fromAll().when({ $init: () => ({ any: 0, placed: 0 }), Placed: (s) => { s.placed++; }, $any: (s, e) => { if (e.streamId[0] !== '$') s.any++; } })`);
      expect(await run.state()).to.deep.equal({ any: 2, placed: 3 });
    });

    it('starts from {} without $init, keeps the state on undefined and replaces it on any other return', async () => {
      run = await project(orders, `fromStream('order-1').when({ Placed: (s) => { s.a = 1; }, Paid: (s) => 42 })`);
      expect(await run.state()).to.equal(42);
    });

    it('makes the state the event body when there is no when()', async () => {
      run = await project(orders, `fromStream('order-2')`);
      expect(await run.state()).to.deep.equal({ amount: 5 });
    });

    it('runs $created once per new partition, before its first event', async () => {
      run = await project(orders, `fromCategory('order').foreachStream().when({ $init: () => ({ log: [] }), $created: (s, e) => { s.log.push('created:' + e.eventType); }, $any: (s, e) => { s.log.push(e.eventType); } })`, {
        manager: { systemProjections: true },
      });
      expect(await run.state('order-1')).to.deep.equal({ log: ['created:Placed', 'Placed', 'Paid'] });
      expect(await run.state('order-3')).to.deep.equal({ log: ['created:Placed', 'Placed'] });
    });

    it('passes [state, shared] with $initShared (bi-state)', async () => {
      run = await project(orders, `fromAll().partitionBy(e => e.streamId[0] === '$' ? null : e.streamId).when({
        $init: () => ({ n: 0 }), $initShared: () => ({ total: 0 }),
        $any: ([s, shared], e) => { s.n++; shared.total++; return [s, shared]; } })`);
      expect(await run.state('order-1')).to.deep.equal({ n: 2 });
      expect(await run.state()).to.deep.equal({ total: 5 });
    });

    it('notifies $deleted in foreachStream when a stream is deleted', async () => {
      run = await project(orders, `fromAll().foreachStream().when({ $init: () => ({ n: 0 }), $any: (s) => { s.n++; }, $deleted: (s, e, partition, soft) => { s.deleted = { partition: e.partition, soft: soft, third: partition }; } })`);
      await run.store.deleteStream('order-2');
      await run.settle();
      expect(await run.state('order-2')).to.deep.equal({ n: 1, deleted: { partition: 'order-2', soft: true, third: 'order-2' } });
    });
  });

  describe('partitions', () => {
    it('partitionBy keeps a state per key and skips events whose key is null', async () => {
      run = await project(orders, `fromAll().partitionBy(e => e.streamId[0] === '$' ? null : e.body.amount).when({ $init: () => ({ n: 0 }), $any: (s, e) => { s.n++; s.p = e.partition; } })`);
      expect(await run.state('10')).to.deep.equal({ n: 3, p: '10' });
      expect(await run.state('5')).to.deep.equal({ n: 1, p: '5' });
      expect(await run.state('nope')).to.equal(undefined);
    });

    it('foreachStream keys each state by the stream id', async () => {
      run = await project(orders, `fromAll().foreachStream().when({ $init: () => ({ n: 0 }), $any: (s) => { s.n++; } })`);
      expect(await run.state('order-1')).to.deep.equal({ n: 2 });
      expect(await run.state('invoice-1')).to.deep.equal({ n: 1 });
    });

    it('reloads partition states evicted from the isolate cache', async () => {
      const many: GivenEvent[] = [];
      for (let i = 0; i < 300; i++) many.push([`acct-${i % 100}`, 'Tick', { i }]);
      run = await project(many, `fromAll().foreachStream().when({ $init: () => ({ n: 0 }), Tick: (s) => { s.n++; } })`, {
        limits: { partitionCacheSize: 10, checkpointHandledThreshold: 20 },
        manager: { maxBatch: 25 },
      });
      expect(await run.state('acct-7')).to.deep.equal({ n: 3 });
      expect(run.status().partitionsCached).to.be.at.most(25);
    });
  });

  describe('results', () => {
    it('outputState() writes Result events to $projections-{name}-result', async () => {
      run = await project(orders, `fromStream('order-1').when({ $init: () => ({ n: 0 }), $any: (s) => { s.n++; } }).outputState()`);
      const results = await run.read('$projections-p-result');
      expect(results.at(-1)?.type).to.equal('Result');
      expect(results.at(-1)?.data).to.deep.equal({ n: 2 });
    });

    it('transformBy maps the state to the result; filterBy keeps it only on exactly true', async () => {
      run = await project(orders, `fromAll().when({ $init: () => ({ n: 0 }), Placed: (s) => { s.n++; } }).transformBy(s => ({ doubled: s.n * 2 })).filterBy(r => r.doubled > 100 ? true : 1)`);
      expect(await run.state()).to.deep.equal({ n: 3 });
      expect(await run.result()).to.equal(null);
      await run.close();
      run = await project(orders, `fromAll().when({ $init: () => ({ n: 0 }), Placed: (s) => { s.n++; } }).transformBy(s => ({ doubled: s.n * 2 }))`);
      expect(await run.result()).to.deep.equal({ doubled: 6 });
    });

    it('outputTo and options({ resultStreamName }) rename the result stream', async () => {
      run = await project(orders, `fromStream('order-2').when({ $any: (s) => { s.seen = true; } }).outputTo('order-results')`);
      expect((await run.read('order-results')).map((e) => e.data)).to.deep.equal([{ seen: true }]);
      await run.close();
      run = await project(orders, `options({ resultStreamName: 'named-results' }); fromStream('order-2').when({ $any: (s) => { s.seen = 1; } }).outputState()`);
      expect((await run.read('named-results')).map((e) => e.data)).to.deep.equal([{ seen: 1 }]);
    });

    it('writes per-partition results and links them into the main result stream', async () => {
      run = await project(orders, `fromAll().foreachStream().when({ $init: () => ({ n: 0 }), Placed: (s) => { s.n++; } }).outputState()`);
      expect((await run.read('$projections-p-order-2-result')).map((e) => e.data)).to.deep.equal([{ n: 1 }]);
      const links = await run.read('$projections-p-result');
      expect(links.every((e) => e.type === '$>')).to.equal(true);
      expect(links.length).to.be.greaterThan(0);
    });
  });

  describe('output functions', () => {
    it('emit writes JSON events with $causationId and a propagated $correlationId', async () => {
      run = await project(
        [['order-1', 'Placed', { amount: 10 }, { $correlationId: 'corr-1' }]],
        `fromStream('order-1').when({ Placed: (s, e) => { emit('alerts', 'BigOrder', { amount: e.body.amount }, { rule: 'r1' }); } })`,
        { emit: true },
      );
      const [source] = await run.read('order-1');
      const [alert] = await run.read('alerts');
      expect(alert?.type).to.equal('BigOrder');
      expect(alert?.data).to.deep.equal({ amount: 10 });
      expect(alert?.metadata).to.include({ rule: 'r1', $causationId: source!.id, $causedBy: source!.id, $correlationId: 'corr-1' });
    });

    it('linkTo writes $> links that resolve to the event; linkStreamTo writes $@', async () => {
      run = await project(orders, `fromStream('order-1').when({ $any: (s, e) => { linkTo('linked', e); linkStreamTo('refs', e.streamId); } })`, { emit: true });
      const links = await run.read('linked');
      expect(links.map((e) => Buffer.from(e.dataBytes).toString())).to.deep.equal(['0@order-1', '1@order-1']);
      expect(links[0]?.type).to.equal('$>');
      const resolved = [];
      for await (const e of run.store.readStream('linked', { resolveLinks: true })) resolved.push(e.type);
      expect(resolved).to.deep.equal(['Placed', 'Paid']);
      expect((await run.read('refs')).map((e) => e.type)).to.deep.equal(['$@', '$@']);
    });

    it('gives every output of an event its causation metadata, for links to non-ASCII streams too', async () => {
      run = await project(
        [['ordér-1', 'Placed', { amount: 10 }], ['order-2', 'Placed', { amount: 5 }]],
        `fromAll().when({ Placed: (s, e) => { linkTo('linked', e); linkTo('linked-too', e); emit('out', 'Seen', { n: 1 }); } })`,
        { emit: true },
      );
      const sources = [...(await run.read('ordér-1')), ...(await run.read('order-2'))];
      const links = await run.read('linked');
      expect(links.map((e) => Buffer.from(e.dataBytes).toString())).to.deep.equal(['0@ordér-1', '0@order-2']);
      const outputs = [links, await run.read('linked-too'), await run.read('out')];
      for (const [i, source] of sources.entries()) {
        for (const stream of outputs) {
          expect(stream[i]?.metadata).to.deep.equal({ $causedBy: source.id, $causationId: source.id, $correlationId: source.id });
        }
      }
      expect(new Set(outputs.flatMap((stream) => stream.map((e) => e.id))).size).to.equal(6);
    });

    it('copyTo copies the body and type (the V8 behaviour Telltale keeps)', async () => {
      run = await project(orders, `fromStream('order-2').when({ $any: (s, e) => { copyTo('copies', e, { extra: 1 }); } })`, { emit: true });
      const [copy] = await run.read('copies');
      expect(copy?.type).to.equal('Placed');
      expect(copy?.data).to.deep.equal({ amount: 5 });
      expect(copy?.metadata).to.include({ extra: 1 });
    });

    it('faults with Event Store\'s message when emitting is not enabled', async () => {
      run = await project(orders, `fromStream('order-1').when({ $any: (s, e) => { emit('x', 'Y', {}); } })`);
      expect(run.status().status).to.equal('Faulted');
      expect(run.status().lastError?.message).to.equal("'emit' is not allowed by the projection/configuration/mode");
    });

    it('emits nothing twice: ids derive from the projection and the source position', async () => {
      run = await project(orders, `fromStream('order-1').when({ $any: (s, e) => { emit('out', 'E', { n: e.sequenceNumber }); } })`, { emit: true });
      const ids = (await run.read('out')).map((e) => e.id);
      expect(ids).to.have.length(2);
      expect(ids[0]).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(new Set(ids).size).to.equal(2);
    });

    it('log() goes to the injected logger', async () => {
      run = await project(orders, `fromStream('order-2').when({ $any: (s, e) => { log('seen', { type: e.eventType }); } })`);
      expect(run.logs).to.deep.equal(['seen {"type":"Placed"}']);
    });
  });

  describe('the event object', () => {
    it('has Event Store\'s fields', async () => {
      run = await project(
        [['order-9', 'Placed', { amount: 3 }, { user: 'u1' }]],
        `fromCategory('order').when({ $any: (s, e) => ({
          streamId: e.streamId, sequenceNumber: e.sequenceNumber, eventType: e.eventType, eventId: e.eventId,
          isJson: e.isJson, same: e.data === e.body, data: e.data, bodyRaw: e.bodyRaw, metadata: e.metadata,
          metadataRaw: e.metadataRaw, partition: e.partition, category: e.category, link: typeof e.linkMetadataRaw }) })`,
        { manager: { systemProjections: true } },
      );
      const [source] = await run.read('order-9');
      expect(await run.state()).to.deep.equal({
        streamId: 'order-9',
        sequenceNumber: 0,
        eventType: 'Placed',
        eventId: source!.id,
        isJson: true,
        same: true,
        data: { amount: 3 },
        bodyRaw: '{"amount":3}',
        metadata: { user: 'u1' },
        metadataRaw: '{"user":"u1"}',
        partition: '',
        category: 'order',
        link: 'string',
      });
    });

    it('gives each event its own created time, events of one commit and of the next alike', async () => {
      const { openStore } = await import('../../store/index.js');
      const store = await openStore('memory:');
      await store.appendToStream('order-1', [{ type: 'Placed', data: {} }, { type: 'Paid', data: {} }, { type: 'Shipped', data: {} }]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await store.appendToStream('order-2', [{ type: 'Placed', data: {} }, { type: 'Paid', data: {} }]);
      const stored: number[] = [];
      for await (const e of store.readAll()) stored.push(e.created.getTime());
      run = await project([], `fromAll().when({ $init: () => ({ created: [] }), $any: (s, e) => { s.created.push(e.created); } })`, { store });
      await run.settle();
      expect(await run.state()).to.deep.equal({ created: stored });
      expect(stored[2]).to.not.equal(stored[3]);
    });
  });

  describe('options', () => {
    it('rejects an unknown option and a wrong value type', async () => {
      await expectInvalid(`options({ nope: 1 }); fromAll().when({ $any: () => {} })`, 'Unrecognized option: nope');
      await expectInvalid(`options({ biState: 'yes' }); fromAll().when({ $any: () => {} })`, 'Invalid value');
    });

    it('accepts the documented options case-insensitively', async () => {
      run = await project(orders, `options({ ResultStreamName: 'r', $includeLinks: false, reorderEvents: false, processingLag: 0, biState: false }); fromStream('order-2').when({ $any: (s) => { s.ok = true; } }).outputState()`);
      expect(await run.state()).to.deep.equal({ ok: true });
    });

    it('validates reorderEvents as Event Store does', async () => {
      await expectInvalid(`options({ reorderEvents: true, processingLag: 100 }); fromAll().when({ $any: () => {} })`, 'Event reordering cannot be used with fromAll()');
      await expectInvalid(`options({ reorderEvents: true, processingLag: 10 }); fromStreams('a', 'b').when({ $any: () => {} })`, 'Event reordering requires processing lag at least of 50ms');
    });
  });

  describe('wrong chains and definitions', () => {
    it('offers only the methods Event Store allows at each step', async () => {
      await expectInvalid(`fromStream('a').foreachStream()`, /foreachStream is not a function/);
      await expectInvalid(`fromAll().when({ $any: () => {} }).when({})`, /when is not a function/);
      await expectInvalid(`fromAll().outputState().when({})`, /when is not a function/);
      await expectInvalid(`fromAll().when({ $any: () => {} }).outputTo('x').outputState()`, /Cannot read properties of undefined/);
      await expectInvalid(`fromAll().partitionBy(e => e.streamId).outputState()`, /outputState is not a function/);
    });

    it('refuses what Event Store\'s reader strategy refuses, with its messages', async () => {
      await expectInvalid(`var x = 1;`, 'None of streams and categories are included');
      await expectInvalid(`fromCategories('a', 'b').foreachStream().when({ $any: () => {} })`, 'foreachStream projections are not supported on stream based sources');
      await expectInvalid(`fromAll().when({ $deleted: () => {} })`, 'Deleted stream notifications are only supported with foreachStream()');
      await expectInvalid(`fromAll().when({})`, 'None of events are included');
      await expectInvalid(`fromAll().when({ $any: () => {} }).outputTo(1)`, 'expected string value');
    });

    it('reports a syntax error with its line', async () => {
      const error = await expectInvalid(`fromAll()\n  .when({ $any: (s, e) => { s.x = ; } })`, /Unexpected token/);
      expect(error.line).to.equal(2);
    });
  });

  describe('modes', () => {
    it('one-time runs over history and completes', async () => {
      run = await project(orders, `fromAll().when({ $init: () => ({ n: 0 }), Placed: (s) => { s.n++; } })`, { mode: 'one-time' });
      const status = await run.manager.when(run.name, (s) => s.status === 'Completed');
      expect(status.status).to.equal('Completed');
      expect(await run.state()).to.deep.equal({ n: 3 });
    });

    it('transient runs without persisting anything', async () => {
      run = await project(orders, `fromAll().when({ $init: () => ({ n: 0 }), Placed: (s) => { s.n++; } })`, { mode: 'transient' });
      await run.manager.when(run.name, (s) => s.status === 'Completed');
      expect(await run.state()).to.deep.equal({ n: 3 });
      expect(await run.read('$projections-p')).to.have.length(0);
      expect(await run.read('$projections-p-checkpoint')).to.have.length(0);
    });

    it('continuous keeps running on new events', async () => {
      run = await project(orders, `fromAll().when({ $init: () => ({ n: 0 }), Placed: (s) => { s.n++; } })`);
      await run.append(['order-4', 'Placed', { amount: 1 }]);
      expect(await run.state()).to.deep.equal({ n: 4 });
      expect(run.status().status).to.equal('Running');
    });
  });

  describe('event time and timers (Telltale)', () => {
    it('fires $timer when the watermark passes a requested deadline, per partition', async () => {
      run = await project(
        [
          ['card-1', 'Opened', { t: 1000 }],
          ['card-2', 'Opened', { t: 2000 }],
          ['card-2', 'Paid', { t: 3000 }],
          ['card-3', 'Tick', { t: 20000 }],
        ],
        `options({ eventTimeField: 't' });
         fromAll().foreachStream().when({
           $init: () => ({ paid: false }),
           Opened: (s, e) => { requestTimer(e.body.t + 10000); },
           Paid: (s) => { s.paid = true; },
           Tick: (s) => {},
           $timer: (s, t) => { if (!s.paid) emit('alerts', 'NotPaid', { partition: t.partition, at: t.at, watermark: t.watermark }); }
         })`,
        { emit: true },
      );
      expect((await run.read('alerts')).map((e) => e.data)).to.deep.equal([{ partition: 'card-1', at: 11000, watermark: 20000 }]);
    });

    it('runs a patterns/ absence rule driven by requestTimer and $timer (the docs example)', async () => {
      run = await project(
        [
          ['order-1', 'Placed', { time: 0 }],
          ['order-2', 'Placed', { time: 60_000 }],
          ['order-2', 'Paid', { time: 120_000 }],
          ['order-3', 'Placed', { time: 3_600_000 }],
        ],
        `var rule = pattern('no-payment').begin('placed', e => e.type === 'Placed')
           .notFollowedBy('paid', e => e.type === 'Paid').within('30m');
         options({ eventTimeField: 'time' });
         fromCategory('order').foreachStream().when({
           $init: () => ({ rule: rule.initialState() }),
           $any: (s, e) => {
             var out = rule.advance(s.rule, { type: e.eventType, time: e.body.time, id: e.eventId });
             out.matches.forEach(m => emit('alerts', 'NoPayment', { key: e.partition, start: m.start }));
             requestTimer(e.body.time + 30 * 60 * 1000);
           },
           $timer: (s, t) => { rule.onWatermark(s.rule, t.watermark).matches.forEach(m => emit('alerts', 'NoPayment', { key: t.partition, start: m.start })); },
         })`,
        { emit: true, manager: { systemProjections: true } },
      );
      expect((await run.read('alerts')).map((e) => e.data)).to.deep.equal([{ key: 'order-1', start: 0 }]);
    });

    it('has the patterns/ library in the isolate, as `telltale` and as globals', async () => {
      run = await project(orders, `fromStream('order-2').when({ $any: (s) => ({ ns: typeof telltale.pattern, global: typeof pattern, duration: parseDuration('10m') }) })`);
      expect(await run.state()).to.deep.equal({ ns: 'function', global: 'function', duration: 600000 });
    });
  });
});

async function expectInvalid(query: string, message: string | RegExp): Promise<ProjectionInvalidError> {
  const error = await project([], query).then(
    async (r) => {
      await r.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(ProjectionInvalidError);
  const invalid = error as ProjectionInvalidError;
  if (typeof message === 'string') expect(invalid.message).to.equal(message);
  else expect(invalid.message).to.match(message);
  return invalid;
}
