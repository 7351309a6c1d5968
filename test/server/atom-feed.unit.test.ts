// The Atom feed text written by hand must be the very bytes JSON.stringify gives for the feed and
// entry objects: same keys, same order, same omissions, same escaping; kept entry texts are those bytes.
import { expect } from '../support/chai.js';
import { entry, entryJson, feedJson, type Embed, type Feed } from '../../server/atom-feed.js';
import { EntryCache } from '../../server/entry-cache.js';
import { openStore } from '../../store/index.js';
import type { RecordedEvent, Store } from '../../store/types.js';

const EMBEDS: readonly Embed[] = ['none', 'content', 'rich', 'body', 'prettybody', 'tryharder'];
const BASE = 'http://127.0.0.1:2113';

describe('Atom feed text', () => {
  let store: Store;
  let events: RecordedEvent[];
  const odd = 'we"ird \\ stream ✓ \u2028';
  before(async () => {
    store = await openStore('memory:');
    await store.appendToStream(odd, [
      { type: 'Order"Placed', data: { amount: 42.5, note: 'quote " and ✓', nested: [1, { a: null }] }, metadata: { $correlationId: 'c-1', text: 'line\nbreak' } },
      { type: 'Binary', data: new Uint8Array([0, 1, 2, 255]) },
      { type: 'NoBody', data: new Uint8Array(0), isJson: true },
      { type: 'RawMeta', data: { a: 1 }, metadata: new TextEncoder().encode('not json') },
    ]);
    await store.appendToStream('links', [{ type: '$>', data: new TextEncoder().encode(`0@${odd}`), isJson: false, metadata: { $o: 'link meta' } }]);
    events = [];
    for await (const e of store.readStream(odd)) events.push(e);
    for await (const e of store.readStream('links', { resolveLinks: true })) events.push(e);
    for await (const e of store.readStream('links')) events.push(e);
  });
  after(async () => {
    await store.close();
  });

  it('writes each entry exactly as JSON.stringify(entry(…)) at every embed level', () => {
    expect(events.some((e) => e.link !== undefined), 'a resolved link is among the cases').to.equal(true);
    for (const embed of EMBEDS) {
      for (const e of events) expect(entryJson(BASE, e, embed), `${embed} ${e.type}`).to.equal(JSON.stringify(entry(BASE, e, embed)));
    }
  });

  it('writes a feed exactly as JSON.stringify(feed), with and without a streamId', () => {
    const links = [
      { uri: `${BASE}/streams/x`, relation: 'self' },
      { uri: `${BASE}/streams/x/head/backward/20?context=streamid&data=a%22b`, relation: 'first' },
    ];
    for (const streamId of [odd, undefined]) {
      const head = { title: `Event stream '${streamId ?? ''}'`, id: `${BASE}/streams/x`, updated: new Date(0).toISOString(), ...(streamId === undefined ? {} : { streamId }), headOfStream: streamId === undefined, selfUrl: links[0]!.uri, eTag: '"3;-12345"', links };
      const feed: Feed = { title: head.title, id: head.id, updated: head.updated, ...(streamId === undefined ? {} : { streamId }), author: { name: 'EventStore' }, headOfStream: head.headOfStream, selfUrl: head.selfUrl, eTag: head.eTag, links, entries: events.map((e) => entry(BASE, e, 'body')) };
      expect(feedJson(head, events.map((e) => entryJson(BASE, e, 'body')))).to.equal(JSON.stringify(feed));
    }
    expect(feedJson({ title: 'All events', id: BASE, updated: new Date(0).toISOString(), headOfStream: true, selfUrl: BASE, eTag: '"0;1"', links: [] }, [])).to.equal(
      JSON.stringify({ title: 'All events', id: BASE, updated: new Date(0).toISOString(), author: { name: 'EventStore' }, headOfStream: true, selfUrl: BASE, eTag: '"0;1"', links: [], entries: [] }),
    );
  });
});

describe('EntryCache', () => {
  let store: Store;
  before(async () => {
    store = await openStore('memory:');
  });
  after(async () => {
    await store.close();
  });

  async function read(stream: string, resolveLinks = false): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    for await (const e of store.readStream(stream, { resolveLinks })) out.push(e);
    return out;
  }

  it('gives the text entryJson writes, again from a fresh read of the same events, within a small budget', async () => {
    await store.appendToStream('kept', Array.from({ length: 50 }, (_, i) => ({ type: 'T', data: { i } })));
    const cache = new EntryCache(40_000);
    for (let round = 0; round < 2; round++) {
      for (const embed of EMBEDS) for (const e of await read('kept')) expect(cache.text(BASE, e, embed)).to.equal(entryJson(BASE, e, embed));
    }
  });

  it('renders a resolved link afresh, since its target can go away', async () => {
    await store.appendToStream('target', [{ type: 'T', data: { v: 1 } }]);
    await store.appendToStream('linker', [{ type: '$>', data: new TextEncoder().encode('0@target'), isJson: false }]);
    const cache = new EntryCache(1 << 20);
    const [resolved] = await read('linker', true);
    expect(cache.text(BASE, resolved!, 'body')).to.contain('"eventType":"T"');
    await store.deleteStream('target');
    const [dangling] = await read('linker', true);
    const text = cache.text(BASE, dangling!, 'body');
    expect(text).to.equal(entryJson(BASE, dangling!, 'body'));
    expect(text).to.contain('"eventType":"$>"');
  });
});
