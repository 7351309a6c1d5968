// The CLI's pure parts: the event line format, expectations and their diff, `$all` position tokens.
import { expect } from '../support/chai.js';
import { BadLineError, parseEventLine } from '../../cli/event-lines.js';
import { allPositionToken } from '../../cli/http-client.js';
import { eventLine, toJson } from '../../cli/output.js';
import { compareRun, parseExpectation } from '../../cli/rule-test.js';

describe('event lines', () => {
  it('parses a line with every field, keeping the id and reading revision and position', () => {
    const line = parseEventLine(
      '{"streamId":"orders-1","id":"3F0C2B1E-8D4A-4C1B-9A57-2F1D7E6B9C10","type":"OrderPlaced","data":{"total":5},"metadata":{"$correlationId":"c"},"revision":3,"position":"99","created":"2026-01-01T00:00:00Z"}',
      7,
      'f.jsonl',
    );
    expect(line).to.deep.include({ line: 7, streamId: 'orders-1', revision: 3n, position: 99n, created: '2026-01-01T00:00:00Z' });
    expect(line.event).to.deep.equal({ id: '3f0c2b1e-8d4a-4c1b-9a57-2f1d7e6b9c10', type: 'OrderPlaced', data: { total: 5 }, metadata: { $correlationId: 'c' } });
  });

  it('gives a line without an id the same derived UUID every time, and different lines different ones', () => {
    const a = parseEventLine('{"streamId":"s","type":"T"}', 1, 'f');
    const b = parseEventLine('{"streamId":"s","type":"T"}', 1, 'f');
    const c = parseEventLine('{"streamId":"s","type":"T"}', 2, 'f');
    expect(a.event.id).to.equal(b.event.id).and.to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(c.event.id).to.not.equal(a.event.id);
    expect(a.event.data).to.deep.equal({});
  });

  it('reads binary data from dataBase64', () => {
    const line = parseEventLine('{"streamId":"s","type":"T","dataBase64":"AAEC"}', 1, 'f');
    expect(line.event.data).to.deep.equal(new Uint8Array([0, 1, 2]));
  });

  it('names the file and line of every kind of bad line', () => {
    const bad = (text: string) => () => parseEventLine(text, 4, 'in.jsonl');
    expect(bad('{')).to.throw(BadLineError, /^in\.jsonl:4: not valid JSON/);
    expect(bad('[]')).to.throw(BadLineError, /expected a JSON object/);
    expect(bad('{"type":"T"}')).to.throw(BadLineError, /"streamId" is missing/);
    expect(bad('{"streamId":"$all","type":"T"}')).to.throw(BadLineError, /\$all/);
    expect(bad('{"streamId":"s"}')).to.throw(BadLineError, /"type" is missing/);
    expect(bad('{"streamId":"s","type":"T","id":"x"}')).to.throw(BadLineError, /"id" must be a UUID/);
    expect(bad('{"streamId":"s","type":"T","metadata":[1]}')).to.throw(BadLineError, /"metadata" must be a JSON object/);
    expect(bad('{"streamId":"s","type":"T","data":{},"dataBase64":"AA=="}')).to.throw(BadLineError, /not both/);
    expect(bad('{"streamId":"s","type":"T","revision":-1}')).to.throw(BadLineError, /"revision" must be a non-negative integer/);
    expect(bad('{"streamId":"s","type":"T","created":"yesterday"}')).to.throw(BadLineError, /"created" must be an ISO 8601 date/);
  });

  it('round-trips through the export shape, with bigints beyond 2^53 as strings', () => {
    const exported = eventLine({ streamId: 's', id: '3f0c2b1e-8d4a-4c1b-9a57-2f1d7e6b9c10', type: 'T', revision: 2n ** 60n, position: 5n, isJson: true, data: { a: 1 }, metadata: {} });
    const text = toJson(exported);
    expect(text).to.include('"revision":"1152921504606846976"');
    const back = parseEventLine(text, 1, 'f');
    expect(back.revision).to.equal(2n ** 60n);
    expect(back.event.data).to.deep.equal({ a: 1 });
  });
});

describe('expectations of telltale test', () => {
  const run = {
    emitted: [{ streamId: 'alerts', type: 'Alert', data: { card: '7', n: 1 }, metadata: { $causationId: 'x', $correlationId: 'c' } }],
    states: [
      { partition: '', state: { total: 1 } },
      { partition: 'card-7', state: { b: 2, a: 1 } },
    ],
  };

  it('matches on the fields an expectation gives, in any key order', () => {
    const expectations = [
      parseExpectation('{"streamId":"alerts","type":"Alert","data":{"n":1,"card":"7"},"metadata":{"$correlationId":"c"}}', 1, 'e'),
      parseExpectation('{"partition":"card-7","state":{"a":1,"b":2}}', 2, 'e'),
    ];
    expect(compareRun(run, expectations)).to.deep.equal({ ok: true, diff: '' });
  });

  it('shows a difference as - expected / + actual lines', () => {
    const result = compareRun(run, [parseExpectation('{"streamId":"alerts","type":"Alert","data":{"card":"8","n":1}}', 1, 'e'), parseExpectation('{"state":{"total":1}}', 2, 'e')]);
    expect(result.ok).to.equal(false);
    expect(result.diff).to.equal('- emit {"data":{"card":"8","n":1},"streamId":"alerts","type":"Alert"}\n+ emit {"data":{"card":"7","n":1},"streamId":"alerts","type":"Alert"}\n  state {"total":1}\n');
  });

  it('reports an emitted event nobody expected, and a partition that does not exist', () => {
    const result = compareRun(run, [parseExpectation('{"partition":"card-9","state":{}}', 1, 'e')]);
    expect(result.diff).to.include('+ emit {"data":{"card":"7","n":1},"streamId":"alerts","type":"Alert"}');
    expect(result.diff).to.include('+ state[card-9] <no such partition>');
  });

  it('refuses an expectation line that is neither an event nor a state', () => {
    expect(() => parseExpectation('{"type":"Alert"}', 3, 'x.jsonl')).to.throw(BadLineError, /^x\.jsonl:3: an emitted event needs/);
  });
});

describe('$all positions in URLs', () => {
  it('are 16 hex digits of commit position then 16 of prepare position', () => {
    expect(allPositionToken(0n)).to.equal('0'.repeat(32));
    expect(allPositionToken(0x1234n)).to.equal('0000000000001234'.repeat(2));
  });
});
