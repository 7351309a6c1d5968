// A process that runs an emitting projection over 200 partitions on a file: store, with limits
// that make most checkpoints write their states as pages and evict states from the isolate, so
// projection-pages-exactly-once.int.test.ts can SIGKILL it at random moments and restart it.
// Usage: node --no-node-snapshot projection-pages-child.js DIR
import { ProjectionManager } from '../../engine/index.js';
import { openStore } from '../../store/index.js';
import '../../store/log/register.js';
import { EXACTLY_ONCE_QUERY } from './exactly-once-child.js';

export const PAGES_LIMITS = { checkpointHandledThreshold: 150, partitionCacheSize: 40, maxDirtyPartitions: 100 };

async function main(dir: string): Promise<void> {
  // Nothing else keeps the event loop alive while the projection waits on its isolate.
  const keepAlive = setInterval(() => undefined, 1000);
  const store = await openStore(`file:${dir}`);
  const manager = new ProjectionManager(store, { systemProjections: false, maxBatch: 200, limits: PAGES_LIMITS });
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

if (process.argv[1]?.endsWith('projection-pages-child.js')) {
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
