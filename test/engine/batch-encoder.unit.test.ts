// The batch encoder writes numbers (revision, position, body end) digit by digit into its buffer;
// what the isolate parses must be the numbers the events have, at every digit count.
import { BatchEncoder, type BatchItem } from '../../engine/projections/batch-encoder.js';
import type { RecordedEvent } from '../../store/types.js';
import { expect } from '../support/chai.js';

function event(revision: bigint, position: bigint, created: Date): RecordedEvent {
  const data = new TextEncoder().encode('{"a":1}');
  return {
    streamId: 'card-1',
    revision,
    position,
    id: '0190c6a4-8f1e-7000-8000-000000000001',
    type: 'Charged',
    isJson: true,
    data: { a: 1 },
    metadata: {},
    dataBytes: data,
    metadataBytes: new Uint8Array(0),
    created,
  };
}

describe('projection batch encoder', () => {
  it('writes revisions and positions of every digit count as the numbers they are', () => {
    const values: number[] = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, 99999, 100000, 654321, 999999, 1000000, 9999999, 10000000, 87654321, 99999999, 100000000, 999999999, 1000000000, 2147483647, 2147483648, 9007199254740991];
    const created = new Date(1764300000123);
    const items: BatchItem[] = values.map((v, i) => event(BigInt(v), BigInt(values[values.length - 1 - i]!), created));
    const { headers } = new BatchEncoder().encode(items, false, true, true);
    const parsed = JSON.parse(headers) as unknown[][];
    expect(parsed.map((h) => h[1])).to.deep.equal(values);
    expect(parsed.map((h) => h[4])).to.deep.equal([...values].reverse());
    // One commit's created time is written once; the headers after it say "the previous one's".
    expect(parsed.map((h) => h[5])).to.deep.equal([1764300000123, ...values.slice(1).map(() => null)]);
    // Body ends: each body is `{"a":1}` (7 bytes), joined by commas.
    expect(parsed.map((h) => h[7])).to.deep.equal(values.map((_, i) => 7 * (i + 1) + i));
  });

  it('writes a created time again when it differs from the previous header, and after a deletion notice', () => {
    const a = new Date(1764300000123);
    const b = new Date(1764300000999);
    const items: BatchItem[] = [event(0n, 1n, a), event(1n, 2n, a), event(2n, 3n, b), { deleted: 'soft', streamId: 'card-2', position: 4n }, event(3n, 5n, b), event(4n, 6n, b), event(5n, 7n, a)];
    const parsed = JSON.parse(new BatchEncoder().encode(items, false, false, false).headers) as unknown[][];
    expect(parsed.map((h) => h[5])).to.deep.equal([1764300000123, null, 1764300000999, 0, 1764300000999, null, 1764300000123]);
  });
});
