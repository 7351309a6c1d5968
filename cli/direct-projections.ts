// Projection management on a store opened by the CLI itself (`--db`, `--store`), through the
// projection runtime (engine/'s ProjectionManager). Definitions persist in the store, so what is
// deployed here runs when `telltale serve` opens the same directory. While a command runs, the
// enabled projections run in this process too; closing the connection checkpoints them.
import { randomUUID } from 'node:crypto';
import { ProjectionManager, type ProjectionStatus } from '../engine/index.js';
import { QueryFaultError } from './query-fault.js';
import type { Store } from '../store/types.js';
import type { DeployOptions, ProjectionAdmin } from './connection.js';

export interface DirectProjections extends ProjectionAdmin {
  close(): Promise<void>;
}

/** How long a --db state/status/result waits for a running projection to catch up. */
const CATCH_UP_MS = 30_000;
const POLL_MS = 100;
const QUIET_POLLS = 3;

function plain(status: ProjectionStatus): Record<string, unknown> {
  return {
    ...status,
    stateReason: status.lastError?.message ?? '',
  };
}

export function directProjections(store: Store): DirectProjections {
  let manager: ProjectionManager | undefined;
  const started = async (): Promise<ProjectionManager> => {
    if (manager === undefined) {
      manager = new ProjectionManager(store);
      await manager.start();
    }
    return manager;
  };
  /**
   * On a data directory, projections run only while a command does: before answering with a
   * state, let an enabled projection process what the log holds (up to a bound), so the answer is
   * as of now rather than as of the last time a server ran.
   */
  const caughtUp = async (name: string): Promise<ProjectionManager> => {
    const m = await started();
    // Quiet means caught up: the runtime's read point does not move over events its filter skips
    // (e.g. the system projections' links), so "read past the head" may never come for a
    // type-filtered projection; a count and position that stop changing do.
    const deadline = Date.now() + CATCH_UP_MS;
    let last = '';
    let quiet = 0;
    while (m.status(name).status === 'Running' && quiet < QUIET_POLLS && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const s = m.status(name);
      const now = `${s.eventsProcessed}|${s.position ?? ''}`;
      quiet = now === last ? quiet + 1 : 0;
      last = now;
    }
    return m;
  };
  return {
    async deploy(options: DeployOptions) {
      const m = await started();
      const exists = m.list().some((p) => p.name === options.name);
      if (!exists) await m.create(options.name, options.query, { mode: options.mode, emit: options.emit, enabled: options.enable, checkpoints: options.mode !== 'transient' });
      else {
        await m.update(options.name, options.query, { emit: options.emit });
        if (options.enable) await m.enable(options.name);
      }
      // Run it over what the log holds before this process lets go of the directory.
      if (options.enable) await caughtUp(options.name);
      return { name: options.name, created: !exists };
    },
    async list() {
      return (await started()).list().map(plain);
    },
    async status(name) {
      const m = await caughtUp(name);
      return plain(await m.statistics(name));
    },
    async state(name, partition) {
      return (await caughtUp(name)).state(name, partition);
    },
    async result(name, partition) {
      return (await caughtUp(name)).result(name, partition);
    },
    async command(name, command) {
      const m = await started();
      if (command === 'enable') await m.enable(name);
      else if (command === 'disable') await m.disable(name);
      else await m.reset(name);
    },
    async delete(name) {
      await (await started()).delete(name, { deleteCheckpointStream: true, deleteStateStream: true });
    },
    async logs(name, options = {}) {
      // Logs live in the memory of the process running the projection: here, this command. The
      // first read lets it run over what the log holds, so its log() lines and faults are there.
      const after = options.after ?? 0;
      const m = after === 0 ? await caughtUp(name) : await started();
      if (options.waitSeconds !== undefined && m.logs(name, after).length === 0) {
        const timeout = AbortSignal.timeout(options.waitSeconds * 1000);
        await m.whenLogged(name, after, options.signal !== undefined ? AbortSignal.any([timeout, options.signal]) : timeout);
      }
      return m.logs(name, after);
    },
    async query(query, options) {
      const m = await started();
      const name = `query-${randomUUID()}`;
      await m.create(name, query, { mode: 'transient', emit: false, enabled: true, ...(options.from !== undefined ? { from: options.from } : {}) });
      try {
        const status = await m.when(name, (s) => s.status === 'Completed' || s.status === 'Faulted' || s.status === 'Stopped');
        if (status.status === 'Faulted') {
          const f = status.lastError;
          throw new QueryFaultError(f?.message ?? 'unknown error', f?.line, f?.column, f?.position);
        }
        return { result: await m.result(name), status: plain(status) };
      } finally {
        await m.delete(name).catch(() => undefined);
      }
    },
    async close() {
      await manager?.close();
    },
  };
}
