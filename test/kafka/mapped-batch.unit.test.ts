// Mapped records cross from the fetch thread as one buffer per batch; what comes out must be what
// went in, for events and dead letters alike.
import type { KafkaMessage } from 'kafkajs';
import { decodeMappedBatch, encodeMappedMessages, mapMessages, mappedBatchCount } from '../../engine/connectors/mapped-batch.js';
import { compileMapping } from '../../engine/connectors/record-mapping.js';
import { expect } from '../support/chai.js';

function message(offset: string, key: string | null, value: string | Buffer | null, headers: Record<string, string> = {}): KafkaMessage {
  return {
    offset,
    key: key === null ? null : Buffer.from(key),
    value: typeof value === 'string' ? Buffer.from(value) : value,
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
    timestamp: '1700000000000',
    attributes: 0,
  } as KafkaMessage;
}

/** Records as plain values: byte fields as text, so deep equality compares what a store would keep. */
function plain(records: ReturnType<typeof mapMessages>) {
  const text = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v === undefined ? undefined : JSON.stringify(v));
  return records.map((r) => ({ offset: r.offset, streamId: r.streamId, id: r.id, type: r.type, rejected: r.rejected, data: text(r.data), metadata: text(r.metadata) }));
}

describe('encodeMappedMessages / decodeMappedBatch', () => {
  const mapping = { stream: 'pay-{key}', type: '{headers.type}' };
  const mapper = compileMapping(mapping, { asBytes: true });
  const withoutCoordinates = compileMapping(mapping, { asBytes: true, coordinates: false });

  it('reads back as the records mapMessages gives, events and dead letters alike', () => {
    const messages = [
      message('0', 'k1', '{"a":1}', { type: 'Charged' }),
      message('1', 'k1', '{"a":2}', { type: 'Charged' }),
      message('2', 'kø', '{"name":"Zoë 🙂"}', { type: 'Refunded' }),
      message('3', 'k2', 'not json', { type: 'Charged' }),
      message('4', null, '{"a":3}', { type: 'Charged' }),
      message('5', 'k3', null, { type: 'Charged' }),
      message('9007199254740993', 'k1', '[]', { type: 'Charged' }),
    ];
    const records = mapMessages(mapper, 'payments', 3, messages);
    const buffer = encodeMappedMessages(withoutCoordinates, 'payments', 3, messages);
    expect(mappedBatchCount(buffer)).to.equal(7);
    const decoded = decodeMappedBatch(buffer);
    expect(plain(decoded)).to.deep.equal(plain(records));
    expect(decoded.map((r) => r.rejected)).to.deep.equal([undefined, undefined, undefined, 'not-json', 'missing-field', 'no-value', undefined]);
    expect(decoded.every((r) => r.isJson === true)).to.equal(true);
    expect(decoded[6]!.offset).to.equal(9007199254740993n);
  });

  it('encodes an empty batch, and one that outgrows its first buffer', () => {
    expect(decodeMappedBatch(encodeMappedMessages(withoutCoordinates, 't', 0, []))).to.deep.equal([]);
    const long = [message('0', 'k', `"${'\\u00e9'.repeat(20_000)}`, { type: 'T' }), message('1', 'k', `{"s":"${'é'.repeat(20_000)}"}`, { type: 'T' })];
    expect(plain(decodeMappedBatch(encodeMappedMessages(withoutCoordinates, 't', 0, long)))).to.deep.equal(plain(mapMessages(mapper, 't', 0, long)));
  });
});
