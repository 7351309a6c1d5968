// Projection errors, with the facts the status page and the CLI show: the projection, the user's
// line number and the position of the event being handled.
import { TelltaleError } from '../../store/errors.js';

export interface ProjectionErrorFacts {
  readonly cause?: unknown;
  readonly line?: number;
  readonly column?: number;
  /** Index of the event in the batch being handled (the runner turns it into a position). */
  readonly eventIndex?: number;
  readonly position?: bigint;
}

/** A projection stopped: a throw in a handler, a timeout, out of memory, a bad output. */
export class ProjectionFaultedError extends TelltaleError {
  readonly projection: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly eventIndex: number | undefined;
  position: bigint | undefined;
  constructor(projection: string, message: string, facts: ProjectionErrorFacts = {}) {
    super('projection-faulted', message, { cause: facts.cause });
    this.projection = projection;
    this.line = facts.line;
    this.column = facts.column;
    this.eventIndex = facts.eventIndex;
    this.position = facts.position;
  }
}

/** The definition cannot run: a syntax error, a wrong chain, a rejected source or option. */
export class ProjectionInvalidError extends TelltaleError {
  readonly projection: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(projection: string, message: string, facts: ProjectionErrorFacts = {}) {
    super('projection-invalid', message, { cause: facts.cause });
    this.projection = projection;
    this.line = facts.line;
    this.column = facts.column;
  }
}

export class ProjectionNotFoundError extends TelltaleError {
  constructor(readonly projection: string) {
    super('not-found', `Projection '${projection}' not found`);
  }
}

export class ProjectionExistsError extends TelltaleError {
  constructor(readonly projection: string) {
    super('conflict', `Projection '${projection}' already exists`);
  }
}

/** A change Event Store allows only while a projection is stopped or faulted, such as its config. */
export class ProjectionNotStoppedError extends TelltaleError {
  constructor(
    readonly projection: string,
    readonly status: string,
    what: string,
  ) {
    super('conflict', `Cannot ${what} of projection '${projection}' while it is ${status}: disable it first`);
  }
}
