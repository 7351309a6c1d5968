// A process that runs an emitting, partitioned projection over a file: store until it has
// processed everything, so exactly-once.int.test.ts can SIGKILL it at random moments and restart it.
// Usage: node --no-node-snapshot exactly-once-child.js DIR
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

export const EXACTLY_ONCE_LIMITS = { checkpointHandledThreshold: 50, partitionCacheSize: 5, maxDirtyPartitions: 20 };

async function main(dir: string): Promise<void> {
  // Nothing else keeps the event loop alive while the projection waits on its isolate.
  const keepAlive = setInterval(() => undefined, 1000);
  const store = await openStore(`file:${dir}`);
  const manager = new ProjectionManager(store, { systemProjections: false, maxBatch: 20, limits: EXACTLY_ONCE_LIMITS });
  await manager.start();
  if (!manager.list().some((s) => s.name === 'cards')) await manager.create('cards', EXACTLY_ONCE_QUERY, { emit: true });
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
  main(process.argv[2]!).then(
    () => {
      process.exitCode = 0;
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
