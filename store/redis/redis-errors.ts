// The one place ioredis errors become Telltale errors. Anything that says "Redis cannot answer now"
// (connection refused or cut, a timeout, a server loading, failing over or out of memory) becomes
// `BackendUnavailableError` with the driver's error as `cause`; anything else (a script bug, a
// wrong type) is not the user's to handle and is passed on unchanged.
import { BackendUnavailableError } from '../errors.js';

/** Server replies that mean "not now", not "wrong". */
const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|NOREPLICAS|OOM|MISCONF|NOTBUSY|UNBLOCKED)\b/;
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** The command was never sent: it certainly did nothing. */
function neverSent(message: string): boolean {
  return message.includes("Stream isn't writeable") || message.includes('enableOfflineQueue');
}

export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLIES.test(error.message);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    error.name === 'ClusterAllFailedError' ||
    /Connection is closed|Command timed out|Stream isn't writeable|enableOfflineQueue|Failed to refresh slots cache|None of startup nodes is available|connect ETIMEDOUT|Cluster isn't ready/.test(error.message)
  );
}

/**
 * Translates a failed command. `what` names the operation for the message; for a write, `write`
 * says whether the outcome may be unknown (sent, but no reply came back).
 */
export function translateRedisError(error: unknown, what: string, write = false): unknown {
  if (!isUnavailable(error)) return error;
  const message = (error as Error).message;
  let detail = '';
  if (write) {
    detail =
      neverSent(message) || (error as Error).name === 'ReplyError'
        ? ' Nothing was written.'
        : ' The outcome is unknown: the commit was written completely or not at all; retrying it with the same event ids is idempotent.';
  }
  return new BackendUnavailableError(`Redis is unavailable while ${what} (${message}).${detail}`, { cause: error });
}
