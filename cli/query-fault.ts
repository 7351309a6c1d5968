// A query (a one-time projection run by the CLI) that threw: where in its file, and at which event.
import { TelltaleError } from '../store/errors.js';

export class QueryFaultError extends TelltaleError {
  constructor(
    readonly detail: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly position: string | undefined,
  ) {
    super('projection-faulted', `The query faulted: ${detail}`);
  }

  /** `file:line:column: message (while handling the event at position P)` */
  located(file: string): TelltaleError {
    const where = this.line !== undefined ? `${file}:${this.line}${this.column !== undefined ? `:${this.column}` : ''}` : file;
    return new TelltaleError('projection-faulted', `${where}: ${this.detail}${this.position !== undefined ? ` (while handling the event at position ${this.position})` : ''}`, { cause: this });
  }
}

