// Mapped records cross from the fetch thread as one buffer per batch; what comes out must be what
// went in, for events and dead letters alike.
import fc from 'fast-check';
import type { KafkaMessage } from 'kafkajs';
import { decodeMappedBatch, encodeMappedMessages, mapMessages, mappedBatchCount } from '../../engine/connectors/mapped-batch.js';
import { compileMapping, type KafkaIngestMapping, type RecordMapper } from '../../engine/connectors/record-mapping.js';
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

  it('reads every stream name back as written, names read before and names that share a slot alike', () => {
    // More names than the decoder keeps, so slots are shared and names replace each other.
    const keys = Array.from({ length: 40_000 }, (_, i) => (i % 7 === 0 ? `kø${i}` : `k${i}`));
    const messages = keys.map((k, i) => message(String(i), k, '{}', { type: 'T' }));
    const buffer = encodeMappedMessages(withoutCoordinates, 'payments', 0, messages);
    for (let round = 0; round < 2; round++) {
      expect(decodeMappedBatch(buffer).map((r) => r.streamId)).to.deep.equal(keys.map((k) => `pay-${k}`));
    }
    expect(decodeMappedBatch(encodeMappedMessages(withoutCoordinates, 'payments', 0, messages.slice().reverse())).map((r) => r.streamId)).to.deep.equal(keys.map((k) => `pay-${k}`).reverse());
  });

  it('encodes an empty batch, and one that outgrows its first buffer', () => {
    expect(decodeMappedBatch(encodeMappedMessages(withoutCoordinates, 't', 0, []))).to.deep.equal([]);
    const long = [message('0', 'k', `"${'\\u00e9'.repeat(20_000)}`, { type: 'T' }), message('1', 'k', `{"s":"${'é'.repeat(20_000)}"}`, { type: 'T' })];
    expect(plain(decodeMappedBatch(encodeMappedMessages(withoutCoordinates, 't', 0, long)))).to.deep.equal(plain(mapMessages(mapper, 't', 0, long)));
  });
});

