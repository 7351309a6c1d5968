// The worker's adapter from Kafka partitions to the projection runtime, without a broker: a rule's
// outputs do not depend on how a partition's records are cut into batches, nor on whether the state
// went through a checkpoint (JSON, a fresh isolate) between two batches — which is what makes a
// partition that moves to another worker give the outputs it would have given where it was.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createProjectionProcessor, type ProjectionPartitionState, type WorkerEvent, type WorkerOutput } from '../../engine/connectors/index.js';
import { ProjectionFaultedError } from '../../engine/projections/errors.js';
import { expect } from '../support/chai.js';

const SMALL_THEN_LARGE = readFileSync(fileURLToPath(new URL('../../../samples/fraud/small-then-large.js', import.meta.url)), 'utf8');

const COUNTER = `
fromCategory('card').partitionBy((e) => e.data.card).when({
  $init: () => ({ n: 0 }),
  CardAuthorized: (s, e) => {
    s.n++;
    if (s.n % 3 === 0) emit('alerts-every-third', 'ThirdCharge', { card: e.data.card, n: s.n });
    return s;
  },
});`;

function events(count: number, partition = 0): WorkerEvent[] {
  let x = 11;
  const next = () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
  const t0 = Date.parse('2026-03-02T10:00:00.000Z');
  return Array.from({ length: count }, (_, i) => {
    const card = `c${Math.floor(next() * 8)}`;
    const r = next();
    const amount = r < 0.2 ? 0.5 : r < 0.4 ? 600 + Math.floor(next() * 500) : 20 + Math.floor(next() * 300);
    const type = next() < 0.9 ? 'CardAuthorized' : 'CardSettled';
    return {
      streamId: next() < 0.9 ? `card-${card}` : `other-${card}`,
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      type,
      data: { card, amount, approved: true, merchant: 'm', at: new Date(t0 + i * 3000).toISOString() },
      metadata: {},
      partition,
      offset: BigInt(i),
      timestamp: t0 + i * 3000,
    };
  });
}

/** Outputs per stream in order (a batch lists the first rule's outputs, then the next rule's). */
const shape = (outputs: readonly WorkerOutput[]) => {
  const list = outputs.map((o) => ({ stream: o.streamId, type: o.type, data: o.data, cause: String(o.causedBy.offset) }));
  return [...new Set(list.map((o) => o.stream))].sort().flatMap((stream) => list.filter((o) => o.stream === stream));
};

describe('createProjectionProcessor (unit)', function () {
  this.timeout(60_000);
  const input = events(600);

  async function runWhole(): Promise<ReturnType<typeof shape>> {
    const p = await createProjectionProcessor({ rules: [{ name: 'small-then-large', source: SMALL_THEN_LARGE }, { name: 'every-third', source: COUNTER }] });
    try {
      const { outputs } = await p.process(p.initialState(0), input, 0);
      return shape(outputs);
    } finally {
      p.dispose();
    }
  }

  it('gives the same outputs in batches of any size, with checkpoints reloaded between them', async () => {
    const whole = await runWhole();
    expect(whole.filter((o) => o.stream === 'alerts-small-then-large').length).to.be.greaterThan(3);
    expect(whole.filter((o) => o.stream === 'alerts-every-third').length).to.be.greaterThan(10);

    const p = await createProjectionProcessor({ rules: [{ name: 'small-then-large', source: SMALL_THEN_LARGE }, { name: 'every-third', source: COUNTER }] });
    try {
      let state: ProjectionPartitionState = p.initialState(0);
      const out: WorkerOutput[] = [];
      let i = 0;
      let cut = 0;
      while (i < input.length) {
        const size = [1, 7, 40, 3, 120][cut++ % 5]!;
        const result = await p.process(state, input.slice(i, i + size), 0);
        out.push(...result.outputs);
        // Every other batch, the state goes through a checkpoint: JSON, and a new isolate.
        state = cut % 2 === 0 ? (JSON.parse(JSON.stringify(result.state)) as ProjectionPartitionState) : result.state;
        i += size;
      }
      expect(shape(out)).to.deep.equal(whole);
    } finally {
      p.dispose();
    }
  });

  it('keeps each Kafka partition apart', async () => {
    const p = await createProjectionProcessor({ rules: [{ name: 'every-third', source: COUNTER }] });
    try {
      const a = await p.process(p.initialState(0), events(30, 0), 0);
      const b = await p.process(p.initialState(1), events(30, 1), 1);
      expect(shape(a.outputs)).to.deep.equal(shape(b.outputs));
      expect(Object.keys(a.state['every-third']!.parts).length).to.be.greaterThan(0);
    } finally {
      p.dispose();
    }
  });

  it('passes a rule only the events of its source and handled types', async () => {
    const p = await createProjectionProcessor({ rules: [{ name: 'every-third', source: COUNTER }] });
    try {
      const { outputs } = await p.process(p.initialState(0), input, 0);
      for (const o of outputs) {
        expect(o.causedBy.streamId.startsWith('card-')).to.equal(true);
        expect(o.causedBy.type).to.equal('CardAuthorized');
      }
    } finally {
      p.dispose();
    }
  });

  it('reports a rule that throws, with the Kafka coordinates of the event', async () => {
    const p = await createProjectionProcessor({ rules: [{ name: 'broken', source: "fromAll().when({ CardAuthorized: (s, e) => { if (e.data.amount > 500) throw new Error('boom'); return s; } })" }] });
    try {
      const err = await Promise.resolve(p.process(p.initialState(0), input, 0)).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(ProjectionFaultedError);
      expect((err as Error).message).to.match(/boom \(Kafka partition 0, offset \d+\)/);
    } finally {
      p.dispose();
    }
  });

  it('refuses a rule that does not compile or declares no source', async () => {
    await expect(createProjectionProcessor({ rules: [{ name: 'bad', source: 'fromAll().when({' }] })).to.be.rejected;
    await expect(createProjectionProcessor({ rules: [{ name: 'nosource', source: 'var x = 1;' }] })).to.be.rejectedWith(/None of streams/);
  });
});
