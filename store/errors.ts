// Errors with stable codes and the facts a caller needs. Guards check `code` (or instanceof),
// never message text. `errorStatus` is the one table mapping a code to an HTTP status and a CLI
// exit code. Programming mistakes (a wrong argument type in TypeScript-land) stay TypeErrors.

export type TelltaleErrorCode =
  | 'wrong-expected-revision'
  | 'stream-not-found'
  | 'stream-deleted'
  | 'invalid-argument'
  | 'invalid-stream-name'
  | 'invalid-event'
  | 'event-too-large'
  | 'invalid-metadata'
  | 'store-closed'
  | 'store-locked'
  | 'corrupt-log'
  | 'unsupported'
  | 'access-denied'
  | 'not-authenticated'
  | 'not-found'
  | 'conflict'
  | 'projection-faulted'
  | 'projection-invalid'
  | 'backend-unavailable'
  | 'timeout';

export class TelltaleError extends Error {
  readonly code: TelltaleErrorCode;
  constructor(code: TelltaleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class WrongExpectedRevisionError extends TelltaleError {
  /** `actual` is -1n when the stream does not exist. */
  constructor(
    readonly streamId: string,
    readonly expected: bigint | 'any' | 'no_stream' | 'stream_exists',
    readonly actual: bigint,
  ) {
    super(
      'wrong-expected-revision',
      `Wrong expected revision for stream '${streamId}': expected ${String(expected)}, actual ${actual < 0n ? 'no stream' : String(actual)}`,
    );
  }
}

export class StreamNotFoundError extends TelltaleError {
  constructor(readonly streamId: string) {
    super('stream-not-found', `Stream '${streamId}' not found`);
  }
}

export class StreamDeletedError extends TelltaleError {
  constructor(readonly streamId: string) {
    super('stream-deleted', `Stream '${streamId}' is deleted (tombstoned) and cannot be written or read`);
  }
}

/** A bad argument from a user: a value that a caller could have typed wrong at a prompt or in JSON. */
export class InvalidArgumentError extends TelltaleError {
  constructor(message: string, code: 'invalid-argument' | 'invalid-stream-name' | 'invalid-event' | 'invalid-metadata' = 'invalid-argument') {
    super(code, message);
  }
}

export class EventTooLargeError extends TelltaleError {
  constructor(readonly size: number, readonly limit: number) {
    super('event-too-large', `Event of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

export class StoreClosedError extends TelltaleError {
  constructor() {
    super('store-closed', 'The store is closed');
  }
}

export class StoreLockedError extends TelltaleError {
  constructor(readonly directory: string, readonly holderPid?: number) {
    super(
      'store-locked',
      `Data directory '${directory}' is in use by another process${holderPid !== undefined ? ` (pid ${holderPid})` : ''}; only one writer may open it`,
    );
  }
}

export class CorruptLogError extends TelltaleError {
  constructor(readonly file: string, readonly offset: number, detail: string) {
    super('corrupt-log', `Corrupt record in ${file} at offset ${offset}: ${detail}`);
  }
}

export class UnsupportedError extends TelltaleError {
  constructor(message: string) {
    super('unsupported', message);
  }
}

export class BackendUnavailableError extends TelltaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('backend-unavailable', message, options);
  }
}

export function isTelltaleError(e: unknown, code?: TelltaleErrorCode): e is TelltaleError {
  return e instanceof TelltaleError && (code === undefined || e.code === code);
}

/** HTTP status and CLI exit code for each error code: the one place this mapping lives. */
export function errorStatus(code: TelltaleErrorCode): { http: number; exit: number } {
  switch (code) {
    case 'wrong-expected-revision':
    case 'invalid-argument':
    case 'invalid-stream-name':
    case 'invalid-event':
    case 'invalid-metadata':
    case 'projection-invalid':
      return { http: 400, exit: 1 };
    case 'not-authenticated':
      return { http: 401, exit: 1 };
    case 'access-denied':
      return { http: 403, exit: 1 };
    case 'stream-not-found':
    case 'not-found':
      return { http: 404, exit: 1 };
    case 'conflict':
      return { http: 409, exit: 1 };
    case 'stream-deleted':
      return { http: 410, exit: 1 };
    case 'event-too-large':
      return { http: 413, exit: 1 };
    case 'unsupported':
      return { http: 501, exit: 1 };
    case 'backend-unavailable':
    case 'store-closed':
    case 'store-locked':
      return { http: 503, exit: 1 };
    case 'timeout':
      return { http: 504, exit: 1 };
    case 'corrupt-log':
    case 'projection-faulted':
      return { http: 500, exit: 1 };
  }
}
