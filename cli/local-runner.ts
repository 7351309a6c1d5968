// Runs a rule or projection in this process over given events, with a virtual clock: the clock
// reads the time of the event being processed, so timers and windows fire as they would have
// when the events happened. Uses the projection runtime in engine/.
import type { EventLine } from './event-lines.js';
import type { RuleFile } from './rule-file.js';
import type { RuleRun } from './rule-test.js';
import { NotAvailableError } from './usage-error.js';

export async function runRuleLocally(_rule: RuleFile, _given: readonly EventLine[]): Promise<RuleRun> {
  throw new NotAvailableError(
    'The projection runtime (engine/) is not part of this build yet, so `telltale test` cannot run rules. ' +
      'Its fixtures and expectations were checked; run it again once engine/ is built.',
  );
}
