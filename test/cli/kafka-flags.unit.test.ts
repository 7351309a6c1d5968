// The Kafka commands (ingest kafka, sink kafka, worker) share their flags from one definition:
// the same names, the same parsing, the same usage errors before anything connects.
import type { Command } from 'commander';
import { expect } from '../support/chai.js';
import { consumerSettings, kafkaTarget, recordMapping } from '../../cli/kafka-flags.js';
import { createProgram, main } from '../../cli/main.js';
import { UsageError } from '../../cli/usage-error.js';

const silent = { out: () => undefined, err: () => undefined };

function optionsOf(path: string[]): string[] {
  let command: Command = createProgram({ output: silent, argv: [], exitCode: 0 });
  for (const name of path) command = command.commands.find((c) => c.name() === name)!;
  return command.options.map((o) => o.long ?? '');
}

describe('Kafka command flags', () => {
  it('gives all three commands the broker, topic and store flags', () => {
    for (const path of [['ingest', 'kafka'], ['sink', 'kafka'], ['worker']]) {
      expect(optionsOf(path), path.join(' ')).to.include.members(['--brokers', '--topic', '--db', '--store', '--json']);
    }
  });

  it('gives ingest and worker the same record mapping and consumer group flags', () => {
    const shared = ['--stream', '--type', '--data', '--group', '--from-latest', '--max-records'];
    expect(optionsOf(['ingest', 'kafka'])).to.include.members(shared);
    expect(optionsOf(['worker'])).to.include.members(shared);
  });

  it('maps the flags to the connectors\' options', () => {
    expect(recordMapping({ stream: 'card-{key}', type: '{headers.type}' })).to.deep.equal({ stream: 'card-{key}', type: '{headers.type}' });
    expect(recordMapping({ stream: 's', type: 'T', data: 'data.payload' })).to.deep.equal({ stream: 's', type: 'T', data: 'data.payload' });
    expect(consumerSettings({})).to.deep.equal({ fromBeginning: true });
    expect(consumerSettings({ group: 'g', fromLatest: true, maxRecords: 10 })).to.deep.equal({ groupId: 'g', fromBeginning: false, maxRecordsPerCommit: 10 });
  });

  it('needs a store in this process and at least one broker: usage errors', () => {
    expect(() => kafkaTarget({ brokers: 'k:9092', topic: 't' }, 'give --db DIR or --store URL')).to.throw(UsageError, 'give --db DIR or --store URL');
    expect(() => kafkaTarget({ brokers: ' , ', topic: 't', store: 'memory:' }, 'x')).to.throw(UsageError, '--brokers needs at least one host:port');
    const target = kafkaTarget({ brokers: 'k1:9092, k2:9092', topic: 't', db: './data' }, 'x');
    expect(target).to.include({ storeUrl: 'file:./data' });
    expect(target.brokers).to.deep.equal(['k1:9092', 'k2:9092']);
  });

  it('exits 2 from each command without a store, before connecting to anything', async () => {
    const cases = [
      ['ingest', 'kafka', '--brokers', '127.0.0.1:1', '--topic', 't', '--stream', 's', '--type', 'T'],
      ['sink', 'kafka', '--brokers', '127.0.0.1:1', '--topic', 't', '--streams', 'alerts-'],
      ['worker', '--brokers', '127.0.0.1:1', '--topic', 't', '--name', 'n', '--rule', 'r.js', '--stream', 's', '--type', 'T'],
    ];
    for (const argv of cases) {
      let err = '';
      const code = await main([...argv, '--json'], { out: () => undefined, err: (t) => (err += t) });
      expect(code, argv.join(' ')).to.equal(2);
      expect(JSON.parse(err)).to.nested.include({ 'error.code': 'usage' });
      expect(err).to.match(/--db DIR|--store/);
    }
  });
});
