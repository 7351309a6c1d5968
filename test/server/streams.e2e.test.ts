// The stream API as Event Store clients use it over HTTP: appends, reads, paging, metadata,
// deletes, status codes, caching headers and long polling.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { expect } from '../support/chai.js';
import { ADMIN, appendBatch, ATOM, batch, call, EVENTS_JSON, feed, link, startServer, type Running } from './server-fixture.js';

describe('HTTP stream API', () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s.stop();
  });

  describe('appending', () => {
    it('appends a vnd.eventstore.events+json batch atomically and answers 201 with the first event\'s Location', async () => {
      const r = await appendBatch(s.url, 'append-batch', batch('A', 'B', 'C'));
      expect(r.status).to.equal(201);
      expect(r.headers.get('location')).to.equal(`${s.url}/streams/append-batch/0`);
      const r2 = await appendBatch(s.url, 'append-batch', batch('D'));
      expect(r2.headers.get('location')).to.equal(`${s.url}/streams/append-batch/3`);
    });

    it('accepts the vnd.kurrent.events+json media type and Kurrent-* headers', async () => {
      const r = await call(s.url, '/streams/append-kurrent', { headers: { 'content-type': 'application/vnd.kurrent.events+json', 'Kurrent-ExpectedVersion': '-1' }, body: batch('A') });
      expect(r.status).to.equal(201);
      const again = await call(s.url, '/streams/append-kurrent', { headers: { 'content-type': 'application/vnd.kurrent.events+json', 'Kurrent-ExpectedVersion': '-1' }, body: batch('A') });
      expect(again.status).to.equal(400);
      expect(again.headers.get('kurrent-currentversion')).to.equal('0');
    });

    it('appends one application/json event with ES-EventType and ES-EventId', async () => {
      const id = randomUUID();
      const r = await call(s.url, '/streams/append-json', { headers: { 'content-type': 'application/json', 'ES-EventType': 'Thing', 'ES-EventId': id }, body: { a: 1 } });
      expect(r.status).to.equal(201);
      const event = await feed(s.url, '/streams/append-json/0');
      expect(event.body.content).to.include({ eventType: 'Thing', eventId: id });
      expect(event.body.content.data).to.deep.equal({ a: 1 });
    });

    it('redirects a JSON event without an id to /incoming/{guid} with 307, and posting there appends once', async () => {
      const r = await call(s.url, '/streams/append-redirect', { headers: { 'content-type': 'application/json', 'Kurrent-EventType': 'Thing' }, body: { a: 1 } });
      expect(r.status).to.equal(307);
      expect(await r.text()).to.equal('Forwarding to idempotent URI');
      const location = r.headers.get('location')!;
      expect(location).to.match(/\/streams\/append-redirect\/incoming\/[0-9a-f-]{36}$/);
      const path = new URL(location).pathname;
      for (let i = 0; i < 2; i++) {
        const posted = await call(s.url, path, { headers: { 'content-type': 'application/json', 'Kurrent-EventType': 'Thing' }, body: { a: 1 } });
        expect(posted.status).to.equal(201);
      }
      const page = await feed(s.url, '/streams/append-redirect');
      expect(page.body.entries).to.have.length(1);
    });

    it('appends binary data with application/octet-stream', async () => {
      const r = await call(s.url, '/streams/append-binary', { headers: { 'content-type': 'application/octet-stream', 'ES-EventType': 'Blob', 'ES-EventId': randomUUID() }, body: new Uint8Array([1, 2, 3, 250]) });
      expect(r.status).to.equal(201);
      const raw = await call(s.url, '/streams/append-binary/0', { headers: { accept: 'application/json' } });
      expect(new Uint8Array(await raw.arrayBuffer())).to.deep.equal(new Uint8Array([1, 2, 3, 250]));
    });

    it('is idempotent: the same batch again is accepted and writes nothing', async () => {
      const events = batch('A', 'B');
      expect((await appendBatch(s.url, 'append-idem', events)).status).to.equal(201);
      const again = await appendBatch(s.url, 'append-idem', events, { 'ES-ExpectedVersion': '-1' });
      expect(again.status).to.equal(201);
      expect((await feed(s.url, '/streams/append-idem')).body.entries).to.have.length(2);
    });

    it('honours ExpectedVersion -1, -2, -4 and n, answering 400 "Wrong expected EventNumber" with the current version', async () => {
      expect((await appendBatch(s.url, 'ev', batch('A'), { 'ES-ExpectedVersion': '-4' })).status).to.equal(400);
      expect((await appendBatch(s.url, 'ev', batch('A'), { 'ES-ExpectedVersion': '-1' })).status).to.equal(201);
      const wrong = await appendBatch(s.url, 'ev', batch('B'), { 'ES-ExpectedVersion': '5' });
      expect(wrong.status).to.equal(400);
      expect(wrong.statusText).to.equal('Wrong expected EventNumber');
      expect(wrong.headers.get('es-currentversion')).to.equal('0');
      expect(wrong.headers.get('kurrent-currentversion')).to.equal('0');
      expect((await appendBatch(s.url, 'ev', batch('B'), { 'ES-ExpectedVersion': '0' })).status).to.equal(201);
      expect((await appendBatch(s.url, 'ev', batch('C'), { 'ES-ExpectedVersion': '-4' })).status).to.equal(201);
      expect((await appendBatch(s.url, 'ev', batch('D'), { 'ES-ExpectedVersion': '-2' })).status).to.equal(201);
      expect((await appendBatch(s.url, 'ev', batch('E'), { 'ES-ExpectedVersion': '-1' })).headers.get('es-currentversion')).to.equal('3');
    });
  });

  describe('reading', () => {
    before(async () => {
      for (let i = 0; i < 5; i++) await appendBatch(s.url, 'paged', batch(...Array.from({ length: 10 }, (_, j) => `E${i * 10 + j}`)));
    });

    it('serves the head page newest first with self, first, last, next, previous and metadata links', async () => {
      const page = await feed(s.url, '/streams/paged');
      expect(page.status).to.equal(200);
      expect(page.body).to.include({ title: "Event stream 'paged'", streamId: 'paged', headOfStream: true });
      expect(page.body.entries.map((e: any) => e.title)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `${49 - i}@paged`));
      expect(link(page.body, 'self')).to.equal(`${s.url}/streams/paged`);
      expect(link(page.body, 'first')).to.equal(`${s.url}/streams/paged/head/backward/20`);
      expect(link(page.body, 'last')).to.equal(`${s.url}/streams/paged/0/forward/20`);
      expect(link(page.body, 'next')).to.equal(`${s.url}/streams/paged/29/backward/20`);
      expect(link(page.body, 'previous')).to.equal(`${s.url}/streams/paged/50/forward/20`);
      expect(link(page.body, 'metadata')).to.equal(`${s.url}/streams/paged/metadata`);
      expect(page.body.entries[0]).to.include({ summary: 'E49', id: `${s.url}/streams/paged/49` });
    });

    it('walks the whole stream backwards through next links and forwards through previous links', async () => {
      const seen: string[] = [];
      let next: string | undefined = `/streams/paged/head/backward/15`;
      while (next !== undefined) {
        const page = await feed(s.url, next.replace(s.url, ''));
        seen.push(...page.body.entries.map((e: any) => e.summary));
        next = link(page.body, 'next');
      }
      expect(seen).to.deep.equal(Array.from({ length: 50 }, (_, i) => `E${49 - i}`));
      const forward: string[] = [];
      let previous: string | undefined = `/streams/paged/0/forward/15`;
      for (;;) {
        const page = await feed(s.url, previous!.replace(s.url, ''));
        if (page.body.entries.length === 0) break;
        forward.push(...[...page.body.entries].reverse().map((e: any) => e.summary));
        previous = link(page.body, 'previous');
      }
      expect(forward).to.deep.equal(Array.from({ length: 50 }, (_, i) => `E${i}`));
    });

    it('embeds rich fields and bodies on request', async () => {
      const rich = await feed(s.url, '/streams/paged/0/forward/1?embed=rich');
      expect(rich.body.entries[0]).to.include({ eventType: 'E0', eventNumber: 0, streamId: 'paged', isJson: true });
      expect(rich.body.entries[0]).to.not.have.property('data');
      const body = await feed(s.url, '/streams/paged/0/forward/1?embed=body');
      expect(JSON.parse(body.body.entries[0].data)).to.deep.equal({ i: 0 });
      const content = await feed(s.url, '/streams/paged/0/forward/1?embed=content');
      expect(content.body.entries[0].content.data).to.deep.equal({ i: 0 });
    });

    it('reads one event: application/json gives its data, atom gives the entry with content', async () => {
      const data = await call(s.url, '/streams/paged/7', { headers: { accept: 'application/json' } });
      expect(await data.json()).to.deep.equal({ i: 7 });
      const atom = await feed(s.url, '/streams/paged/7');
      expect(atom.body.content).to.include({ eventType: 'E7', eventNumber: 7, eventStreamId: 'paged' });
      const head = await feed(s.url, '/streams/paged/head');
      expect(head.body.content.eventNumber).to.equal(49);
      expect((await call(s.url, '/streams/paged/5000')).status).to.equal(404);
    });

    it('answers 404 for a stream that does not exist and 400 for a bad count or event number', async () => {
      expect((await call(s.url, '/streams/never-written')).status).to.equal(404);
      expect((await call(s.url, '/streams/paged/0/forward/0')).status).to.equal(400);
      expect((await call(s.url, '/streams/paged/-1/forward/5')).status).to.equal(400);
      expect((await call(s.url, '/streams/paged/x/backward/5')).status).to.equal(400);
    });

    it('redirects a trailing slash with 301', async () => {
      const r = await call(s.url, '/streams/paged/');
      expect(r.status).to.equal(301);
      expect(r.headers.get('location')).to.equal(`${s.url}/streams/paged`);
    });

    it('reads $all (admins only) with 32-hex-digit positions, forward and backward', async () => {
      const head = await feed(s.url, '/streams/%24all');
      expect(head.status).to.equal(200);
      expect(head.body.title).to.equal('All events');
      const next = link(head.body, 'previous')!;
      expect(next).to.match(/\/streams\/%24all\/[0-9a-f]{32}\/forward\/20$/);
      const forward = await feed(s.url, '/streams/$all/00000000000000000000000000000000/forward/5?embed=rich');
      expect(forward.body.entries).to.have.length(5);
      const positions = forward.body.entries.map((e: any) => BigInt(`0x${e.position.slice(0, 16)}`));
      expect([...positions].sort((a, b) => (a < b ? -1 : 1)).reverse()).to.deep.equal(positions);
      expect((await call(s.url, '/streams/%24all/zz/forward/5')).status).to.equal(400);
    });

    it('reads $all filtered by stream prefix, event type regex or without system events, with the filter kept in its links', async () => {
      await appendBatch(s.url, 'flt-a', batch('Alpha', 'Beta'));
      await appendBatch(s.url, 'flt-b', batch('Alpha'));
      const byStream = await feed(s.url, '/streams/%24all/filtered?context=streamid&type=prefix&data=flt-a&embed=rich');
      expect(byStream.status).to.equal(200);
      expect(byStream.body.entries.map((e: any) => `${e.streamId}:${e.eventType}`)).to.deep.equal(['flt-a:Beta', 'flt-a:Alpha']);
      expect(link(byStream.body, 'previous')).to.match(/\/streams\/%24all\/filtered\/[0-9a-f]{32}\/forward\/20\?context=streamid&type=prefix&data=flt-a$/);
      const byType = await feed(s.url, '/streams/%24all/filtered/head/backward/50?context=eventtype&type=regex&data=^Alp&embed=rich');
      expect(byType.body.entries.every((e: any) => e.eventType.startsWith('Alp'))).to.equal(true);
      expect(byType.body.entries.length).to.be.at.least(2);
      const noSystem = await feed(s.url, '/streams/%24all/filtered/head/backward/200?exclude-system-events=true&embed=rich');
      expect(noSystem.body.entries.some((e: any) => e.eventType.startsWith('$'))).to.equal(false);
      expect((await call(s.url, '/streams/%24all/filtered?type=regex&data=(')).status).to.equal(400);
      expect((await call(s.url, '/streams/orders/filtered?data=x')).status).to.equal(400);
    });

    it('resolves links by default and returns them as they are with ResolveLinkTos: false', async () => {
      await appendBatch(s.url, 'links', [{ eventId: randomUUID(), eventType: '$>', data: '3@paged' }]);
      const resolved = await feed(s.url, '/streams/links/0/forward/1?embed=rich');
      expect(resolved.body.entries[0]).to.include({ eventType: 'E3', positionStreamId: 'links', positionEventNumber: 0 });
      const raw = await feed(s.url, '/streams/links/0/forward/1?embed=rich', { 'Kurrent-ResolveLinkTos': 'false' });
      expect(raw.body.entries[0]).to.include({ eventType: '$>', streamId: 'links' });
    });
  });

  describe('metadata', () => {
    it('writes and reads stream metadata, and $maxCount hides older events', async () => {
      await appendBatch(s.url, 'meta', batch('A', 'B', 'C', 'D'));
      const w = await call(s.url, '/streams/meta/metadata', { headers: { 'content-type': 'application/json' }, body: { $maxCount: 2, owner: 'team-a' } });
      expect(w.status).to.equal(201);
      const r = await call(s.url, '/streams/meta/metadata', { headers: { accept: 'application/json' } });
      expect(await r.json()).to.deep.equal({ $maxCount: 2, owner: 'team-a' });
      const page = await feed(s.url, '/streams/meta');
      expect(page.body.entries.map((e: any) => e.summary)).to.deep.equal(['D', 'C']);
    });

    it('accepts metadata as a one-event batch with an expected version of the metastream', async () => {
      await appendBatch(s.url, 'meta2', batch('A'));
      const body = [{ eventId: randomUUID(), eventType: '$user-updated', data: { custom: 1 } }];
      expect((await call(s.url, '/streams/meta2/metadata', { headers: { 'content-type': EVENTS_JSON, 'ES-ExpectedVersion': '-1' }, body })).status).to.equal(201);
      const again = await call(s.url, '/streams/meta2/metadata', { headers: { 'content-type': EVENTS_JSON, 'ES-ExpectedVersion': '-1' }, body: [{ ...body[0], eventId: randomUUID() }] });
      expect(again.status).to.equal(400);
    });

    it('refuses a metastream name on the metadata routes and invalid metadata', async () => {
      expect((await call(s.url, '/streams/%24%24meta/metadata', { headers: { accept: 'application/json' } })).status).to.equal(400);
      const bad = await call(s.url, '/streams/meta/metadata', { headers: { 'content-type': 'application/json' }, body: { $maxCount: -3 } });
      expect(bad.status).to.equal(400);
      expect(((await bad.json()) as { message: string }).message).to.match(/maxCount/);
    });
  });

  describe('deleting', () => {
    it('soft-deletes (204, then 404) and the stream can be written again', async () => {
      await appendBatch(s.url, 'soft', batch('A', 'B'));
      const d = await call(s.url, '/streams/soft', { method: 'DELETE' });
      expect(d.status).to.equal(204);
      expect((await call(s.url, '/streams/soft')).status).to.equal(404);
      expect((await appendBatch(s.url, 'soft', batch('C'))).status).to.equal(201);
      const page = await feed(s.url, '/streams/soft');
      expect(page.body.entries.map((e: any) => e.title)).to.deep.equal(['2@soft']);
    });

    it('hard-deletes with HardDelete: true (410 for reads and writes afterwards)', async () => {
      await appendBatch(s.url, 'hard', batch('A'));
      expect((await call(s.url, '/streams/hard', { method: 'DELETE', headers: { 'Kurrent-HardDelete': 'true' } })).status).to.equal(204);
      expect((await call(s.url, '/streams/hard')).status).to.equal(410);
      expect((await appendBatch(s.url, 'hard', batch('B'))).status).to.equal(410);
      expect((await call(s.url, '/streams/hard', { method: 'DELETE' })).status).to.equal(410);
    });

    it('checks the expected version on delete', async () => {
      await appendBatch(s.url, 'del-ev', batch('A', 'B'));
      const r = await call(s.url, '/streams/del-ev', { method: 'DELETE', headers: { 'ES-ExpectedVersion': '0' } });
      expect(r.status).to.equal(400);
      expect(r.headers.get('es-currentversion')).to.equal('1');
      expect((await call(s.url, '/streams/del-ev', { method: 'DELETE', headers: { 'ES-ExpectedVersion': '1' } })).status).to.equal(204);
    });
  });

  describe('caching', () => {
    before(async () => {
      await appendBatch(s.url, 'cached', batch(...Array.from({ length: 30 }, (_, i) => `E${i}`)));
    });

    it('caches full pages behind the head for a year and the head page not at all', async () => {
      const head = await feed(s.url, '/streams/cached');
      expect(head.headers.get('cache-control')).to.equal('max-age=0, no-cache, must-revalidate');
      expect(head.headers.get('vary')).to.equal('Accept');
      const old = await feed(s.url, '/streams/cached/0/forward/20');
      expect(old.headers.get('cache-control')).to.equal('max-age=31536000, public');
      const partial = await feed(s.url, '/streams/cached/20/forward/20');
      expect(partial.headers.get('cache-control')).to.equal('max-age=0, no-cache, must-revalidate');
      const event = await call(s.url, '/streams/cached/3', { headers: { accept: ATOM } });
      expect(event.headers.get('cache-control')).to.equal('max-age=31536000, public');
    });

    it('answers from a kept page with the same status, headers and body as the render it keeps', async () => {
      await appendBatch(s.url, 'kept-same', batch(...Array.from({ length: 25 }, (_, i) => `E${i}`)));
      const answer = async (path: string) => {
        const r = await call(s.url, path, { headers: { accept: ATOM } });
        const headers = [...r.headers].filter(([name]) => name !== 'date');
        return { status: r.status, headers, body: await r.text() };
      };
      for (const path of ['/streams/kept-same/0/forward/20', '/streams/kept-same']) {
        const rendered = await answer(path);
        const kept = await answer(path);
        expect(kept, path).to.deep.equal(rendered);
        expect(rendered.headers.map(([name]) => name)).to.include.members(['cache-control', 'etag', 'vary', 'content-type', 'content-length']);
      }
    });

    it('marks immutable pages private when the stream is not readable by everyone', async () => {
      await appendBatch(s.url, 'cached-private', batch(...Array.from({ length: 25 }, (_, i) => `E${i}`)));
      await call(s.url, '/streams/cached-private/metadata', { headers: { 'content-type': 'application/json' }, body: { $acl: { $r: '$admins' } } });
      const old = await feed(s.url, '/streams/cached-private/0/forward/20');
      expect(old.headers.get('cache-control')).to.equal('max-age=31536000, private');
    });

    it('does not serve a kept page once $maxCount has truncated its events away', async () => {
      await appendBatch(s.url, 'capped', batch(...Array.from({ length: 30 }, (_, i) => `E${i}`)));
      await call(s.url, '/streams/capped/metadata', { headers: { 'content-type': 'application/json' }, body: { $maxCount: 25 } });
      const titles = async () => ((await feed(s.url, '/streams/capped/0/forward/20')).body as { entries: Array<{ title: string }> }).entries.map((e) => e.title);
      const before = await titles();
      expect([before[0], before.at(-1)]).to.deep.equal(['24@capped', '5@capped']);
      await appendBatch(s.url, 'capped', batch(...Array.from({ length: 10 }, (_, i) => `F${i}`)));
      const after = await titles();
      expect([after[0], after.at(-1)]).to.deep.equal(['34@capped', '15@capped']);
    });

    it('answers a head page read again with the new event once the stream has moved, and after a metadata change', async () => {
      await appendBatch(s.url, 'polled', batch('A', 'B'));
      const titles = async (path: string) => ((await feed(s.url, path)).body as { entries: Array<{ title: string }> }).entries.map((e) => e.title);
      expect(await titles('/streams/polled')).to.deep.equal(['1@polled', '0@polled']);
      expect(await titles('/streams/polled')).to.deep.equal(['1@polled', '0@polled']);
      await appendBatch(s.url, 'polled', batch('C'));
      expect(await titles('/streams/polled')).to.deep.equal(['2@polled', '1@polled', '0@polled']);
      await call(s.url, '/streams/polled/metadata', { headers: { 'content-type': 'application/json' }, body: { $tb: 2 } });
      expect(await titles('/streams/polled')).to.deep.equal(['2@polled']);
    });

    it('caches the head page for $cacheControl seconds when the metadata says so', async () => {
      await appendBatch(s.url, 'cache-control', batch('A'));
      await call(s.url, '/streams/cache-control/metadata', { headers: { 'content-type': 'application/json' }, body: { $cacheControl: 15 } });
      expect((await feed(s.url, '/streams/cache-control')).headers.get('cache-control')).to.equal('max-age=15');
    });

    it('answers 304 to If-None-Match with the current ETag, and 200 once the stream moved', async () => {
      const first = await feed(s.url, '/streams/cached');
      const etag = first.headers.get('etag')!;
      expect(etag).to.match(/^"29;-?\d+"$/);
      const again = await call(s.url, '/streams/cached', { headers: { accept: ATOM, 'if-none-match': etag } });
      expect(again.status).to.equal(304);
      const json = await call(s.url, '/streams/cached', { headers: { accept: 'application/json', 'if-none-match': etag } });
      expect(json.status, 'an ETag is valid for one media type').to.equal(200);
      await appendBatch(s.url, 'cached', batch('E30'));
      expect((await call(s.url, '/streams/cached', { headers: { accept: ATOM, 'if-none-match': etag } })).status).to.equal(200);
    });
    it('answers If-None-Match on a kept page with the same 304 as on a page not kept yet', async () => {
      // Two streams of the same shape have the same page ETags: one page is kept, the other not yet.
      for (const stream of ['etag-kept', 'etag-fresh']) await appendBatch(s.url, stream, batch(...Array.from({ length: 25 }, (_, i) => `E${i}`)));
      const etag = (await feed(s.url, '/streams/etag-kept/0/forward/20')).headers.get('etag')!;
      const answer = async (path: string) => {
        const r = await call(s.url, path, { headers: { accept: ATOM, 'if-none-match': etag } });
        return { status: r.status, headers: [...r.headers].filter(([name]) => name !== 'date'), body: await r.text() };
      };
      const fresh = await answer('/streams/etag-fresh/0/forward/20');
      const kept = await answer('/streams/etag-kept/0/forward/20');
      expect(fresh.status).to.equal(304);
      expect(kept).to.deep.equal(fresh);
    });

    it('keeps a page per representation: embed level, media type and Host each get their own', async () => {
      await appendBatch(s.url, 'kept-shapes', batch(...Array.from({ length: 25 }, (_, i) => `E${i}`)));
      const body = async (path: string, headers: Record<string, string> = {}) => (await call(s.url, path, { headers: { accept: ATOM, ...headers } })).text();
      const page = '/streams/kept-shapes/0/forward/20';
      const plain = await body(page);
      const withBodies = await body(`${page}?embed=body`);
      expect(JSON.parse(withBodies).entries[0].data).to.equal(JSON.stringify({ i: 19 }));
      expect(JSON.parse(plain).entries[0].data).to.equal(undefined);
      // fetch sends the URL's own Host whatever it is given: node:http sends the one asked for.
      const viaHost = (path: string) =>
        new Promise<string>((resolve, reject) => {
          const req = request(`${s.url}${path}`, { headers: { authorization: ADMIN, accept: ATOM, host: 'example.test:2113' } }, (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (c: string) => (text += c));
            res.on('end', () => resolve(text));
          });
          req.on('error', reject).end();
        });
      const otherHost = await viaHost(page);
      expect(JSON.parse(otherHost).id).to.equal('http://example.test:2113/streams/kept-shapes');
      // Read again, each answered from its own kept render.
      expect(await body(page)).to.equal(plain);
      expect(await body(`${page}?embed=body`)).to.equal(withBodies);
      expect(await viaHost(page)).to.equal(otherHost);
      const json = await call(s.url, page, { headers: { accept: 'application/json' } });
      expect(json.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect((await call(s.url, `${page}?format=json`, { headers: { accept: 'text/xml' } })).status).to.equal(200);
      expect((await call(s.url, page, { headers: { accept: 'text/xml' } })).status).to.equal(406);
    });

    it('answers 404 and 410 for kept pages of streams deleted since, and refuses bad headers on them', async () => {
      for (const stream of ['kept-deleted', 'kept-tombstoned']) {
        await appendBatch(s.url, stream, batch(...Array.from({ length: 25 }, (_, i) => `E${i}`)));
        for (const path of [`/streams/${stream}/0/forward/20`, `/streams/${stream}`]) expect((await feed(s.url, path)).status).to.equal(200);
      }
      expect((await call(s.url, '/streams/kept-deleted/0/forward/20', { headers: { accept: ATOM, 'ES-ResolveLinkTos': 'maybe' } })).status).to.equal(400);
      expect((await call(s.url, '/streams/kept-deleted', { method: 'DELETE' })).status).to.equal(204);
      expect((await call(s.url, '/streams/kept-tombstoned', { method: 'DELETE', headers: { 'ES-HardDelete': 'true' } })).status).to.equal(204);
      for (const path of ['/streams/kept-deleted/0/forward/20', '/streams/kept-deleted']) expect((await feed(s.url, path)).status, path).to.equal(404);
      for (const path of ['/streams/kept-tombstoned/0/forward/20', '/streams/kept-tombstoned']) expect((await feed(s.url, path)).status, path).to.equal(410);
    });

    it('counts answers from kept pages in the response and read metrics', async () => {
      await appendBatch(s.url, 'kept-counted', batch(...Array.from({ length: 25 }, (_, i) => `E${i}`)));
      const page = '/streams/kept-counted/0/forward/20';
      const etag = (await feed(s.url, page)).headers.get('etag')!;
      const metrics = async () => {
        const text = await (await call(s.url, '/metrics')).text();
        const value = (name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
        return { ok: value('telltale_http_responses_total{code="200"}'), notModified: value('telltale_http_responses_total{code="304"}'), reads: value('telltale_http_read_requests_total'), events: value('telltale_http_read_events_total') };
      };
      const before = await metrics();
      expect((await feed(s.url, page)).status).to.equal(200);
      expect((await call(s.url, page, { headers: { accept: ATOM, 'if-none-match': etag } })).status).to.equal(304);
      // The first /metrics answer was counted once sent: one 200 more than the page's.
      expect(await metrics()).to.deep.equal({ ok: before.ok + 2, notModified: before.notModified + 1, reads: before.reads + 1, events: before.events + 20 });
    });
  });

  describe('long polling', () => {
    it('holds an empty forward read until an event arrives', async () => {
      await appendBatch(s.url, 'poll', batch('A'));
      const started = Date.now();
      const pending = feed(s.url, '/streams/poll/1/forward/20', { 'ES-LongPoll': '10' });
      await new Promise((r) => setTimeout(r, 200));
      await appendBatch(s.url, 'poll', batch('B'));
      const page = await pending;
      expect(page.body.entries.map((e: any) => e.summary)).to.deep.equal(['B']);
      expect(Date.now() - started).to.be.below(5000);
    });

    it('answers an empty page when nothing arrives within LongPoll seconds', async () => {
      await appendBatch(s.url, 'poll-idle', batch('A'));
      const started = Date.now();
      const page = await feed(s.url, '/streams/poll-idle/1/forward/20', { 'Kurrent-LongPoll': '1' });
      expect(page.body.entries).to.deep.equal([]);
      expect(page.body.headOfStream).to.equal(true);
      expect(Date.now() - started).to.be.within(900, 4000);
    });

    it('long-polls $all on the file store, whose positions are byte offsets', async () => {
      const { mkdtemp, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { openStore } = await import('../../store/index.js');
      const dir = await mkdtemp(join(tmpdir(), 'telltale-http-'));
      const store = await openStore(`file:${dir}`);
      const f = await startServer({ store });
      try {
        await appendBatch(f.url, 'file-a', batch('A', 'B'));
        const head = await feed(f.url, '/streams/%24all');
        const previous = link(head.body, 'previous')!.replace(f.url, '');
        const pending = feed(f.url, previous, { 'ES-LongPoll': '10' });
        await new Promise((r) => setTimeout(r, 200));
        await appendBatch(f.url, 'file-b', batch('X'));
        expect((await pending).body.entries.map((e: any) => e.summary)).to.deep.equal(['X']);
      } finally {
        await f.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('long-polls $all', async () => {
      const head = await feed(s.url, '/streams/%24all');
      const previous = link(head.body, 'previous')!.replace(s.url, '');
      const pending = feed(s.url, previous, { 'ES-LongPoll': '10' });
      await new Promise((r) => setTimeout(r, 200));
      await appendBatch(s.url, 'poll-all', batch('X'));
      const page = await pending;
      expect(page.body.entries.map((e: any) => e.summary)).to.include('X');
    });
  });
});
