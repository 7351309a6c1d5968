// isJsonText decides which record values are stored as the bytes they came as, so it must accept
// exactly what JSON.parse accepts (readers splice stored JSON bodies together and parse them).
import { isJsonText } from '../../engine/connectors/json-text.js';
import { expect } from '../support/chai.js';

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A small deterministic generator, so a failure can be reproduced. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('isJsonText', () => {
  it('accepts what JSON.parse accepts and rejects the rest, on edge cases', () => {
    const cases = [
      '{}', '[]', ' {"a":1} ', '\n\r\t[\n]\n', '{"a":[1,2,{"b":null}],"c":"x\\u00e9\\n\\/"}', '{"":""}', '"é"', '0', '-0', '0.0e0', '-1.5E-10', '1e+5',
      '123456789012345678901234567890', 'true', 'false', 'null ', '[[[[]]]]', '"\\ud800"',
      '', ' ', '01', '-', '1.', '1e', '.5', '+1', '[-]', '"\\x"', '"a\tb"', '"\u0001"', '[1,]', '{"a":1,}', '{,}', '[,1]', 'tru', 'nul', '{"a" 1}', '{"a":}',
      '{1:2}', "{'a':1}", '[[[]]', '1 2', '\ufeff{}', '{"a":1}x', '[1 2]', '{"a":1 "b":2}', '"unterminated', '"\\u12"', '"\\u12g4"', 'NaN', 'Infinity', '[1]]', '{}}',
    ];
    for (const text of cases) expect(isJsonText(Buffer.from(text)), JSON.stringify(text)).to.equal(parses(text));
  });

  it('agrees with JSON.parse on many mutations of JSON texts', () => {
    const seeds = ['{"cardId":"card-1","amount":123,"x":[true,false,null,1.5e3,-0.2],"s":"a\\"b\\\\c\\u0041"}', '[{"a":{}},[],"",0,-12.5e-3]'];
    const alphabet = '{}[]",:\\ 0123456789-+.eEtrufalsn\tx\u0001';
    const next = random(8);
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      let text = seeds[i % seeds.length]!;
      for (let k = 0; k <= i % 3; k++) {
        const at = Math.floor(next() * (text.length + 1));
        const c = alphabet[Math.floor(next() * alphabet.length)]!;
        const op = next();
        text = op < 1 / 3 ? text.slice(0, at) + c + text.slice(at) : op < 2 / 3 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + c + text.slice(at + 1);
      }
      const verdict = isJsonText(Buffer.from(text));
      if (verdict) accepted++;
      expect(verdict, JSON.stringify(text)).to.equal(parses(text));
    }
    expect(accepted).to.be.greaterThan(100);
  });

  it('accepts UTF-8 in strings and rejects bytes that are not UTF-8', () => {
    expect(isJsonText(Buffer.from('{"name":"Zoë 🙂"}'))).to.equal(true);
    expect(isJsonText(Buffer.from([0x22, 0xff, 0x22]))).to.equal(false);
    expect(isJsonText(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).to.equal(false);
  });

  it('handles nesting deeper than its initial stack', () => {
    const deep = `${'['.repeat(1000)}1${']'.repeat(1000)}`;
    expect(isJsonText(Buffer.from(deep))).to.equal(true);
    expect(isJsonText(Buffer.from(deep.slice(0, -1)))).to.equal(false);
  });
});
