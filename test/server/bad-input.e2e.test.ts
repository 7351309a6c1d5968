// Bad input gets a 4xx with a clear message and writes nothing; thousands of random and mutated
// requests leave the server answering and the store consistent.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import fc from 'fast-check';
import { expect } from '../support/chai.js';
import { ADMIN, appendBatch, batch, call, checkConsistency, EVENTS_JSON, startServer, type Running } from './server-fixture.js';

async function headPosition(s: Running): Promise<bigint> {
  return s.store.headPosition();
}

/** Sends bytes as they are (fetch would normalise the path and headers). */
function raw(s: Running, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; body: string }> {
  const url = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP bad input', () => {
  let s: Running;
  before(async () => {
    s = await startServer({ bodyLimit: 64 * 1024 });
    await appendBatch(s.url, 'existing', batch('A'));
  });
  after(async () => {
    await s.stop();
  });

  const cases: Array<[string, () => Promise<Response>, number, RegExp]> = [
    ['malformed JSON', () => call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON }, body: '[{"eventId": ' }), 400, /not valid JSON/],
    ['an empty JSON body', () => call(s.url, '/streams/bad', { method: 'POST', headers: { 'content-type': EVENTS_JSON }, body: '' }), 400, /empty/],
    ['a batch that is not an array', () => call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON }, body: { eventId: randomUUID() } }), 400, /JSON array/],
    ['an empty batch', () => call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON }, body: [] }), 400, /no events/],
    ['a wrong content type', () => call(s.url, '/streams/bad', { headers: { 'content-type': 'text/csv' }, body: 'a,b' }), 415, /.+/],
    ['XML', () => call(s.url, '/streams/bad', { headers: { 'content-type': 'application/xml' }, body: '<x/>' }), 415, /XML bodies are not supported/],
    ['no content type', () => call(s.url, '/streams/bad', { method: 'POST', headers: {}, body: undefined }), 415, /Content-Type is required/],
    ['a missing event type', () => call(s.url, '/streams/bad', { headers: { 'content-type': 'application/json', 'ES-EventId': randomUUID() }, body: {} }), 400, /Must include an event type/],
    ['a batch event without a type', () => call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON }, body: [{ eventId: randomUUID(), data: {} }] }), 400, /eventType/],
    ['an invalid event id', () => call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON }, body: [{ eventId: 'nope', eventType: 'A' }] }), 400, /eventId must be a non-empty GUID/],
    ['the empty GUID', () => call(s.url, '/streams/bad', { headers: { 'content-type': 'application/json', 'ES-EventType': 'A', 'ES-EventId': '00000000-0000-0000-0000-000000000000' }, body: {} }), 400, /ES-EventId header in wrong format/],
    ['a repeated id within a batch', () => { const id = randomUUID(); return call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON }, body: [{ eventId: id, eventType: 'A' }, { eventId: id, eventType: 'B' }] }); }, 400, /repeats the id/],
    ['a body over the limit', () => call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON }, body: [{ eventId: randomUUID(), eventType: 'A', data: { x: 'y'.repeat(70_000) } }] }), 413, /larger than the limit/],
    ['a bad expected-version header', () => call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON, 'ES-ExpectedVersion': 'abc' }, body: batch('A') }), 400, /ES-ExpectedVersion header in wrong format/],
    ['expected version -3', () => call(s.url, '/streams/bad', { headers: { 'content-type': EVENTS_JSON, 'Kurrent-ExpectedVersion': '-3' }, body: batch('A') }), 400, /Kurrent-ExpectedVersion header in wrong format/],
    ['a bad HardDelete header', () => call(s.url, '/streams/existing', { method: 'DELETE', headers: { 'ES-HardDelete': 'yes' } }), 400, /HardDelete header in wrong format/],
    ['a bad LongPoll header', () => call(s.url, '/streams/existing/1/forward/5', { headers: { 'ES-LongPoll': '-1' } }), 400, /LongPoll header in wrong format/],
    ['writing $all', () => call(s.url, '/streams/%24all', { headers: { 'content-type': EVENTS_JSON }, body: batch('A') }), 400, /not a stream/],
    ['a stream name with a control character', () => call(s.url, '/streams/a%00b', { headers: { 'content-type': EVENTS_JSON }, body: batch('A') }), 400, /control character/],
    ['a stream name over 1024 bytes', () => call(s.url, `/streams/${'x'.repeat(1100)}`, { headers: { 'content-type': EVENTS_JSON }, body: batch('A') }), 400, /limit is 1024/],
    ['metadata that is not an object', () => call(s.url, '/streams/existing/metadata', { headers: { 'content-type': 'application/json' }, body: [1] }), 400, /JSON object/],
    ['a bad embed', () => call(s.url, '/streams/existing?embed=everything'), 400, /embed must be one of/],
    ['an XML-only Accept', () => call(s.url, '/streams/existing', { headers: { accept: 'application/atom+xml' } }), 406, /Cannot answer/],
    ['an unknown route', () => call(s.url, '/nothing/here'), 404, /No route/],
  ];

  for (const [what, send, status, message] of cases) {
    it(`refuses ${what} with ${status} and writes nothing`, async () => {
      const before = await headPosition(s);
      const r = await send();
      const text = await r.text();
      expect(r.status, text).to.equal(status);
      expect(JSON.parse(text).message).to.match(message);
      expect(await headPosition(s)).to.equal(before);
    });
  }

  it('refuses path tricks: encoded slashes and dot segments never reach another stream', async () => {
    const before = await headPosition(s);
    for (const path of ['/streams/../streams/existing', '/streams/%2e%2e%2fadmin', '/streams/existing%2F..%2F..%2Fetc']) {
      const r = await raw(s, 'POST', path, { authorization: ADMIN, 'content-type': EVENTS_JSON }, Buffer.from(JSON.stringify(batch('A'))));
      if (r.status === 201) {
        // A name with a slash is a legal (if unusual) stream name; it must be that name, not a path.
        const streams: string[] = [];
        for await (const e of s.store.readAll({ fromPosition: before })) streams.push(e.streamId);
        expect(streams.every((n) => n.includes('/'))).to.equal(true);
      } else expect(r.status).to.be.within(400, 404);
    }
    const bad = await raw(s, 'GET', '/streams/%E0%A4%A', { authorization: ADMIN });
    expect(bad.status).to.equal(400);
    const dots = await raw(s, 'POST', '/streams/%2E%2E', { authorization: ADMIN, 'content-type': EVENTS_JSON }, Buffer.from(JSON.stringify(batch('A'))));
    expect(dots.status).to.equal(400);
    expect(dots.body).to.match(/Invalid stream name/);
  });

  it('survives thousands of random and mutated requests with the store consistent afterwards', async function () {
    this.timeout(120_000);
    const streams = ['fz-a', 'fz-b', '$fz-sys', 'fz-c'];
    const valid = () => JSON.stringify(batch('A', 'B'));
    const mutate = (text: string, rnd: () => number): string => {
      const chars = [...text];
      const n = 1 + Math.floor(rnd() * 4);
      for (let i = 0; i < n; i++) {
        const at = Math.floor(rnd() * (chars.length + 1));
        const op = Math.floor(rnd() * 3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, String.fromCharCode(Math.floor(rnd() * 128)));
        else chars[at] = '"';
      }
      return chars.join('');
    };
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'POST', 'POST', 'DELETE', 'PUT'),
      stream: fc.oneof(fc.constantFrom(...streams), fc.string({ maxLength: 12 }), fc.constant('%24all')),
      suffix: fc.constantFrom('', '', '', '', '/0', '/head', '/0/forward/5', '/head/backward/3', '/metadata', '/incoming/x', `/incoming/${randomUUID()}`, '/-1/forward/0', '/9999999999999999999999/forward/1'),
      contentType: fc.constantFrom(EVENTS_JSON, EVENTS_JSON, EVENTS_JSON, 'application/vnd.kurrent.events+json', 'application/json', 'application/octet-stream', 'text/plain', 'application/xml', ''),
      body: fc.oneof(fc.constant('valid'), fc.constant('valid'), fc.constant('valid'), fc.constant('mutated'), fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 })),
      expected: fc.option(fc.constantFrom('-4', '-3', '-2', '-1', '0', '1', '5', 'x', '99999999999999999999'), { nil: undefined }),
      hard: fc.option(fc.constantFrom('true', 'false', 'maybe'), { nil: undefined }),
      eventType: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
      eventId: fc.option(fc.oneof(fc.uuid(), fc.string({ maxLength: 10 })), { nil: undefined }),
      seed: fc.integer(),
    });
    const samples = fc.sample(request, { numRuns: 2500, seed: 42 });
    let answered = 0;
    const statuses = new Map<number, number>();
    for (let i = 0; i < samples.length; i += 25) {
      await Promise.all(
        samples.slice(i, i + 25).map(async (q) => {
          let seed = q.seed;
          const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) | 0) >>> 0) / 2 ** 32;
          const body = q.body === 'valid' ? valid() : q.body === 'mutated' ? mutate(valid(), rnd) : q.body;
          const headers: Record<string, string> = { authorization: ADMIN };
          if (q.contentType !== '') headers['content-type'] = q.contentType;
          if (q.expected !== undefined) headers['ES-ExpectedVersion'] = q.expected;
          if (q.hard !== undefined) headers['ES-HardDelete'] = q.hard;
          if (q.eventType !== undefined && /^[\x20-\x7e]*$/.test(q.eventType)) headers['ES-EventType'] = q.eventType;
          if (q.eventId !== undefined && /^[\x20-\x7e]*$/.test(q.eventId)) headers['ES-EventId'] = q.eventId;
          const path = `/streams/${encodeURIComponent(q.stream).replace('%2524all', '%24all')}${q.suffix}`;
          const r = await raw(s, q.method, path, headers, q.method === 'GET' || q.method === 'DELETE' ? undefined : Buffer.from(body));
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          expect(r.status, `${q.method} ${path} → ${r.body}`).to.be.below(500);
          answered++;
        }),
      );
    }
    expect(answered).to.equal(samples.length);
    expect(statuses.get(201) ?? 0, 'some requests were valid appends').to.be.greaterThan(15);
    expect((await call(s.url, '/ping')).status).to.equal(200);
    expect((await appendBatch(s.url, 'after-fuzz', batch('A'))).status).to.equal(201);
    const { events } = await checkConsistency(s.store);
    expect(events).to.be.greaterThan(0);
  });
});
