// Projection management on a store opened by the CLI itself (`--db`, `--store`), through the
// projection runtime in engine/.
import type { Store } from '../store/types.js';
import type { ProjectionAdmin } from './connection.js';
import { NotAvailableError } from './usage-error.js';

const missing = () =>
  new NotAvailableError(
    'The projection runtime (engine/) is not part of this build yet, so projections cannot run on --db/--store. ' +
      'Use --server URL to manage them on a running server.',
  );

export function directProjections(_store: Store): ProjectionAdmin {
  const fail = async (): Promise<never> => {
    throw missing();
  };
  return { deploy: fail, list: fail, status: fail, state: fail, result: fail, command: fail, delete: fail, logs: fail, query: fail };
}
