// The hand-written protobuf codec of the hot Streams messages (server/grpc/codec.ts) against the
// official client's generated classes: what we encode is byte for byte what the generated classes
// encode for the same message, and what the generated classes encode we decode to the same values.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { correlationKey, decodeAppendReq, decodeBatchAppendReq, encodeAppendResp, encodeBatchAppendResp, encodeReadEvent, ProtoReader, ProtoWriter, writePersistentReadEvent } from '../../server/grpc/codec.js';
import { emptyPb, persistentPb, sharedPb, statusPb, streamsPb } from '../../server/grpc/protocol.js';
import { eventDataOf } from '../../server/grpc/streams-service.js';
import { streamIdentifier, ticksOf, uuidMessage } from '../../server/grpc/wire.js';
import type { ExpectedRevision, RecordedEvent } from '../../store/types.js';

const { ReadResp, AppendResp, BatchAppendResp, AppendReq, BatchAppendReq } = streamsPb;
const utf8 = new TextEncoder();

/** The setters shared by the Streams and PersistentSubscriptions `RecordedEvent` messages. */
interface RecordedEventMessage {
  setId(value?: InstanceType<typeof sharedPb.UUID>): unknown;
  setStreamIdentifier(value?: InstanceType<typeof sharedPb.StreamIdentifier>): unknown;
  setStreamRevision(value: string): unknown;
  setPreparePosition(value: string): unknown;
  setCommitPosition(value: string): unknown;
  getMetadataMap(): { set(key: string, value: string): unknown };
  setCustomMetadata(value: Uint8Array): unknown;
  setData(value: Uint8Array): unknown;
}

/** The reference: a `RecordedEvent` filled through the generated classes, as the server did before the codec. */
function fillRecordedEvent<M extends RecordedEventMessage>(message: M, e: RecordedEvent, uuidAsString: boolean): M {
  const position = e.position.toString();
  message.setId(uuidMessage(e.id, uuidAsString));
  message.setStreamIdentifier(streamIdentifier(e.streamId));
  message.setStreamRevision(e.revision.toString());
  message.setPreparePosition(position);
  message.setCommitPosition(position);
  const metadata = message.getMetadataMap();
  metadata.set('type', e.type);
  metadata.set('content-type', e.isJson ? 'application/json' : 'application/octet-stream');
  metadata.set('created', ticksOf(e.created));
  message.setCustomMetadata(e.metadataBytes);
  message.setData(e.dataBytes);
  return message;
}

function recorded(over: Partial<RecordedEvent> = {}): RecordedEvent {
  const data = over.dataBytes ?? utf8.encode(JSON.stringify({ orderId: randomUUID(), amount: 42.5 }));
  return {
    streamId: 'orders-1',
    revision: 7n,
    position: 1234n,
    id: randomUUID(),
    type: 'OrderPlaced',
    isJson: true,
    data: undefined,
    metadata: {},
    dataBytes: data,
    metadataBytes: new Uint8Array(),
    created: new Date(1_700_000_000_123),
    ...over,
  } as RecordedEvent;
}

/** The generated classes' encoding of the same ReadResp, built as the server built it before the codec. */
function generatedReadEvent(e: RecordedEvent, uuidAsString: boolean): Buffer {
  const read = new ReadResp.ReadEvent();
  read.setEvent(fillRecordedEvent(new ReadResp.ReadEvent.RecordedEvent(), e, uuidAsString));
  if (e.link !== undefined) read.setLink(fillRecordedEvent(new ReadResp.ReadEvent.RecordedEvent(), e.link, uuidAsString));
  read.setCommitPosition((e.link ?? e).position.toString());
  const resp = new ReadResp();
  resp.setEvent(read);
  return Buffer.from(resp.serializeBinary());
}

