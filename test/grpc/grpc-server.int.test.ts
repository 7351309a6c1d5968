// The gRPC transport (server/grpc/grpc-server.ts, server-call.ts) on a real server's shared port,
// driven by a raw HTTP/2 client so that what the official clients never do can be done on purpose:
// messages split over many DATA frames or packed several to one, compressed messages, unknown
// methods, oversized and malformed messages, deadlines, statuses with trailers, and a server
// that closes with calls open.
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2';
import { deflateSync, gzipSync } from 'node:zlib';
import { ProtoReader, ProtoWriter } from '../../server/grpc/codec.js';
import { sharedPb, streamsPb } from '../../server/grpc/protocol.js';
import { createServer, type TelltaleServer } from '../../server/index.js';
import { openStore, type Store } from '../../store/index.js';
import { expect } from '../support/chai.js';
import { collect } from './waiting.js';

const BATCH_APPEND = '/event_store.client.streams.Streams/BatchAppend';
const READ = '/event_store.client.streams.Streams/Read';

interface Answer {
  readonly headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
  /** The trailers, or the headers of a trailers-only response. */
  readonly trailers: IncomingHttpHeaders;
  readonly messages: Buffer[];
}

/** A gRPC message with its 5-byte prefix. */
function frame(body: Uint8Array, compressed = false): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

/** The messages in a response body. */
function unframe(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos + 5 <= body.length; ) {
    const length = body.readUInt32BE(pos + 1);
    out.push(body.subarray(pos + 5, pos + 5 + length));
    pos += 5 + length;
  }
  return out;
}

/** A one-event BatchAppendReq (options, the event, is_final) with the given correlation id. */
function batchAppend(stream: string, correlation: string, data: object = { n: 1 }, eventIdText: string = randomUUID()): Buffer {
  const req = new streamsPb.BatchAppendReq();
  const id = new sharedPb.UUID();
  id.setString(correlation);
  req.setCorrelationId(id);
  const options = new streamsPb.BatchAppendReq.Options();
  const identifier = new sharedPb.StreamIdentifier();
  identifier.setStreamName(Buffer.from(stream));
  options.setStreamIdentifier(identifier);
  options.setAny(new sharedPb.Empty());
  req.setOptions(options);
  const m = new streamsPb.BatchAppendReq.ProposedMessage();
  const eventId = new sharedPb.UUID();
  eventId.setString(eventIdText);
  m.setId(eventId);
  m.getMetadataMap().set('type', 'Happened');
  m.getMetadataMap().set('content-type', 'application/json');
  m.setData(Buffer.from(JSON.stringify(data)));
  req.addProposedMessages(m);
  req.setIsFinal(true);
  return Buffer.from(req.serializeBinary());
}

function readStreamReq(stream: string, subscribe = false): Buffer {
  const req = new streamsPb.ReadReq();
  const options = new streamsPb.ReadReq.Options();
  const s = new streamsPb.ReadReq.Options.StreamOptions();
  const identifier = new sharedPb.StreamIdentifier();
  identifier.setStreamName(Buffer.from(stream));
  s.setStreamIdentifier(identifier);
  s.setStart(new sharedPb.Empty());
  options.setStream(s);
  options.setReadDirection(streamsPb.ReadReq.Options.ReadDirection.FORWARDS);
  options.setNoFilter(new sharedPb.Empty());
  const uuid = new streamsPb.ReadReq.Options.UUIDOption();
  uuid.setString(new sharedPb.Empty());
  options.setUuidOption(uuid);
  if (subscribe) options.setSubscription(new streamsPb.ReadReq.Options.SubscriptionOptions());
  else options.setCount('100');
  req.setOptions(options);
  return Buffer.from(req.serializeBinary());
}

/** The correlation ids (as UUID text) of BatchAppendResp messages that report success. */
function successes(messages: Buffer[]): string[] {
  return messages.flatMap((m) => {
    const resp = streamsPb.BatchAppendResp.deserializeBinary(m);
    return resp.hasSuccess() ? [resp.getCorrelationId()!.getString()] : [];
  });
}

