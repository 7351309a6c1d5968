// Mapping Kafka records to events without a broker: templates, deterministic ids, rejections.
import { compileMapping, kafkaEventId, type KafkaRecord } from '../../engine/connectors/index.js';
import { compileTemplate, renderTemplate } from '../../engine/connectors/field-template.js';
import { InvalidArgumentError } from '../../index.js';
import { expect } from '../support/chai.js';

function record(value: string | Buffer | null, extra: Partial<KafkaRecord> = {}): KafkaRecord {
  return { topic: 't', partition: 1, offset: 7n, key: Buffer.from('k1'), value: typeof value === 'string' ? Buffer.from(value) : value, headers: {}, timestamp: 1000, ...extra };
}

describe('compileTemplate', () => {
  it('renders literal text and fields, with doubled braces as literals', () => {
    const t = compileTemplate('a{{b}}-{key}-{data.x.y}', ['key', 'data']);
    expect(renderTemplate(t, (p) => (p[0] === 'key' ? 'K' : 5))).to.equal('a{b}-K-5');
  });

  it('reports the first missing or non-scalar field', () => {
    const t = compileTemplate('{data.a}', ['data']);
    expect(renderTemplate(t, () => undefined)).to.deep.equal({ missing: 'data.a' });
    expect(renderTemplate(t, () => ({ nested: true }))).to.deep.equal({ missing: 'data.a' });
  });

  it('rejects unknown roots and unbalanced braces', () => {
    expect(() => compileTemplate('{nope}', ['key'])).to.throw(InvalidArgumentError);
    expect(() => compileTemplate('a{key', ['key'])).to.throw(InvalidArgumentError);
    expect(() => compileTemplate('a}b', ['key'])).to.throw(InvalidArgumentError);
  });
});

describe('kafkaEventId', () => {
  it('is a UUID that depends only on topic, partition and offset', () => {
    const id = kafkaEventId('payments', 3, 42n);
    expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(kafkaEventId('payments', 3, 42n)).to.equal(id);
    expect(new Set([id, kafkaEventId('payments', 3, 43n), kafkaEventId('payments', 4, 42n), kafkaEventId('payment', 3, 42n)]).size).to.equal(4);
  });
});

describe('compileMapping', () => {
  const mapper = compileMapping({ stream: 'card-{data.cardId}', type: '{headers.type}', maxRecordBytes: 100 });

  it('maps a record to its stream, type, data and coordinates', () => {
    const mapped = mapper.map(record('{"cardId":"c1","n":1}', { headers: { type: Buffer.from('Charged') } }));
    expect(mapped).to.deep.equal({
      kind: 'event',
      streamId: 'card-c1',
      event: { id: kafkaEventId('t', 1, 7n), type: 'Charged', data: { cardId: 'c1', n: 1 }, metadata: { $kafka: { topic: 't', partition: 1, offset: '7', key: 'k1', timestamp: 1000 } } },
    });
  });

  it('rejects what it cannot map, with the reason, into the dead-letter stream', () => {
    const reasons = [
      record('{oops'),
      record(`{"cardId":"c1","pad":"${'x'.repeat(200)}"}`, { headers: { type: Buffer.from('T') } }),
      record('{"cardId":"c1"}'),
      record(null),
      record('{"cardId":"a\\u0001b"}', { headers: { type: Buffer.from('T') } }),
    ].map((r) => mapper.map(r));
    expect(reasons.map((m) => (m.kind === 'rejected' ? m.reason : 'mapped'))).to.deep.equal(['not-json', 'too-large', 'missing-field', 'no-value', 'invalid-stream-name']);
    expect(reasons.every((m) => m.streamId === '$kafka-deadletter-t')).to.equal(true);
  });

  it('keeps a rejected binary value as base64', () => {
    const mapped = mapper.map(record(Buffer.from([0xc3, 0x28])));
    expect(mapped.event.data).to.deep.include({ reason: 'not-json', value: 'wyg=', valueEncoding: 'base64' });
  });
});

describe('compileMapping with asBytes (events for a store)', () => {
  const bytesMapper = compileMapping({ stream: 'payments-{key}', type: '{headers.type}' }, { asBytes: true });
  const typed = { headers: { type: Buffer.from('Charged') } };

  it('keeps a JSON value as the bytes it came as, marked isJson, with the coordinates as JSON bytes', () => {
    const value = Buffer.from('{ "cardId": "c1", "n": [1, 2.5e3] }');
    const mapped = bytesMapper.map(record(value, typed));
    expect(mapped.kind).to.equal('event');
    expect(mapped.streamId).to.equal('payments-k1');
    expect(mapped.event.isJson).to.equal(true);
    expect(mapped.event.data).to.equal(value);
    const metadata = JSON.parse(Buffer.from(mapped.event.metadata as Uint8Array).toString('utf8')) as unknown;
    expect(metadata).to.deep.equal({ $kafka: { topic: 't', partition: 1, offset: '7', key: 'k1', timestamp: 1000 } });
  });

  it('writes the same metadata text as JSON.stringify, for a binary key and a key that needs escaping', () => {
    for (const key of [Buffer.from([0xff, 0x00]), Buffer.from('a"b\\c\u2028é'), null]) {
      const r = record('{}', { key });
      const expected = JSON.stringify(compileMapping({ stream: 'x', type: 'T' }).map(r).event.metadata);
      const metadata = compileMapping({ stream: 'x', type: 'T' }, { asBytes: true }).map(r).event.metadata as Uint8Array;
      expect(Buffer.from(metadata).toString('utf8')).to.equal(expected);
    }
  });

  it('rejects a value that is not JSON, as the value mapper does', () => {
    for (const bad of ['{oops', '{"a":1,}', '01', '"\u0001"', '\ufeff{}', '']) {
      const mapped = bytesMapper.map(record(bad, typed));
      expect(mapped.kind === 'rejected' ? mapped.reason : 'mapped', JSON.stringify(bad)).to.equal('not-json');
    }
  });

  it('parses and serialises a value that is JSON only once invalid UTF-8 is replaced', () => {
    const value = Buffer.concat([Buffer.from('{"s":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    const mapped = bytesMapper.map(record(value, typed));
    expect(mapped.event.data).to.deep.equal({ s: '\ufffd' });
  });

  it('parses the value when a template reads a field of it, and still stores the bytes it came as', () => {
    const fields = compileMapping({ stream: 'card-{data.cardId}', type: 'T' }, { asBytes: true });
    const value = Buffer.from('{"cardId":"c9"}');
    const mapped = fields.map(record(value));
    expect(mapped.streamId).to.equal('card-c9');
    expect(mapped.event.data).to.equal(value);
  });

  it('stores a part of the value as a value', () => {
    const part = compileMapping({ stream: 's', type: 'T', data: 'data.payload' }, { asBytes: true });
    expect(part.map(record('{"payload":{"a":1}}')).event.data).to.deep.equal({ a: 1 });
  });
});
