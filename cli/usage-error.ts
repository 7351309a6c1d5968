// A mistake in how the command was called (a bad flag value, a missing argument): exit code 2,
// like commander's own usage errors. Everything else a command reports is a `TelltaleError`
// (exit code from `errorStatus`) or an unexpected failure (exit code 1).
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An optional part (the server, the log engine, the projection runtime) is missing from this build. */
export class NotAvailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotAvailableError';
  }
}