describe('gRPC codec (hand-written protobuf for the hot Streams messages)', () => {
  describe('ReadResp events', () => {
    const cases: Array<[string, RecordedEvent]> = [
      ['a JSON event', recorded()],
      ['revision and position 0, no data', recorded({ revision: 0n, position: 0n, dataBytes: new Uint8Array() })],
      ['positions above 2^53 and 2^63', recorded({ revision: 2n ** 60n + 3n, position: 2n ** 64n - 1n })],
      ['binary data and custom metadata', recorded({ isJson: false, dataBytes: new Uint8Array([0, 1, 2, 255]), metadataBytes: utf8.encode('{"$correlationId":"x"}') })],
      ['a unicode stream name and type', recorded({ streamId: 'bestellungen-ü-日本-😀', type: 'Größe✓' })],
      ['data of 200 bytes (two-byte lengths)', recorded({ dataBytes: new Uint8Array(200).fill(65) })],
      ['data of 70,000 bytes (three-byte lengths)', recorded({ dataBytes: new Uint8Array(70_000).fill(66) })],
      ['an id with the high bits set (negative int64 halves)', recorded({ id: 'ffffffff-ffff-ffff-8000-000000000001' })],
      ['an id with zero halves', recorded({ id: '00000000-0000-0000-0000-000000000000' })],
      ['a resolved link', recorded({ link: recorded({ streamId: '$ce-orders', type: '$>', revision: 99n, position: 5555n, dataBytes: utf8.encode('7@orders-1'), isJson: false }) })],
    ];
    for (const [name, e] of cases) {
      for (const asString of [true, false]) {
        it(`encodes ${name} (uuid as ${asString ? 'string' : 'structured'}) exactly as the generated classes`, () => {
          const ours = encodeReadEvent(e, asString);
          expect(Buffer.compare(ours, generatedReadEvent(e, asString))).to.equal(0);
          const back = ReadResp.deserializeBinary(ours).getEvent()!.getEvent()!;
          expect(back.getStreamRevision()).to.equal(e.revision.toString());
          expect(back.getMetadataMap().get('type')).to.equal(e.type);
          expect(Buffer.from(back.getStreamIdentifier()!.getStreamName_asU8()).toString('utf8')).to.equal(e.streamId);
        });
      }
    }
  });

  describe('persistent subscription ReadResp events', () => {
    const { ReadResp: PersistentReadResp } = persistentPb;
    /** What the service built with the generated classes before the codec wrote these. */
    function generatedPersistentEvent(e: RecordedEvent, retryCount: number, uuidAsString: boolean): Buffer {
      const read = new PersistentReadResp.ReadEvent();
      read.setEvent(fillRecordedEvent(new PersistentReadResp.ReadEvent.RecordedEvent(), e, uuidAsString));
      if (e.link !== undefined) read.setLink(fillRecordedEvent(new PersistentReadResp.ReadEvent.RecordedEvent(), e.link, uuidAsString));
      read.setCommitPosition((e.link ?? e).position.toString());
      read.setRetryCount(retryCount);
      const resp = new PersistentReadResp();
      resp.setEvent(read);
      return Buffer.from(resp.serializeBinary());
    }
    const cases: Array<[string, RecordedEvent, number]> = [
      ['a first delivery', recorded(), 0],
      ['a third retry of an event at position 0', recorded({ position: 0n, revision: 0n }), 3],
      ['a resolved link retried 200 times', recorded({ link: recorded({ streamId: '$ce-orders', type: '$>', position: 99n, dataBytes: utf8.encode('7@orders-1'), isJson: false }) }), 200],
    ];
    for (const [name, e, retries] of cases) {
      for (const asString of [true, false]) {
        it(`encodes ${name} (uuid as ${asString ? 'string' : 'structured'}) exactly as the generated classes`, () => {
          const w = new ProtoWriter();
          writePersistentReadEvent(w, e, retries, asString);
          expect(w.finish().equals(generatedPersistentEvent(e, retries, asString))).to.equal(true);
        });
      }
    }
  });

  describe('AppendResp and BatchAppendResp', () => {
    it('encodes AppendResp success, no-stream success and every wrong-expected-version shape as the generated classes', () => {
      const success = (revision: bigint, position: bigint) => {
        const s = new AppendResp.Success();
        if (revision < 0n) {
          s.setNoStream(new sharedPb.Empty());
          s.setNoPosition(new sharedPb.Empty());
        } else {
          s.setCurrentRevision(revision.toString());
          const p = new AppendResp.Position();
          p.setCommitPosition(position.toString());
          p.setPreparePosition(position.toString());
          s.setPosition(p);
        }
        const r = new AppendResp();
        r.setSuccess(s);
        return Buffer.from(r.serializeBinary());
      };
      for (const [revision, position] of [
        [0n, 0n],
        [5n, 77n],
        [2n ** 63n, 2n ** 64n - 1n],
        [-1n, 0n],
      ] as const) {
        expect(Buffer.compare(encodeAppendResp({ kind: 'success', nextExpectedRevision: revision, position }), success(revision, position))).to.equal(0);
      }
      const expectations: ExpectedRevision[] = ['any', 'no_stream', 'stream_exists', 0n, 12n];
      for (const expected of expectations) {
        for (const actual of [-1n, 0n, 3n]) {
          const w = new AppendResp.WrongExpectedVersion();
          if (actual >= 0n) w.setCurrentRevision(actual.toString());
          else w.setCurrentNoStream(new sharedPb.Empty());
          if (typeof expected === 'bigint') w.setExpectedRevision(expected.toString());
          else if (expected === 'any') w.setExpectedAny(new sharedPb.Empty());
          else if (expected === 'no_stream') w.setExpectedNoStream(new sharedPb.Empty());
          else w.setExpectedStreamExists(new sharedPb.Empty());
          const r = new AppendResp();
          r.setWrongExpectedVersion(w);
          expect(Buffer.compare(encodeAppendResp({ kind: 'wrong-expected-version', expected, actual }), Buffer.from(r.serializeBinary())), `${expected} / ${actual}`).to.equal(0);
        }
      }
    });

    it('encodes BatchAppendResp (success or error, every expected state) as the generated classes, echoing correlation id and stream', () => {
      const correlation = uuidMessage(randomUUID(), false);
      const identifier = streamIdentifier('orders-ü');
      const status = new statusPb.Status();
      status.setCode(9);
      status.setMessage('nope');
      const expectations: ExpectedRevision[] = ['any', 'no_stream', 'stream_exists', 0n, 41n];
      for (const expected of expectations) {
        for (const outcome of [{ success: { nextExpectedRevision: 3n, position: 900n } }, { success: { nextExpectedRevision: -1n, position: 0n } }, { error: status.serializeBinary() }]) {
          const r = new BatchAppendResp();
          r.setCorrelationId(correlation);
          if ('error' in outcome) r.setError(status);
          else {
            const s = new BatchAppendResp.Success();
            if (outcome.success.nextExpectedRevision < 0n) {
              s.setNoStream(new emptyPb.Empty());
              s.setNoPosition(new emptyPb.Empty());
            } else {
              s.setCurrentRevision(outcome.success.nextExpectedRevision.toString());
              const p = new sharedPb.AllStreamPosition();
              p.setCommitPosition(outcome.success.position.toString());
              p.setPreparePosition(outcome.success.position.toString());
              s.setPosition(p);
            }
            r.setSuccess(s);
          }
          r.setStreamIdentifier(identifier);
          if (typeof expected === 'bigint') r.setStreamPosition(expected.toString());
          else if (expected === 'no_stream') r.setNoStream(new emptyPb.Empty());
          else if (expected === 'stream_exists') r.setStreamExists(new emptyPb.Empty());
          else r.setAny(new emptyPb.Empty());
          const ours = encodeBatchAppendResp(correlation.serializeBinary(), outcome, identifier.serializeBinary(), expected);
          expect(Buffer.compare(ours, Buffer.from(r.serializeBinary())), `${expected}`).to.equal(0);
        }
      }
    });
  });

  describe('AppendReq and BatchAppendReq', () => {
    function proposed<M extends InstanceType<typeof AppendReq.ProposedMessage> | InstanceType<typeof BatchAppendReq.ProposedMessage>>(m: M, id: string, asString: boolean, data: Uint8Array, custom?: Uint8Array): M {
      m.setId(uuidMessage(id, asString));
      m.getMetadataMap().set('type', 'OrderPlaced');
      m.getMetadataMap().set('content-type', 'application/json');
      m.getMetadataMap().set('unrelated', 'ignored');
      m.setData(data);
      if (custom !== undefined) m.setCustomMetadata(custom);
      return m;
    }

    it('decodes BatchAppendReq: correlation id, stream, every expected state, proposed messages with string and structured ids, is_final', () => {
      const expectations: Array<[ExpectedRevision, (o: InstanceType<typeof BatchAppendReq.Options>) => void]> = [
        ['any', (o) => o.setAny(new emptyPb.Empty())],
        ['no_stream', (o) => o.setNoStream(new emptyPb.Empty())],
        ['stream_exists', (o) => o.setStreamExists(new emptyPb.Empty())],
        [0n, (o) => o.setStreamPosition('0')],
        [2n ** 63n + 5n, (o) => o.setStreamPosition((2n ** 63n + 5n).toString())],
      ];
      for (const [expected, set] of expectations) {
        const correlation = uuidMessage(randomUUID(), true);
        const req = new BatchAppendReq();
        req.setCorrelationId(correlation);
        const options = new BatchAppendReq.Options();
        options.setStreamIdentifier(streamIdentifier('orders-日本'));
        set(options);
        req.setOptions(options);
        const ids = [randomUUID(), 'FFFFFFFF-FFFF-FFFF-8000-000000000001', randomUUID()];
        const data = utf8.encode('{"a":1}');
        req.addProposedMessages(proposed(new BatchAppendReq.ProposedMessage(), ids[0]!, true, data, utf8.encode('{"m":2}')));
        req.addProposedMessages(proposed(new BatchAppendReq.ProposedMessage(), ids[1]!, false, new Uint8Array(300).fill(7)));
        req.addProposedMessages(proposed(new BatchAppendReq.ProposedMessage(), ids[2]!, false, new Uint8Array()));
        req.setIsFinal(true);
        const decoded = decodeBatchAppendReq(req.serializeBinary());
        expect(Buffer.from(decoded.correlation!).equals(Buffer.from(correlation.serializeBinary()))).to.equal(true);
        expect(correlationKey(decoded.correlation)).to.equal(Buffer.from(correlation.serializeBinary()).toString('latin1'));
        expect(decoded.options!.streamName).to.equal('orders-日本');
        expect(Buffer.from(decoded.options!.identifier).equals(Buffer.from(options.getStreamIdentifier()!.serializeBinary()))).to.equal(true);
        expect(decoded.options!.expected).to.equal(expected);
        expect(decoded.isFinal).to.equal(true);
        expect(decoded.proposed.map((p) => p.id)).to.deep.equal(ids.map((i) => i.toLowerCase()));
        expect(decoded.proposed.map((p) => [p.type, p.contentType])).to.deep.equal(ids.map(() => ['OrderPlaced', 'application/json']));
        expect(Buffer.from(decoded.proposed[0]!.data).toString()).to.equal('{"a":1}');
        expect(Buffer.from(decoded.proposed[0]!.customMetadata).toString()).to.equal('{"m":2}');
        expect(decoded.proposed[1]!.data).to.have.length(300);
        expect(decoded.proposed[2]!.data).to.have.length(0);
        expect(decoded.proposed[2]!.customMetadata).to.have.length(0);
      }
    });

    it('decodes a BatchAppendReq continuation without options and not final', () => {
      const req = new BatchAppendReq();
      req.setCorrelationId(uuidMessage(randomUUID(), false));
      req.addProposedMessages(proposed(new BatchAppendReq.ProposedMessage(), randomUUID(), true, utf8.encode('{}')));
      const decoded = decodeBatchAppendReq(req.serializeBinary());
      expect(decoded.options).to.equal(undefined);
      expect(decoded.isFinal).to.equal(false);
      expect(decoded.proposed).to.have.length(1);
    });

    it('decodes AppendReq options (every expected state) and proposed messages', () => {
      const expectations: Array<[ExpectedRevision, (o: InstanceType<typeof AppendReq.Options>) => void]> = [
        ['any', (o) => o.setAny(new sharedPb.Empty())],
        ['no_stream', (o) => o.setNoStream(new sharedPb.Empty())],
        ['stream_exists', (o) => o.setStreamExists(new sharedPb.Empty())],
        [17n, (o) => o.setRevision('17')],
      ];
      for (const [expected, set] of expectations) {
        const options = new AppendReq.Options();
        options.setStreamIdentifier(streamIdentifier('s-1'));
        set(options);
        const req = new AppendReq();
        req.setOptions(options);
        expect(decodeAppendReq(req.serializeBinary())).to.deep.include({ options: { streamName: 's-1', identifier: new Uint8Array(options.getStreamIdentifier()!.serializeBinary()), expected } });
      }
      const id = randomUUID();
      const req = new AppendReq();
      req.setProposedMessage(proposed(new AppendReq.ProposedMessage(), id, false, utf8.encode('[1]'), utf8.encode('{}')));
      const decoded = decodeAppendReq(req.serializeBinary());
      expect(decoded.options).to.equal(undefined);
      expect(decoded.proposed!.id).to.equal(id);
      expect(decoded.proposed!.type).to.equal('OrderPlaced');
      expect(Buffer.from(decoded.proposed!.data).toString()).to.equal('[1]');
    });

    it('refuses malformed input: truncated messages, a stream name that is not UTF-8', () => {
      const req = new BatchAppendReq();
      req.setCorrelationId(uuidMessage(randomUUID(), true));
      req.addProposedMessages(proposed(new BatchAppendReq.ProposedMessage(), randomUUID(), true, new Uint8Array(50)));
      const bytes = req.serializeBinary();
      expect(() => decodeBatchAppendReq(bytes.subarray(0, bytes.length - 10))).to.throw(/Malformed protobuf/);

      const options = new AppendReq.Options();
      const bad = new sharedPb.StreamIdentifier();
      bad.setStreamName(new Uint8Array([0xff, 0xfe]));
      options.setStreamIdentifier(bad);
      const withBadName = new AppendReq();
      withBadName.setOptions(options);
      expect(() => decodeAppendReq(withBadName.serializeBinary())).to.throw(/not valid UTF-8/);
    });

    it('reads the content type and type of any value, whatever order the map entry has its key and value in', () => {
      // A map entry written value first, then key (legal protobuf, though the generated classes write key first).
      const entry = (key: string, value: string) => {
        const w = new ProtoWriter();
        w.message(2, (e) => {
          e.string(2, value);
          e.string(1, key);
        });
        return w.finish();
      };
      const w = new ProtoWriter();
      w.message(2, (m) => {
        m.raw(entry('content-type', 'text/plain; charset=utf-8'));
        m.raw(entry('type', 'Größe✓'));
        m.bytes(4, utf8.encode('hello'));
      });
      const decoded = decodeAppendReq(w.finish());
      expect(decoded.proposed).to.include({ type: 'Größe✓', contentType: 'text/plain; charset=utf-8', id: undefined });
      expect(eventDataOf(decoded.proposed!).data).to.deep.equal(Buffer.from('hello'));
    });

    it('passes string ids through as sent, for the store to check and lower-case with every other protocol\'s', () => {
      for (const text of ['0123456-89ab-cdef-0123-456789abcdef', 'not-a-uuid', 'ABCDEF01-89AB-CDEF-0123-456789ABCDEF']) {
        const m = new AppendReq.ProposedMessage();
        const uuid = new sharedPb.UUID();
        uuid.setString(text);
        m.setId(uuid);
        const req = new AppendReq();
        req.setProposedMessage(m);
        expect(decodeAppendReq(req.serializeBinary()).proposed!.id).to.equal(text);
      }
    });

    it('decodes event types, the same type over and over and then others', () => {
      const types = ['OrderPlaced', 'OrderPlaced', 'OrderShipped', 'Größe✓', 'OrderPlaced', 'x'.repeat(300), 'x'.repeat(300)];
      const req = new BatchAppendReq();
      for (const type of types) {
        const m = new BatchAppendReq.ProposedMessage();
        m.getMetadataMap().set('type', type);
        m.getMetadataMap().set('content-type', 'application/json');
        req.addProposedMessages(m);
      }
      expect(decodeBatchAppendReq(req.serializeBinary()).proposed.map((p) => p.type)).to.deep.equal(types);
    });

    it('decodes the same stream identifier to the same name every time, and different ones apart', () => {
      const names = ['orders-1', 'orders-2', 'orders-1', '', 'bestellungen-ü'];
      const decoded = names.map((name) => {
        const options = new AppendReq.Options();
        options.setStreamIdentifier(streamIdentifier(name));
        options.setAny(new emptyPb.Empty());
        const req = new AppendReq();
        req.setOptions(options);
        return decodeAppendReq(req.serializeBinary()).options!.streamName;
      });
      expect(decoded).to.deep.equal(names);
    });
  });

  describe('eventDataOf (a proposed event as the store takes it)', () => {
    const event = (contentType: string, data: Buffer, customMetadata = Buffer.alloc(0)) => ({ id: undefined, type: 'T', contentType, data, customMetadata });

    it('parses JSON data, with or without a byte order mark, and gives an event without an id a fresh one', () => {
      expect(eventDataOf(event('application/json', Buffer.from('{"a":1}'))).data).to.deep.equal({ a: 1 });
      expect(eventDataOf(event('application/json', Buffer.from('\ufeff{"a":2}'))).data).to.deep.equal({ a: 2 });
      expect(eventDataOf(event('application/json', Buffer.alloc(0))).data).to.deep.equal({});
      expect(eventDataOf(event('application/json', Buffer.from('{}'))).id).to.match(/^[0-9a-f-]{36}$/);
    });

    it('keeps data that is not JSON, and custom metadata, as copies of the request bytes', () => {
      const request = Buffer.from('xx{not json}yy{"m":1}');
      const data = request.subarray(2, 12);
      const custom = request.subarray(14);
      const e = eventDataOf(event('application/json', data, custom));
      expect(e.data).to.deep.equal(Buffer.from('{not json}'));
      expect(e.metadata).to.deep.equal(Buffer.from('{"m":1}'));
      request.fill(0);
      expect(Buffer.from(e.data as Uint8Array).toString()).to.equal('{not json}');
      expect(Buffer.from(e.metadata as Uint8Array).toString()).to.equal('{"m":1}');
    });

    it('refuses an event without a type or content type, naming what is missing', () => {
      expect(() => eventDataOf({ ...event('application/json', Buffer.from('{}')), type: undefined })).to.throw(/Missing required metadata properties: type$/);
      expect(() => eventDataOf({ ...event('application/json', Buffer.from('{}')), type: '', contentType: undefined })).to.throw(/Missing required metadata properties: type, content-type/);
    });
  });

  describe('ProtoWriter and ProtoReader', () => {
    it('frames messages with the gRPC prefix: a zero compression flag and a big-endian length', () => {
      const w = new ProtoWriter(2);
      const first = w.beginFrame();
      w.string(1, 'a'.repeat(300));
      w.endFrame(first);
      const second = w.beginFrame();
      w.endFrame(second);
      const bytes = w.finish();
      expect(bytes[0]).to.equal(0);
      expect(bytes.readUInt32BE(1)).to.equal(303);
      expect(bytes.length).to.equal(5 + 303 + 5);
      expect([...bytes.subarray(308)]).to.deep.equal([0, 0, 0, 0, 0]);
    });

    it('round-trip varints and nested messages whose length needs more bytes than reserved, across buffer growth', () => {
      const w = new ProtoWriter(4);
      w.message(1, (a) => {
        a.uint64(1, 2n ** 64n - 1n);
        a.message(2, (b) => b.bytes(3, new Uint8Array(20_000).fill(9)));
        a.string(4, 'x'.repeat(50) + '😀');
      });
      const bytes = w.finish();
      const r = new ProtoReader(bytes);
      expect(r.varint()).to.equal((1 << 3) | 2);
      const [s, e] = r.span();
      expect(e).to.equal(bytes.length);
      const inner = new ProtoReader(bytes, s, e);
      expect(inner.varint()).to.equal(8);
      expect(inner.uint64()).to.equal(2n ** 64n - 1n);
      expect(inner.varint()).to.equal((2 << 3) | 2);
      const [s2, e2] = inner.span();
      const deepest = new ProtoReader(bytes, s2, e2);
      expect(deepest.varint()).to.equal((3 << 3) | 2);
      expect(deepest.bytes()).to.have.length(20_000);
      expect(inner.varint()).to.equal((4 << 3) | 2);
      expect(Buffer.from(inner.bytes()).toString('utf8')).to.equal('x'.repeat(50) + '😀');
      expect(inner.done).to.equal(true);
    });
  });
});
