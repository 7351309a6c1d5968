// `telltale test FILE --given EVENTS.jsonl [--expect EXPECTED.jsonl]`: runs a rule or projection
// over recorded events with a virtual clock and no server, prints what it emitted and its final
// state, and compares them with the expectation: exit 0 when they match, 1 with a diff when not.
import type { Command } from 'commander';
import { readUserFile } from '../arguments.js';
import type { CliContext } from '../context.js';
import { BadLineError, parseEventLine, type EventLine } from '../event-lines.js';
import { toJson } from '../output.js';
import { loadRuleFile } from '../rule-file.js';
import { compareRun, parseExpectation, type Expectation } from '../rule-test.js';
import { InvalidArgumentError } from '../../store/errors.js';

interface TestFlags {
  given: string;
  expect?: string;
  json?: boolean;
}

/** All lines of a fixture, or every bad line at once. */
async function readFixture<T>(path: string, what: string, parse: (text: string, line: number, file: string) => T): Promise<T[]> {
  const text = await readUserFile(path, what);
  const items: T[] = [];
  const bad: string[] = [];
  text.split(/\r?\n/).forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      items.push(parse(l, i + 1, path));
    } catch (e) {
      if (e instanceof BadLineError) bad.push(`  ${e.message}`);
      else throw e;
    }
  });
  if (bad.length > 0) throw new InvalidArgumentError(`${what} has ${bad.length} malformed line${bad.length === 1 ? '' : 's'}:\n${bad.join('\n')}`);
  return items;
}

/** A rule's state (pattern buffers, timers) can be long: a line shows its start; --json shows all. */
const STATE_CHARS = 240;

function shorten(text: string): string {
  return text.length <= STATE_CHARS ? text : `${text.slice(0, STATE_CHARS)}… (${text.length} characters; --json prints all)`;
}

export function registerTest(program: Command, ctx: CliContext): void {
  program
    .command('test')
    .description('run a rule or projection over recorded events (virtual clock, no server) and check what it emits')
    .argument('<file>', 'the rule or projection (.js)')
    .requiredOption('--given <events.jsonl>', 'the input events, one JSON object a line ({"streamId","type","data","metadata","created"})')
    .option('--expect <expected.jsonl>', 'expected emitted events, in order, and {"state": …} lines')
    .option('--json', 'print the run (and the comparison) as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ telltale test samples/fraud/card-testing.js --given fixtures/card-testing.given.jsonl
  $ telltale test samples/fraud/card-testing.js --given given.jsonl --expect expected.jsonl   # exit 1 on a difference

Expectation lines: {"streamId":"alerts","type":"CardTesting","data":{"card":"7"}} for each emitted event,
in order (only the fields you give are compared), and {"partition":"card-7","state":{…}} for final states.`,
    )
    .action(async (file: string, flags: TestFlags) => {
      const rule = await loadRuleFile(file);
      const given = await readFixture<EventLine>(flags.given, 'The --given file', parseEventLine);
      const expectations = flags.expect !== undefined ? await readFixture<Expectation>(flags.expect, 'The --expect file', parseExpectation) : undefined;
      // The projection runtime loads only for this command.
      const { runRuleLocally } = await import('../local-runner.js');
      const run = await runRuleLocally(rule, given, { givenFile: flags.given });
      const comparison = expectations !== undefined ? compareRun(run, expectations) : undefined;
      if (flags.json) {
        ctx.output.out(`${toJson({ file, events: given.length, emitted: run.emitted, states: run.states, ...(comparison ? { pass: comparison.ok, diff: comparison.diff } : {}) })}\n`);
      } else {
        ctx.output.out(`${file}: ${given.length} events in, ${run.emitted.length} emitted\n`);
        for (const e of run.emitted) ctx.output.out(`  emit ${e.streamId} ${e.type} ${toJson(e.data)}\n`);
        for (const s of run.states) ctx.output.out(`  state${s.partition === '' ? '' : `[${s.partition}]`} ${shorten(toJson(s.state))}\n`);
        if (comparison?.ok) ctx.output.out(`PASS: matches ${flags.expect}\n`);
        if (comparison && !comparison.ok) ctx.output.err(`FAIL: differs from ${flags.expect} (- expected, + actual):\n${comparison.diff}`);
      }
      if (comparison && !comparison.ok) ctx.exitCode = 1;
    });
}
