// Exactly-once effects (decision 9): a process running an emitting, partitioned projection on a
// durable file: store is SIGKILLed at random moments and restarted; afterwards its emitted streams
// (ids included) and its partition states equal those of a clean, uninterrupted run. Three
// scenarios: states in one checkpoint stream per partition, states in state pages, and one large
// state checkpointed in chunks less often than every threshold (the size-aware policy).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProjectionManager } from '../../engine/index.js';
import { openStore } from '../../store/index.js';
import '../../store/log/register.js';
import type { Store } from '../../store/types.js';
import { expect } from '../support/chai.js';
import { runKillableChild } from './killable-child.js';
import { EXACTLY_ONCE_QUERY, SCENARIOS, type ExactlyOnceScenario } from './exactly-once-child.js';
import { readStream } from './projection-fixture.js';

const child = fileURLToPath(new URL('./exactly-once-child.js', import.meta.url));

async function writeInput(store: Store, scenario: ExactlyOnceScenario): Promise<void> {
  // A deterministic pseudo-random sequence, so both stores get the same events at the same positions.
  let seed = 42;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < scenario.events; i += 50) {
    const writes = new Map<string, { type: string; data: object; id: string }[]>();
    for (let j = i; j < i + 50; j++) {
      const card = `card-${scenario.cardOf(next(), scenario.cards)}`;
      const id = `00000000-0000-4000-8000-${j.toString(16).padStart(12, '0')}`;
      const list = writes.get(card) ?? [];
      list.push({ type: next() % 10 === 0 ? 'Noise' : 'Charge', data: { amount: next() % 1000 }, id });
      writes.set(card, list);
    }
    await store.appendToStreams([...writes].map(([streamId, events]) => ({ streamId, events })));
  }
}

interface Outcome {
  readonly streams: Record<string, { id: string; type: string; data: unknown }[]>;
  readonly states: Record<string, unknown>;
  /** The partition catalogue: each partition once, in the order it first got a state. */
  readonly partitions: string[];
}

async function outcome(store: Store, manager: ProjectionManager, scenario: ExactlyOnceScenario): Promise<Outcome> {
  const streams: Outcome['streams'] = {};
  for (const name of ['all-charges', ...Array.from({ length: scenario.cards }, (_, i) => `alerts-card-${i}`)]) {
    streams[name] = (await readStream(store, name)).map((e) => ({ id: e.id, type: e.type, data: e.isJson ? e.data : Buffer.from(e.dataBytes).toString() }));
  }
  const states: Record<string, unknown> = {};
  if (scenario.oneState) states[''] = await manager.state('cards');
  else for (let i = 0; i < scenario.cards; i++) states[`card-${i}`] = await manager.state('cards', `card-${i}`);
  return { streams, states, partitions: scenario.oneState ? [] : await manager.partitions('cards') };
}


describe('exactly-once projection effects', function () {
  this.timeout(180_000);
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'telltale-exactly-once-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`gives the same emitted streams and states after SIGKILLs as a clean run (${scenario.description})`, async () => {
      const runChild = (dir: string, killAfter: number | undefined) => runKillableChild(child, [dir, name], killAfter);
      // The clean run, uninterrupted.
      const cleanStore = await openStore(`file:${tempDir()}`);
      await writeInput(cleanStore, scenario);
      const cleanManager = new ProjectionManager(cleanStore, { systemProjections: false, maxBatch: scenario.maxBatch, limits: scenario.limits });
      await cleanManager.start();
      await cleanManager.create('cards', scenario.query ?? EXACTLY_ONCE_QUERY, { emit: true });
      await cleanManager.whenProcessed('cards');
      const clean = await outcome(cleanStore, cleanManager, scenario);
      if (scenario.pages) expect((await readStream(cleanStore, '$projections-cards-states')).length).to.be.greaterThan(0);
      // Large-state checkpoints: chunked, and far fewer than one per 50 events.
      if (scenario.oneState) {
        expect(Number((await cleanStore.getStreamInfo('$projections-cards-checkpoint-chunks')).lastRevision)).to.be.greaterThan(0);
        expect(Number((await cleanStore.getStreamInfo('$projections-cards-checkpoint')).lastRevision)).to.be.lessThan(scenario.events / 50 / 2);
      }
      await cleanManager.close();
      await cleanStore.close();
      if (scenario.oneState) expect(Object.values(clean.streams).flat().length).to.be.greaterThan(scenario.events / 20 / 2);
      else expect(clean.streams['all-charges']!.length).to.be.greaterThan((scenario.events * 2) / 3);

      // The same input, in a child process killed at random moments.
      const dir = tempDir();
      const input = await openStore(`file:${dir}`);
      await writeInput(input, scenario);
      await input.close();
      let kills = 0;
      let seed = 7;
      for (let attempt = 0; attempt < 12; attempt++) {
        seed = (seed * 48271) % 2147483647;
        // The child reports progress every 5 ms while it works: kill it after 1 to 6 reports.
        if ((await runChild(dir, 1 + (seed % 6))) === 'killed') kills++;
      }
      expect(await runChild(dir, undefined)).to.equal('done');
      expect(kills).to.be.greaterThan(0);

      const store = await openStore(`file:${dir}`);
      const manager = new ProjectionManager(store, { systemProjections: false, limits: scenario.limits });
      await manager.start();
      await manager.whenProcessed('cards');
      const recovered = await outcome(store, manager, scenario);
      await manager.close();
      await store.close();

      expect(recovered.states).to.deep.equal(clean.states);
      expect(recovered.streams).to.deep.equal(clean.streams);
      expect(recovered.partitions).to.deep.equal(clean.partitions);
      if (!scenario.oneState) {
        const withState = Object.keys(clean.states).filter((key) => clean.states[key] !== undefined);
        expect([...clean.partitions].sort()).to.deep.equal(withState.sort());
      }
    });
  }
});
