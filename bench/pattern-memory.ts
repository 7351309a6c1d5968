// Heap per open partial match of the 3-step rule, measured in a process of its own:
//   node --expose-gc dist/bench/pattern-memory.js <partial matches per key> <keys>
// prints { heap, open, json } as one JSON line. bench/pattern.ts starts it several times and takes
// medians. In the benchmark's own process the figure was not sound: the 2M-event arrays, the
// garbage of the timed runs and the input events themselves (which V8 may or may not still hold
// at the second reading, depending on what the optimiser decides is live) moved heapUsed by tens
// of MB, more than the state measured (one run read 12 B per match, another −103 B marginal).
// Here the heap holds nothing else big: events are made a batch at a time and dropped, so what
// remains after a full GC is the matcher's state (keys, their arrays, the index, the deadlines,
// and the strings a partial match keeps: its key and its events' ids). ArrayBuffer contents are
// counted too (they are outside heapUsed).
import { threeStep, T0, type Charge } from './charge-stream.js';

const gc = (globalThis as { gc?: () => void }).gc;

function fullGc(): void {
  if (gc === undefined) throw new Error('run with node --expose-gc');
  // Twice: the first may leave objects whose finalisation frees more.
  gc();
  gc();
}

/** Bytes the process holds for JavaScript objects: the V8 heap, and the backing stores of
 * ArrayBuffers (typed arrays' contents live outside the heap, so heapUsed alone would not count
 * state kept in them). */
function held(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Every key gets `perKey` small charges, each of which opens a partial match. */
function measure(perKey: number, keys: number): { heap: number; open: number; json: number } {
  const rule = threeStep();
  const batchSize = 1000;
  fullGc();
  const before = held();
  const matcher = rule.matcher();
  for (let r = 0; r < perKey; r++) {
    for (let k = 0; k < keys; k += batchSize) {
      const batch: Charge[] = [];
      for (let j = k; j < Math.min(keys, k + batchSize); j++) {
        batch.push({ id: `m-${r}-${j}`, type: 'Charge', time: T0 + r * keys + j, data: { card: `card-${j}`, amount: 1 } });
      }
      matcher.pushBatch(batch);
    }
  }
  fullGc();
  const heap = held() - before;
  // Read after the measurement, so the matcher is live at it.
  const open = matcher.openPartialMatches;
  return { heap, open, json: JSON.stringify(matcher.state).length };
}

const perKey = Number(process.argv[2] ?? 3);
const keys = Number(process.argv[3] ?? 100_000);
process.stdout.write(`${JSON.stringify(measure(perKey, keys))}\n`);
