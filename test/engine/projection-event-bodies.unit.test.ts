// Event bodies cross into the isolate only while handlers read them (copying them was the host's
// largest cost per event for projections that never do); `body`, `data` and `bodyRaw` must still
// read as stored wherever and whenever they are read.
import { expect } from '../support/chai.js';
import { project, type GivenEvent } from './projection-fixture.js';

describe('event bodies sent on demand', () => {
  // Small batches, so bodies are first read several batches after the first one.
  const small = { manager: { systemProjections: false, maxBatch: 4 } } as const;

  it('reads the stored bodies when handlers start reading them in a later batch', async () => {
    const given: GivenEvent[] = [];
    for (let i = 0; i < 30; i++) given.push([`s-${i % 3}`, i < 17 ? 'Early' : 'Late', { n: i, text: `body ${i}` }]);
    const run = await project(
      given,
      `fromAll().when({
        $init: function () { return { early: 0, late: [], raw: null }; },
        Early: function (s, e) { s.early++; },
        Late: function (s, e) {
          s.late.push(e.body.n + ':' + e.data.text);
          if (s.raw === null) s.raw = e.bodyRaw;
        }
      })`,
      small,
    );
    await run.settle();
    const late = [];
    for (let i = 17; i < 30; i++) late.push(`${i}:body ${i}`);
    expect(await run.state()).to.deep.equal({ early: 17, late, raw: '{"n":17,"text":"body 17"}' });
    await run.close();
  });

  it('reads bodies that are not ASCII, fetched after the batch went without them', async () => {
    const given: GivenEvent[] = [];
    for (let i = 0; i < 12; i++) given.push(['s', i % 4 === 3 ? 'Named' : 'Other', { name: `Zoë ${i} — ✓` }]);
    const run = await project(
      given,
      `fromAll().when({
        $init: function () { return { names: [] }; },
        Named: function (s, e) { s.names.push(e.body.name); },
        Other: function (s, e) {}
      })`,
      small,
    );
    await run.settle();
    expect(await run.state()).to.deep.equal({ names: ['Zoë 3 — ✓', 'Zoë 7 — ✓', 'Zoë 11 — ✓'] });
    await run.close();
  });

  it('gives an event kept past its batch its own body, not one of a later batch', async () => {
    const given: GivenEvent[] = [];
    for (let i = 0; i < 10; i++) given.push(['s', 'E', { n: i }]);
    const run = await project(
      given,
      `var kept = null;
      fromAll().when({
        $init: function () { return { first: null, ns: [] }; },
        E: function (s, e) {
          if (kept === null) kept = e;
          else if (s.first === null && e.sequenceNumber === 9) s.first = kept.body.n;
          s.ns.push(e.sequenceNumber);
        }
      })`,
      small,
    );
    await run.settle();
    expect(await run.state()).to.deep.include({ first: 0 });
    await run.close();
  });

  it('gives raw bodies as text and leaves body undefined, with or without bodies in the batch', async () => {
    const run = await project(
      [
        ['s', 'Count'],
        ['s', 'Count'],
        ['s', 'Count'],
        ['s', 'Count'],
        ['s', 'Count'],
      ],
      `fromAll().when({
        $init: function () { return { counted: 0, raw: [] }; },
        Count: function (s, e) { s.counted++; },
        Raw: function (s, e) { s.raw.push([e.isJson, e.bodyRaw, e.body === undefined]); }
      })`,
      small,
    );
    await run.store.appendToStream('s', [{ type: 'Raw', data: new TextEncoder().encode('not json') }]);
    await run.settle();
    expect(await run.state()).to.deep.equal({ counted: 5, raw: [[false, 'not json', true]] });
    await run.close();
  });
});
