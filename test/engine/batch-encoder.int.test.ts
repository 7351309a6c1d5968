// The projections' batch encoder reads a log record's payload and numbers in place (StoredRecordRaw)
// when it can; what it writes must be byte for byte what it writes from the record's fields.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchEncoder, type BatchItem } from '../../engine/projections/batch-encoder.js';
import type { StoredRecord } from '../../store/backend.js';
import { EventStore, type RecordedEvent } from '../../store/index.js';
import { LogBackend } from '../../store/log/log-backend.js';
import { collect } from '../store/conformance.js';
import { expect } from '../support/chai.js';

/** The same event, its record reduced to the `StoredRecord` fields (no `raw`): the encoder's general path. */
function withoutRaw(e: RecordedEvent): RecordedEvent {
  const r = (e as unknown as { record: StoredRecord }).record;
  const plain: StoredRecord = {
    streamId: r.streamId,
    revision: r.revision,
    position: r.position,
    id: r.id,
    type: r.type,
    isJson: r.isJson,
    data: r.data,
    metadata: r.metadata,
    created: r.created,
  };
  return Object.create(e, { record: { value: plain } }) as RecordedEvent;
}

describe('projection batch encoder over log records', () => {
  let dir: string;
  let store: EventStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'telltale-encoder-'));
    store = new EventStore(await LogBackend.open(dir));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the same headers and bodies from a record read in place as from its fields', async () => {
    await store.appendToStream('card-1', [
      { id: randomUUID(), type: 'Charged', data: { amount: 12.5, note: 'plain' } },
      { type: 'Charged', data: { amount: 1, note: 'für Müller 日本 😀' } },
      { type: 'Tagged', data: { n: 2 }, metadata: { $correlationId: 'c-1', who: 'ü' } },
      { type: 'Blank', data: new TextEncoder().encode('   '), isJson: true },
      { type: 'Binary', data: new Uint8Array([0, 1, 250]) },
      { type: 'Empty' },
    ]);
    await store.appendToStream('zahlungen-ß', [{ type: 'Typ✓', data: { big: 'x'.repeat(5000) } }]);
    await store.appendToStream('links', [{ type: '$>', data: new TextEncoder().encode('0@card-1') }]);
    const read = await collect(store.readAll());
    expect(read.length).to.equal(8);
    const items: BatchItem[] = read;
    const general: BatchItem[] = read.map(withoutRaw);
    const fast = new BatchEncoder();
    const slow = new BatchEncoder();
    for (const withIds of [true, false]) {
      for (const withBodies of [true, false]) {
        const a = fast.encode(items, false, withIds, withBodies);
        const b = slow.encode(general, false, withIds, withBodies);
        expect(a, `withIds ${withIds}, withBodies ${withBodies}`).to.deep.equal(b);
      }
    }
    // The headers parse, and the in-place path was taken: a record of the log has `raw`.
    expect(JSON.parse(fast.encode(items).headers)).to.have.length(read.length);
    expect((read[0] as unknown as { record: { raw?: Buffer } }).record.raw).to.be.instanceOf(Buffer);
  });
});
