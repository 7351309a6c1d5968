// A call's failure as the client gets it: a status code, a message, and the trailers (Event
// Store's `exception` and its detail keys) that the official clients turn into typed errors.
import type { Status } from './status.js';

export class GrpcFailure extends Error {
  constructor(
    readonly code: Status,
    message: string,
    readonly trailers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}
