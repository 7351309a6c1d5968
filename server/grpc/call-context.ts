// What every gRPC service gets, and the two things every call does at its edges: who is calling
// (basic credentials in the `authorization` call header, as the official clients send them) and
// how a failure reaches the client (a status code plus the `exception` trailer and its detail
// keys that the clients turn into typed errors; shared/reference/eventstore-semantics.md §3.2).
// Errors are translated here and nowhere else.
import { expectedVersionNumber } from '../../store/expected-revision.js';
import { GrpcFailure } from './grpc-failure.js';
import type { ServerCall } from './server-call.js';
import { status, type Status } from './status.js';

export { GrpcFailure } from './grpc-failure.js';
import type { ProjectionManager } from '../../engine/projections/projection-manager.js';
import { SubscriptionExistsError, SubscriptionNotFoundError, TooManySubscribersError, type PersistentSubscriptions } from '../../engine/subscriptions/index.js';
import { ANONYMOUS, AccessDeniedError, NotAuthenticatedError, SYSTEM, isAdmin, isOps, type Principal, type StreamAccess, type StreamAction } from '../../store/acl.js';
import { isTelltaleError, WrongExpectedRevisionError, EventTooLargeError, type TelltaleError } from '../../store/errors.js';
import type { ExpectedRevision, Store } from '../../store/types.js';
import { UserExistsError, UserNotFoundError, type Users } from '../users.js';

/** What every call has: its headers. */
export interface ServerSurfaceCall {
  header(name: string): string | undefined;
}

export interface GrpcContext {
  readonly store: Store;
  readonly access: StreamAccess;
  readonly users: Users;
  readonly subscriptions: PersistentSubscriptions;
  readonly projections: ProjectionManager | undefined;
  /** No authentication: every caller is an administrator. */
  readonly insecure: boolean;
  /** Aborted when the server starts closing: subscriptions end so that shutdown is not held up. */
  readonly closing: AbortSignal;
  readonly log: (line: string) => void;
  /** The address clients reach this node at, for gossip. */
  address(): { host: string; port: number };
}

/** The caller, from the `authorization` header; anonymous without one. */
export async function principalOf(ctx: GrpcContext, call: ServerSurfaceCall): Promise<Principal> {
  if (ctx.insecure) return SYSTEM;
  const header = call.header('authorization');
  if (header === undefined) return ANONYMOUS;
  return ctx.users.authenticate(header);
}

export async function authorize(ctx: GrpcContext, principal: Principal, streamId: string, action: StreamAction): Promise<void> {
  await ctx.access.check(principal, streamId, action);
}

export function requireAuthenticated(principal: Principal): void {
  if (principal.anonymous === true) throw new NotAuthenticatedError();
}

export function requireOps(principal: Principal, what: string): void {
  requireAuthenticated(principal);
  if (!isOps(principal)) throw new AccessDeniedError(principal.name, what, 'the server');
}

export function requireAdmin(principal: Principal, what: string): void {
  requireAuthenticated(principal);
  if (!isAdmin(principal)) throw new AccessDeniedError(principal.name, what, 'the server');
}


function failure(code: Status, e: Error, trailers: Record<string, string> = {}): GrpcFailure {
  return new GrpcFailure(code, e.message, trailers);
}

/** The one translation of our errors into what Event Store's clients understand. */
export function toGrpcFailure(e: unknown, log: (line: string) => void): GrpcFailure {
  if (e instanceof GrpcFailure) return e;
  if (e instanceof TooManySubscribersError) return failure(status.FAILED_PRECONDITION, e, { exception: 'maximum-subscribers-reached' });
  if (!isTelltaleError(e)) {
    log(`gRPC call failed: ${(e as Error)?.stack ?? String(e)}`);
    return new GrpcFailure(status.INTERNAL, 'Internal server error; see the server log');
  }
  const err: TelltaleError = e;
  if (err instanceof WrongExpectedRevisionError) {
    const trailers: Record<string, string> = { exception: 'wrong-expected-version', 'stream-name': err.streamId, 'expected-version': expectedVersionNumber(err.expected) };
    if (err.actual >= 0n) trailers['actual-version'] = err.actual.toString();
    return failure(status.FAILED_PRECONDITION, err, trailers);
  }
  if (err instanceof SubscriptionNotFoundError) {
    return failure(status.NOT_FOUND, err, { exception: 'persistent-subscription-does-not-exist', 'stream-name': err.stream, 'group-name': err.group });
  }
  if (err instanceof SubscriptionExistsError) {
    return failure(status.ALREADY_EXISTS, err, { exception: 'persistent-subscription-exists', 'stream-name': err.stream, 'group-name': err.group });
  }
  if (err instanceof UserNotFoundError) return failure(status.NOT_FOUND, err, { exception: 'user-not-found', 'login-name': err.loginName });
  if (err instanceof UserExistsError) return failure(status.ALREADY_EXISTS, err, { exception: 'user-conflict', 'login-name': err.loginName });
  if (err instanceof EventTooLargeError) return failure(status.INVALID_ARGUMENT, err, { exception: 'maximum-append-size-exceeded', 'maximum-append-size': String(err.limit) });
  switch (err.code) {
    case 'stream-not-found':
      return failure(status.NOT_FOUND, err, { exception: 'stream-not-found', 'stream-name': (err as TelltaleError & { streamId: string }).streamId });
    case 'stream-deleted':
      return failure(status.FAILED_PRECONDITION, err, { exception: 'stream-deleted', 'stream-name': (err as TelltaleError & { streamId: string }).streamId });
    case 'access-denied':
      return failure(status.PERMISSION_DENIED, err, { exception: 'access-denied' });
    case 'not-authenticated':
      return failure(status.UNAUTHENTICATED, err);
    case 'invalid-argument':
    case 'invalid-stream-name':
    case 'invalid-event':
    case 'invalid-metadata':
    case 'projection-invalid':
    case 'event-too-large':
      return failure(status.INVALID_ARGUMENT, err);
    case 'not-found':
      return failure(status.NOT_FOUND, err);
    case 'conflict':
      return failure(status.ALREADY_EXISTS, err);
    case 'unsupported':
      return failure(status.UNIMPLEMENTED, err);
    case 'timeout':
      return failure(status.DEADLINE_EXCEEDED, err);
    case 'backend-unavailable':
    case 'store-closed':
    case 'store-locked':
      return failure(status.UNAVAILABLE, err);
    case 'projection-faulted':
      return failure(status.FAILED_PRECONDITION, err);
    case 'wrong-expected-revision':
    case 'corrupt-log':
      log(`gRPC call failed: ${err.stack ?? err.message}`);
      return failure(status.INTERNAL, err);
  }
}

/** Runs a unary handler: the answer, or the translated failure. */
export function unary<Req, Res>(ctx: GrpcContext, handle: (request: Req, principal: Principal, call: ServerSurfaceCall) => Promise<Res>) {
  return (call: ServerCall<Req, Res>): void => {
    principalOf(ctx, call)
      .then((principal) => handle(call.request, principal, call))
      .then(
        (result) => {
          call.write(result);
          call.end();
        },
        (e: unknown) => call.fail(toGrpcFailure(e, ctx.log)),
      );
  };
}
