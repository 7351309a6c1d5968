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