describe('encodeMappedMessages, the direct path (straight from the message bytes)', () => {
  /** The same mapping without its direct form: every record through `map`. */
  const throughMap = (mapper: RecordMapper): RecordMapper => ({ map: (record) => mapper.map(record) });
  const both = (mapping: KafkaIngestMapping) => {
    const mapper = compileMapping(mapping, { asBytes: true, coordinates: false });
    return { direct: mapper, mapped: throughMap(mapper), reference: compileMapping(mapping, { asBytes: true }) };
  };
  const raw = (offset: string, key: Buffer | null, value: Buffer | null, headers: KafkaMessage['headers'], timestamp = '1700000000000'): KafkaMessage =>
    ({ offset, key, value, headers, timestamp, attributes: 0 }) as KafkaMessage;
  /** Reads both encodings back and checks them against each other and against `mapMessages`. */
  const expectSame = (mapping: KafkaIngestMapping, topic: string, partition: number, messages: KafkaMessage[]) => {
    const { direct, mapped, reference } = both(mapping);
    const viaDirect = decodeMappedBatch(encodeMappedMessages(direct, topic, partition, messages));
    expect(plain(viaDirect)).to.deep.equal(plain(decodeMappedBatch(encodeMappedMessages(mapped, topic, partition, messages))));
    expect(plain(viaDirect)).to.deep.equal(plain(mapMessages(reference, topic, partition, messages)));
    expect(viaDirect.map((r) => r.timestamp)).to.deep.equal(messages.map((m) => Number(m.timestamp)));
    return viaDirect;
  };

  it('is offered for templates over the key, headers, topic and partition only', () => {
    expect(compileMapping({ stream: 'p-{key}-{topic}-{partition}', type: '{headers.type}' }, { asBytes: true, coordinates: false }).direct).to.not.equal(undefined);
    expect(compileMapping({ stream: 'p-{key}', type: 'T' }, { asBytes: true }).direct, 'with coordinates').to.equal(undefined);
    expect(compileMapping({ stream: 'p-{key}', type: 'T' }).direct, 'values, not bytes').to.equal(undefined);
    expect(compileMapping({ stream: 'p-{data.id}', type: 'T' }, { asBytes: true, coordinates: false }).direct).to.equal(undefined);
    expect(compileMapping({ stream: 'p-{offset}', type: 'T' }, { asBytes: true, coordinates: false }).direct).to.equal(undefined);
    expect(compileMapping({ stream: 'p-{key}', type: 'T', data: 'data.x' }, { asBytes: true, coordinates: false }).direct).to.equal(undefined);
    expect(compileMapping({ stream: 'pé-{key}', type: 'T' }, { asBytes: true, coordinates: false }).direct, 'non-ASCII text').to.equal(undefined);
  });

  it('writes what map writes, for the records it takes and for those it leaves to map', () => {
    const b = (s: string) => Buffer.from(s);
    const messages = [
      raw('0', b('k1'), b('{"a":1}'), { type: b('Charged') }),
      raw('1', b('k1'), b('{"a":2}'), { type: b('Charged') }),
      raw('2', b('k2'), b('{"a":2}'), { type: [b('Refunded'), b('Other')] }),
      raw('3', b('kø'), b('{"a":3}'), { type: b('Charged') }),
      raw('4', b('k"q'), b('{"a":4}'), { type: b('Charged') }),
      raw('5', b('k\\b'), b('{"a":5}'), { type: b('Charged') }),
      raw('6', b('k\u0001'), b('{"a":6}'), { type: b('Charged') }),
      raw('7', null, b('{"a":7}'), { type: b('Charged') }),
      raw('8', b('k3'), null, { type: b('Charged') }),
      raw('9', b('k3'), b('{"a":'), { type: b('Charged') }),
      raw('10', b('k3'), b('{"a":1}'), {}),
      raw('11', b('k3'), b('{"a":1}'), { type: b('') }),
      raw('12', b('k3'), b('{"a":1}'), { type: b('T'.repeat(257)) }),
      raw('13', b('k3'), b('{"a":1}'), { type: b('T'.repeat(256)) }),
      raw('14', b('k3'), b('{"a":1}'), { type: 'Charged' as unknown as Buffer }),
      raw('15', b('k3'), b('{"a":1}'), undefined),
      raw('16', b(''), b('"text"'), { type: b('Charged') }),
      raw('17', b('x'.repeat(1021)), b('1'), { type: b('Charged') }),
      raw('18', b('x'.repeat(1020)), b('1'), { type: b('Charged') }),
      raw('19', b('k4'), b(' [1, 2] '), { type: b('Charged') }, '-1'),
      raw('20', b('k4'), b('{}'), { type: b('Charged') }, 'NaN'),
      raw('21', b('k4'), b('{}'), { type: b('Charged') }, '1e21'),
      raw('281474976710655', b('k4'), b('{}'), { type: b('Charged') }),
      raw('281474976710656', b('k4'), b('{}'), { type: b('Charged') }),
      raw('9007199254740993', b('k4'), b('{}'), { type: b('Charged') }),
      raw('0023', b('k4'), b('{}'), { type: b('Charged') }),
      raw('24', b('k4'), b('{"a":"é"}'), { type: b('Charged') }),
      raw('25', b('k4'), Buffer.from([0x22, 0xff, 0x22]), { type: b('Charged') }),
      raw('26', b('k4'), b('{"big":"' + 'x'.repeat(200) + '"}'), { type: b('Charged') }),
    ];
    expectSame({ stream: 'pay-{key}', type: '{headers.type}', maxRecordBytes: 150 }, 'payments', 3, messages);
    const decoded = expectSame({ stream: 'pay-{key}', type: '{headers.type}' }, 'payments', 3, messages);
    expect(decoded[17]!.rejected).to.equal('invalid-stream-name');
    expect(decoded[18]!.rejected).to.equal(undefined);
    expect(decoded[12]!.rejected).to.equal('invalid-event-type');
    expect(decoded[13]!.rejected).to.equal(undefined);
  });

  it('refuses the stream names the store refuses', () => {
    const b = (s: string) => Buffer.from(s);
    const messages = ['$all', '$$x', '$$', '$x', '', 'ok'].map((key, i) => raw(String(i), b(key), b('{}'), { type: b('T') }));
    const decoded = expectSame({ stream: '{key}', type: '{headers.type}' }, 't', 0, messages);
    expect(decoded.map((r) => r.rejected)).to.deep.equal(['invalid-stream-name', 'invalid-stream-name', 'invalid-stream-name', undefined, 'invalid-stream-name', undefined]);
  });

  it('resolves the topic and partition, and leaves a topic it cannot write as ASCII to map', () => {
    const messages = [raw('5', Buffer.from('k'), Buffer.from('{}'), { kind: Buffer.from('T') })];
    expectSame({ stream: '{topic}/{partition}/{key}', type: 'x-{headers.kind}-{partition}' }, 'orders.v1', 11, messages);
    expectSame({ stream: '{topic}/{partition}/{key}', type: 'x-{headers.kind}' }, 'ördérs', 2, messages);
  });

  it('agrees with map on any record (property)', () => {
    const ascii = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', '$', '"', '\\', ' ', '~', '\u0001', '\u007f', 'é', '🙂'), maxLength: 6 });
    const bytes = fc.oneof(ascii.map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 4 }).map((a) => Buffer.from(a)));
    const value = fc.oneof(fc.constant(null), fc.json({ maxDepth: 2 }).map((j) => Buffer.from(j)), bytes);
    const header = fc.oneof(fc.constant(undefined), bytes, fc.array(bytes, { minLength: 1, maxLength: 2 }));
    const offset = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 50n }).map(String), fc.constantFrom('0', '007', '9007199254740993'));
    const timestamp = fc.oneof(fc.integer({ min: -1, max: 2 ** 45 }).map(String), fc.constantFrom('NaN', '1e22', '-0', '12.5'));
    const message = fc.record({ key: fc.oneof(fc.constant(null), bytes), value, type: header, offset, timestamp });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), (records) => {
        const messages = records.map((r) => raw(r.offset, r.key, r.value, r.type === undefined ? {} : { type: r.type as Buffer }, r.timestamp));
        expectSame({ stream: 's-{key}', type: '{headers.type}', maxRecordBytes: 40 }, 'topic', 1, messages);
      }),
      { numRuns: 300 },
    );
  });
});
