// A process that runs an emitting, partitioned projection over a file: store until it has
// processed everything, so exactly-once.int.test.ts can SIGKILL it at random moments and restart
// it. Usage: node --no-node-snapshot exactly-once-child.js DIR SCENARIO
import { ProjectionManager } from '../../engine/index.js';
import { openStore } from '../../store/index.js';
import '../../store/log/register.js';

export const EXACTLY_ONCE_QUERY = `fromAll()
  .partitionBy(function (e) { return e.streamId.indexOf('card-') === 0 ? e.streamId : null; })
  .when({
    $init: function () { return { n: 0, sum: 0 }; },
    Charge: function (s, e) {
      s.n++;
      s.sum += e.body.amount;
      if (s.n % 3 === 0) emit('alerts-' + e.partition, 'ThirdCharge', { n: s.n, sum: s.sum });
      linkTo('all-charges', e);
    }
  })`;

/**
 * The same alerts in one state (README's rule form): every card's counts and a log of every charge
 * (about 405 bytes each, so the state passes 256 KiB and then the 512 KiB of a chunked checkpoint),
 * with no linkTo, so flushes are not forced by emitted events but come from the size-aware policy.
 */
export const EXACTLY_ONCE_ONE_STATE_QUERY = `fromAll()
  .when({
    $init: function () { return { cards: {}, log: [] }; },
    Charge: function (s, e) {
      var c = s.cards[e.streamId] || (s.cards[e.streamId] = { n: 0, sum: 0 });
      c.n++;
      c.sum += e.body.amount;
      s.log.push('x'.repeat(400) + e.body.amount);
      if (c.n % 20 === 0) emit('alerts-' + e.streamId, 'TwentiethCharge', { n: c.n, sum: c.sum });
    }
  })`;

export interface ExactlyOnceScenario {
  readonly description: string;
  /** The projection's text. @defaultValue EXACTLY_ONCE_QUERY */
  readonly query?: string;
  /** Whether the projection keeps one state (checked as a whole) instead of partition states. */
  readonly oneState?: boolean;
  readonly cards: number;
  readonly events: number;
  readonly maxBatch: number;
  readonly limits: { checkpointHandledThreshold: number; partitionCacheSize: number; maxDirtyPartitions: number; checkpointStateBytesPerEvent?: number };
  /** Which card an event goes to, from the input generator's next number. */
  readonly cardOf: (n: number, cards: number) => number;
  /** Whether checkpoints must have written partition states as pages. */
  readonly pages: boolean;
}

export const SCENARIOS: Readonly<Record<string, ExactlyOnceScenario>> = {
  // Few partitions, a tiny state cache: one checkpoint stream per partition, states evicted often.
  streams: {
    description: 'partition states in their own checkpoint streams',
    cards: 12,
    events: 1500,
    maxBatch: 20,
    limits: { checkpointHandledThreshold: 50, partitionCacheSize: 5, maxDirtyPartitions: 20 },
    cardOf: (n, cards) => n % cards,
    pages: false,
  },
  // 200 partitions, checkpoints that change more than the page threshold and an isolate that
  // keeps only 40 states: states are written as pages, evicted and loaded back by key.
  pages: {
    description: 'partition states in state pages',
    cards: 200,
    events: 3000,
    maxBatch: 200,
    limits: { checkpointHandledThreshold: 150, partitionCacheSize: 40, maxDirtyPartitions: 100 },
    // High bits: the low bits of the input generator cycle through few values.
    cardOf: (n, cards) => (n >> 8) % cards,
    pages: true,
  },
  // One state of about 1.1 MB: past 256 KiB it is checkpointed every 500-2200 events instead of
  // every 50 (checkpointStateBytesPerEvent 512), in chunks past 512 KiB, and restored from them.
  'one-state': {
    description: 'one large state, checkpointed by the size-aware policy in chunks',
    query: EXACTLY_ONCE_ONE_STATE_QUERY,
    oneState: true,
    cards: 12,
    events: 3000,
    maxBatch: 50,
    limits: { checkpointHandledThreshold: 50, partitionCacheSize: 5, maxDirtyPartitions: 20, checkpointStateBytesPerEvent: 512 },
    cardOf: (n, cards) => n % cards,
    pages: false,
  },
};

async function main(dir: string, scenario: ExactlyOnceScenario): Promise<void> {
  // Nothing else keeps the event loop alive while the projection waits on its isolate.
  const keepAlive = setInterval(() => undefined, 1000);
  const store = await openStore(`file:${dir}`);
  const manager = new ProjectionManager(store, { systemProjections: false, maxBatch: scenario.maxBatch, limits: scenario.limits });
  await manager.start();
  if (!manager.list().some((s) => s.name === 'cards')) await manager.create('cards', scenario.query ?? EXACTLY_ONCE_QUERY, { emit: true });
  process.stdout.write('ready\n');
  // Progress lines let the test kill this process part-way through, however fast the machine.
  const ticker = setInterval(() => process.stdout.write(`progress ${manager.status('cards').eventsProcessed}\n`), 5);
  const status = await manager.whenProcessed('cards');
  clearInterval(ticker);
  process.stdout.write(`done ${status.status}\n`);
  await manager.close();
  await store.close();
  clearInterval(keepAlive);
}

if (process.argv[1]?.endsWith('exactly-once-child.js')) {
  const scenario = SCENARIOS[process.argv[3] ?? ''];
  if (scenario === undefined) throw new Error(`usage: exactly-once-child.js DIR ${Object.keys(SCENARIOS).join('|')}`);
  main(process.argv[2]!, scenario).then(
    () => {
      process.exitCode = 0;
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
