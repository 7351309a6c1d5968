// Crash test (issue 2): a child process appends at full speed and is SIGKILLed at random moments,
// over and over on the same directory. After each kill the log is reopened and must hold every
// acknowledged event exactly once, in order, byte for byte, and no batch only in part.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventStore, type RecordedEvent } from '../../store/index.js';
import { LogBackend } from '../../store/log/log-backend.js';
import type { IntendedWrite } from './fixtures/crash-appender.js';
import { collect } from './conformance.js';
import { expect } from '../support/chai.js';

const child = fileURLToPath(new URL('./fixtures/crash-appender.js', import.meta.url));
const KILLS = Number(process.env.CRASH_KILLS ?? 24);

interface RunLog {
  readonly intents: Map<number, IntendedWrite[]>;
  readonly acked: number[];
  readonly opened: boolean;
}

/**
 * Runs the appender and SIGKILLs it `killAfterMs` after it has opened the store (or after the
 * spawn when `duringOpen`, to land in its recovery); returns what it reported.
 */
function runAndKill(dir: string, run: number, killAfterMs: number, duringOpen: boolean): Promise<RunLog> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, String(run), String((Math.random() * 2 ** 32) >>> 0)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const intents = new Map<number, IntendedWrite[]>();
    const acked: number[] = [];
    let opened = false;
    let pending = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line === 'OPEN') {
          opened = true;
          if (!duringOpen) timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
        }
        else if (line.startsWith('I ')) {
          const intent = JSON.parse(line.slice(2)) as { op: number; writes: IntendedWrite[] };
          intents.set(intent.op, intent.writes);
        } else if (line.startsWith('A ')) acked.push(Number(line.slice(2)));
      }
    });
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let timer = duringOpen ? setTimeout(() => proc.kill('SIGKILL'), killAfterMs) : undefined;
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`appender exited on its own (code ${code}): ${stderr}`));
      else resolve({ intents, acked, opened });
    });
  });
}

describe('log store under SIGKILL', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'telltale-crash-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`keeps every acknowledged append exactly once, in order, byte for byte, and no partial batch, across ${KILLS} kills`, async () => {
    const allIntents = new Map<string, IntendedWrite[]>();
    const ackedIds = new Set<string>();
    let totalAcked = 0;
    let killsWithAcks = 0;
    for (let run = 0; run < KILLS; run++) {
      // Mostly mid-stream kills; some land during the start, the open and its recovery.
      const duringOpen = run % 6 === 5;
      const log = await runAndKill(dir, run, duringOpen ? 30 + Math.random() * 150 : 20 + Math.random() * 400, duringOpen);
      for (const [op, writes] of log.intents) allIntents.set(`${run}:${op}`, writes);
      for (const op of log.acked) for (const w of log.intents.get(op)!) for (const e of w.events) ackedIds.add(e.id);
      totalAcked += log.acked.length;
      if (log.acked.length > 0) killsWithAcks++;

      const backend = await LogBackend.open(dir, { segmentBytes: 1024 * 1024, checkpointBytes: 256 * 1024 });
      const store = new EventStore(backend);
      try {
        const all = await collect(store.readAll());
        const byId = new Map<string, RecordedEvent>();
        for (const [i, e] of all.entries()) {
          if (i > 0) expect(e.position > all[i - 1]!.position, 'positions strictly increase').to.equal(true);
          expect(byId.has(e.id), `event ${e.id} stored twice`).to.equal(false);
          byId.set(e.id, e);
        }
        for (const id of ackedIds) expect(byId.has(id), `acknowledged event ${id} is missing after kill ${run}`).to.equal(true);
        // Every batch (acknowledged or not) is there whole or not at all, each event byte for byte,
        // and each stream holds its batches in the order they were written, numbered without gaps.
        const streamOrder = new Map<string, string[]>();
        for (const [key, writes] of allIntents) {
          const present = writes.flatMap((w) => w.events.map((e) => byId.has(e.id)));
          expect(present.every((p) => p) || present.every((p) => !p), `batch ${key} is only partly visible`).to.equal(true);
          if (!present[0]) continue;
          for (const w of writes) {
            const ids = streamOrder.get(w.streamId) ?? [];
            for (const e of w.events) {
              const stored = byId.get(e.id)!;
              expect(stored.streamId).to.equal(w.streamId);
              expect(stored.type).to.equal(e.type);
              expect(Buffer.from(stored.dataBytes).toString('utf8'), `event ${e.id} bytes`).to.equal(e.data);
              ids.push(e.id);
            }
            streamOrder.set(w.streamId, ids);
          }
        }
        for (const [streamId, ids] of streamOrder) {
          if (!streamId.startsWith(`r${run}-`)) continue;
          const stored = await collect(store.readStream(streamId));
          expect(stored.map((e) => e.id), `stream ${streamId} order`).to.deep.equal(ids);
          expect(stored.map((e) => e.revision)).to.deep.equal(ids.map((_, i) => BigInt(i)));
        }
        expect(byId.size, 'no event that was never intended').to.equal(
          [...allIntents.values()].flat().reduce((n, w) => n + w.events.filter((e) => byId.has(e.id)).length, 0),
        );
      } finally {
        await store.close();
      }
    }
    expect(killsWithAcks, 'most kills should land while appends are acknowledged').to.be.greaterThan(KILLS / 2);
    expect(totalAcked).to.be.greaterThan(KILLS * 10);
  });
});
