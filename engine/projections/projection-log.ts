// What each projection said and what stopped it: the lines its handlers wrote with `log()` and its
// faults, with the time on the manager's clock. Event Store writes `log()` to the server log at
// Debug level, where users "see nothing" (shared/reference/eventstore-semantics.md §1.7, §6); here
// each projection keeps its own recent lines, served at `GET /projection/{name}/logs`. They are
// kept in memory by the process that runs the projection, like any server log: not persisted.
import type { Clock } from './clock.js';
import type { RunnerLogger } from './projection-runner.js';

export interface ProjectionLogEntry {
  /** Increases by one per entry of this projection: `logs(name, after)` answers those after it. */
  readonly seq: number;
  /** ISO 8601, on the manager's clock. */
  readonly time: string;
  /** `log` for a `log()` call, `fault` for what stopped the projection. */
  readonly kind: 'log' | 'fault';
  readonly message: string;
  /** Faults: the user's line and column, and the `$all` position (or revision) of the event being handled. */
  readonly line?: number;
  readonly column?: number;
  readonly position?: string;
}

/** Entries kept per projection; older ones are dropped first. */
export const PROJECTION_LOG_LIMIT = 1000;

interface Book {
  readonly entries: ProjectionLogEntry[];
  next: number;
  readonly waiters: Set<() => void>;
}

export class ProjectionLog {
  readonly #clock: Clock;
  readonly #books = new Map<string, Book>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * The logger to hand a projection's runner: it records that projection's `log()` lines
   * (`debug`) and faults (`warn` with the fault's facts) and passes everything on to `forward`.
   */
  loggerFor(name: string, forward: RunnerLogger): RunnerLogger {
    return {
      debug: (message, fields) => {
        this.#add(name, { kind: 'log', message });
        forward.debug(message, fields);
      },
      warn: (message, fields) => {
        // The runner reports a fault as a warning whose fields are the fault (message, line, …).
        const fault = typeof fields?.message === 'string' ? fields : undefined;
        this.#add(name, {
          kind: 'fault',
          message: fault === undefined ? message : (fault.message as string),
          ...(typeof fault?.line === 'number' ? { line: fault.line } : {}),
          ...(typeof fault?.column === 'number' ? { column: fault.column } : {}),
          ...(typeof fault?.position === 'string' ? { position: fault.position } : {}),
        });
        forward.warn(message, fields);
      },
    };
  }

  /** The kept entries of a projection with `seq` above `after`, oldest first. */
  entries(name: string, after = 0): ProjectionLogEntry[] {
    const entries = this.#books.get(name)?.entries ?? [];
    // Entries are in seq order: skip to the first one after `after`.
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return entries.slice(lo);
  }

  /** Resolves once the projection has an entry after `after`, or the signal aborts. */
  whenAfter(name: string, after: number, signal?: AbortSignal): Promise<void> {
    const book = this.#book(name);
    if (book.next - 1 > after || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        book.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      book.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** A deleted projection's lines go with it (a new one of that name starts a new log). */
  forget(name: string): void {
    const book = this.#books.get(name);
    this.#books.delete(name);
    if (book !== undefined) for (const wake of [...book.waiters]) wake();
  }

  #book(name: string): Book {
    let book = this.#books.get(name);
    if (book === undefined) this.#books.set(name, (book = { entries: [], next: 1, waiters: new Set() }));
    return book;
  }

  #add(name: string, entry: Omit<ProjectionLogEntry, 'seq' | 'time'>): void {
    const book = this.#book(name);
    book.entries.push({ seq: book.next++, time: new Date(this.#clock()).toISOString(), ...entry });
    if (book.entries.length > PROJECTION_LOG_LIMIT) book.entries.splice(0, book.entries.length - PROJECTION_LOG_LIMIT);
    for (const wake of [...book.waiters]) wake();
  }
}
