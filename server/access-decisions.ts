// Stream access decisions kept per principal, action and stream, so that a client that keeps
// appending to or reading the same streams pays for the ACL rule (a `$settings` lookup and a
// metadata read of the stream) once per TTL instead of once per request.
//
// Only grants are kept: a refusal goes through `StreamAccess.check` every time, so its 401/403 and
// message are exactly the uncached ones. A grant stops counting when
//   - the HTTP API writes a stream's metadata or `$settings` (`invalidate()`, at once),
//   - the principal changes: a user update clears the authentication cache, whose next check makes
//     a new principal object, and decisions are held by principal object,
//   - `ttlMs` has passed: metadata written by another writer on the same store (gRPC, a projection,
//     another server on a shared Redis store) is seen within that, as `$settings` already is.
import type { Principal, StreamAccess, StreamAction } from '../store/acl.js';

export interface AccessDecisionsOptions {
  /** How long a grant is trusted without asking again. @defaultValue 1000 */
  readonly ttlMs?: number;
  /** Grants kept per principal before they are all dropped. @defaultValue 10000 */
  readonly maxPerPrincipal?: number;
}

type Grants = Record<StreamAction, Map<string, number>>;

function grants(): Grants {
  return { read: new Map(), write: new Map(), delete: new Map(), metadataRead: new Map(), metadataWrite: new Map() };
}

export class AccessDecisions {
  readonly #access: StreamAccess;
  readonly #ttlMs: number;
  readonly #max: number;
  /** Per principal and action: stream → time (ms) until which the grant holds. */
  #byPrincipal = new WeakMap<Principal, Grants>();

  constructor(access: StreamAccess, options: AccessDecisionsOptions = {}) {
    this.#access = access;
    this.#ttlMs = options.ttlMs ?? 1000;
    this.#max = options.maxPerPrincipal ?? 10_000;
  }

  /**
   * Resolves (or, for a fresh grant, returns `undefined` without a promise) when `principal` may
   * do `action` on `streamId`; rejects with `NotAuthenticatedError` or `AccessDeniedError` otherwise.
   */
  check(principal: Principal, streamId: string, action: StreamAction): Promise<void> | undefined {
    let mine = this.#byPrincipal.get(principal);
    const until = mine?.[action].get(streamId);
    if (until !== undefined && until > Date.now()) return undefined;
    mine ??= grants();
    const held = this.#byPrincipal;
    const asked = Date.now();
    return this.#access.check(principal, streamId, action).then(() => {
      // A decision asked before an invalidation is not kept after it.
      if (held !== this.#byPrincipal) return;
      if (!held.has(principal)) held.set(principal, mine);
      const map = mine[action];
      if (map.size >= this.#max) map.clear();
      map.set(streamId, asked + this.#ttlMs);
    });
  }

  /**
   * Whether a kept grant, still fresh, lets `principal` do `action` on `streamId`; asks nothing.
   * False says only that no grant is kept: `check` decides.
   */
  granted(principal: Principal, streamId: string, action: StreamAction): boolean {
    const until = this.#byPrincipal.get(principal)?.[action].get(streamId);
    return until !== undefined && until > Date.now();
  }

  /** Forgets every grant: stream metadata or `$settings` changed. */
  invalidate(): void {
    this.#byPrincipal = new WeakMap();
  }
}