describe('gRPC transport (raw HTTP/2 against the shared port)', function () {
  this.timeout(30_000);
  let store: Store;
  let server: TelltaleServer;
  let port: number;
  let session: ClientHttp2Session;

  before(async () => {
    store = await openStore('memory:');
    server = createServer({ store, host: '127.0.0.1', port: 0, auth: { insecure: true }, log: () => {} });
    port = (await server.listen()).port;
    session = connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
  });
  after(async () => {
    session?.destroy();
    await server?.close();
    await store?.close();
  });

  /** Sends `chunks` as separate writes (one DATA frame each, a turn of the event loop apart), then ends the request. */
  function call(path: string, chunks: Buffer[], headers: Record<string, string> = {}, options: { end?: boolean } = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
      let responseHeaders: IncomingHttpHeaders & IncomingHttpStatusHeader = {};
      let trailers: IncomingHttpHeaders | undefined;
      const body: Buffer[] = [];
      stream.on('response', (h) => (responseHeaders = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (c: Buffer) => body.push(c));
      stream.on('error', reject);
      stream.on('close', () => resolve({ headers: responseHeaders, trailers: trailers ?? responseHeaders, messages: unframe(Buffer.concat(body)) }));
      void (async () => {
        for (const chunk of chunks) {
          await new Promise<void>((done) => stream.write(chunk, () => done()));
          await new Promise((r) => setImmediate(r));
        }
        if (options.end !== false) stream.end();
      })();
    });
  }

  it('decodes a message split over many DATA frames, and several messages in one', async () => {
    const stream = `raw-${randomUUID()}`;
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const first = frame(batchAppend(stream, ids[0]!));
    // The first message a byte at a time (its prefix too), the other two together in one frame.
    const bytes = [...first].map((b) => Buffer.from([b]));
    const answer = await call(BATCH_APPEND, [...bytes, Buffer.concat([frame(batchAppend(stream, ids[1]!)), frame(batchAppend(stream, ids[2]!))])]);
    expect(answer.trailers['grpc-status']).to.equal('0');
    expect(successes(answer.messages).sort()).to.deep.equal([...ids].sort());
    expect(answer.headers['content-type']).to.equal('application/grpc+proto');
  });

  it('refuses an append whose event id is not a UUID in its own response, and goes on with the call', async () => {
    const stream = `raw-${randomUUID()}`;
    const [bad, good] = [randomUUID(), randomUUID()];
    const answer = await call(BATCH_APPEND, [frame(batchAppend(stream, bad, {}, 'not-a-uuid')), frame(batchAppend(stream, good, {}, randomUUID().toUpperCase()))]);
    expect(answer.trailers['grpc-status']).to.equal('0');
    const responses = answer.messages.map((m) => streamsPb.BatchAppendResp.deserializeBinary(m));
    const refused = responses.find((r) => r.getCorrelationId()!.getString() === bad)!;
    expect(refused.hasError()).to.equal(true);
    expect(refused.getError()!.getMessage()).to.match(/not a UUID/);
    expect(successes(answer.messages)).to.deep.equal([good]);
    const [stored] = await collect(store.readStream(stream));
    expect(stored!.id).to.match(/^[0-9a-f-]{36}$/);
  });

  it('accepts gzip and deflate messages, and refuses a compressed message without an encoding it knows', async () => {
    const stream = `raw-${randomUUID()}`;
    const id = randomUUID();
    const gz = await call(BATCH_APPEND, [frame(gzipSync(batchAppend(stream, id)), true)], { 'grpc-encoding': 'gzip' });
    expect(successes(gz.messages)).to.deep.equal([id]);
    const other = randomUUID();
    const deflated = await call(BATCH_APPEND, [frame(deflateSync(batchAppend(stream, other)), true)], { 'grpc-encoding': 'deflate' });
    expect(successes(deflated.messages)).to.deep.equal([other]);
    const unknown = await call(BATCH_APPEND, [frame(gzipSync(batchAppend(stream, randomUUID())), true)], { 'grpc-encoding': 'snappy' });
    expect(unknown.trailers['grpc-status']).to.equal('12');
    expect(unknown.messages).to.deep.equal([]);
  });

  it('answers an unknown method with UNIMPLEMENTED, and a request that is not gRPC with 415', async () => {
    const answer = await call('/event_store.client.streams.Streams/Nope', [frame(new Uint8Array())]);
    expect(answer.headers[':status']).to.equal(200);
    expect(answer.trailers['grpc-status']).to.equal('12');
    expect(decodeURIComponent(String(answer.trailers['grpc-message']))).to.include('/event_store.client.streams.Streams/Nope');
    const plain = await call(READ, [Buffer.from('hello')], { 'content-type': 'text/plain' });
    expect(plain.headers[':status']).to.equal(415);
  });

  it('refuses a message larger than the limit by its prefix alone', async () => {
    const prefix = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]);
    const answer = await call(BATCH_APPEND, [prefix], {}, { end: false });
    expect(answer.trailers['grpc-status']).to.equal('8');
  });

  it('turns a request that does not decode into INVALID_ARGUMENT, and a failure into Event Store trailers with a percent-encoded message', async () => {
    const malformed = await call(READ, [frame(Buffer.from([0x0a, 0x50, 0x01]))]);
    expect(malformed.trailers['grpc-status']).to.equal('3');
    const name = `gelöscht-${randomUUID()}`;
    await store.appendToStream(name, [{ type: 'A', data: {} }]);
    await store.tombstoneStream(name);
    const deleted = await call(READ, [frame(readStreamReq(name))]);
    expect(deleted.trailers['grpc-status']).to.equal('9');
    expect(deleted.trailers.exception).to.equal('stream-deleted');
    expect(decodeURIComponent(String(deleted.trailers['grpc-message']))).to.include(name);
    expect(String(deleted.trailers['grpc-message'])).to.match(/^[\x20-\x7e]*$/);
  });

  it('streams a read as messages then an OK status, and ends a subscription at its deadline', async () => {
    const name = `raw-${randomUUID()}`;
    await store.appendToStream(name, [{ type: 'A', data: { n: 1 } }, { type: 'B', data: { n: 2 } }]);
    const read = await call(READ, [frame(readStreamReq(name))]);
    expect(read.trailers['grpc-status']).to.equal('0');
    const types = read.messages.map((m) => streamsPb.ReadResp.deserializeBinary(m).getEvent()?.getEvent()?.getMetadataMap().get('type'));
    expect(types).to.deep.equal(['A', 'B']);
    const subscription = await call(READ, [frame(readStreamReq(name, true))], { 'grpc-timeout': '300m' });
    expect(subscription.trailers['grpc-status']).to.equal('4');
    const kinds = subscription.messages.map((m) => streamsPb.ReadResp.deserializeBinary(m).getContentCase());
    expect(kinds[0]).to.equal(streamsPb.ReadResp.ContentCase.CONFIRMATION);
    expect(kinds.filter((k) => k === streamsPb.ReadResp.ContentCase.EVENT)).to.have.length(2);
  });

  it('serves HTTP/1.1 on the same port as before', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`http://127.0.0.1:${port}/info`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).to.equal(200);
  });

  it('ends open calls when the server closes', async () => {
    const own = await openStore('memory:');
    const other = createServer({ store: own, host: '127.0.0.1', port: 0, auth: { insecure: true }, log: () => {} });
    const otherPort = (await other.listen()).port;
    const client = connect(`http://127.0.0.1:${otherPort}`);
    client.on('error', () => {});
    const stream = client.request({ ':method': 'POST', ':path': READ, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => {});
    stream.end(frame(readStreamReq(`raw-${randomUUID()}`, true)));
    const confirmed = new Promise((resolve) => stream.once('data', resolve));
    await confirmed;
    const closed = new Promise((resolve) => stream.once('close', resolve));
    await other.close();
    await closed;
    client.destroy();
    await own.close();
  });

  it('keeps the ProtoWriter frames it builds readable by the reader (the bench and tests use both)', () => {
    const w = new ProtoWriter();
    const at = w.beginFrame();
    w.string(1, 'x');
    w.endFrame(at);
    const [message] = unframe(w.finish());
    const r = new ProtoReader(message!);
    expect(r.varint()).to.equal((1 << 3) | 2);
    expect(r.string()).to.equal('x');
  });
});
