// `telltale test` shows every partition's state, also when one checkpoint changed so many
// partitions that the runtime stored their states in pages rather than one stream each.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from '../support/chai.js';
import { telltale, tempDir } from './cli-process.js';

const PER_CARD = `fromAll()
  .partitionBy(function (e) { return e.data.card; })
  .when({
    $init: function () { return { n: 0 }; },
    Charge: function (s) { s.n += 1; return s; }
  });
`;

describe('telltale test with many partitions', () => {
  it('lists the state of each of 40 partitions changed in one checkpoint', async () => {
    const temp = await tempDir();
    const dir = temp.path;
    const given = Array.from({ length: 80 }, (_, i) => JSON.stringify({ streamId: `card-${i % 40}`, type: 'Charge', data: { card: `c${i % 40}` } })).join('\n') + '\n';
    await writeFile(join(dir, 'per-card.js'), PER_CARD);
    await writeFile(join(dir, 'given.jsonl'), given);
    const run = await telltale(['test', join(dir, 'per-card.js'), '--given', join(dir, 'given.jsonl'), '--json']);
    expect(run.code, run.stderr).to.equal(0);
    const { states } = JSON.parse(run.stdout) as { states: { partition: string; state: unknown }[] };
    const partitions = states.filter((s) => s.partition !== '');
    expect(partitions).to.have.length(40);
    for (const s of partitions) expect(s.state).to.deep.equal({ n: 2 });
    await temp.remove();
  });
});
