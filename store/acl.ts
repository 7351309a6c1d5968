// Stream access control as Event Store's legacy ACLs have it
// (CORE/Authorization/LegacyStreamPermissionAssertion.cs, shared/reference/eventstore-semantics.md §2.9):
// `$admins` (and the system account) may do anything; otherwise the stream's `$acl` entry for the
// action decides, keys it leaves out fall back to the defaults in `$settings` (`$userStreamAcl`
// for user streams, `$systemStreamAcl` for `$`-streams), and `$all` in a list means everyone.
// The evaluation is a pure function so that the HTTP API and (later) gRPC share one rule;
// `StreamAccess` loads metadata and settings through the Store port only.
import { TelltaleError } from './errors.js';
import { parseMetadataJson } from './metadata.js';
import { ALL_STREAM, isMetastream, isSystemStream, streamOfMetastream } from './stream-name.js';
import type { Store, StreamAcl } from './types.js';

export type StreamAction = 'read' | 'write' | 'delete' | 'metadataRead' | 'metadataWrite';

/** Who is asking: a user name and the roles it holds (its groups; the name itself is implied). */
export interface Principal {
  readonly name: string;
  readonly groups: readonly string[];
  /** The unauthenticated caller; never matches a role, not even `$all` unless anonymous access is on. */
  readonly anonymous?: boolean;
}

export const ADMINS_GROUP = '$admins';
export const OPS_GROUP = '$ops';
/** In an ACL, everyone. */
export const EVERYONE_ROLE = '$all';
export const SETTINGS_STREAM = '$settings';

export const ANONYMOUS: Principal = Object.freeze({ name: '$anonymous', groups: Object.freeze([]) as readonly string[], anonymous: true });
/** Internal work (persistent subscription checkpoints, user records) runs as the system account. */
export const SYSTEM: Principal = Object.freeze({ name: '$system', groups: Object.freeze([ADMINS_GROUP]) as readonly string[] });

/** The defaults `$settings` holds; each key of a stream's own `$acl` overrides one of these. */
export interface SystemSettings {
  readonly userStreamAcl: Required<StreamAcl>;
  readonly systemStreamAcl: Required<StreamAcl>;
}

function allRoles(role: string): Required<StreamAcl> {
  return { readRoles: [role], writeRoles: [role], deleteRoles: [role], metaReadRoles: [role], metaWriteRoles: [role] };
}

/** Event Store's `SystemSettings.Default`: user streams open to everyone, system streams to `$admins`. */
export const DEFAULT_SETTINGS: SystemSettings = Object.freeze({
  userStreamAcl: allRoles(EVERYONE_ROLE),
  systemStreamAcl: allRoles(ADMINS_GROUP),
});

export class AccessDeniedError extends TelltaleError {
  constructor(readonly principal: string, readonly action: StreamAction | string, readonly target: string) {
    super('access-denied', `User '${principal}' may not ${describe(action)} '${target}'`);
  }
}

export class NotAuthenticatedError extends TelltaleError {
  constructor(message = 'Authentication required: send HTTP basic credentials') {
    super('not-authenticated', message);
  }
}

function describe(action: string): string {
  switch (action) {
    case 'read':
      return 'read stream';
    case 'write':
      return 'write to stream';
    case 'delete':
      return 'delete stream';
    case 'metadataRead':
      return 'read the metadata of stream';
    case 'metadataWrite':
      return 'write the metadata of stream';
    default:
      return action;
  }
}

export function isAdmin(principal: Principal): boolean {
  return principal.groups.includes(ADMINS_GROUP);
}

export function isOps(principal: Principal): boolean {
  return isAdmin(principal) || principal.groups.includes(OPS_GROUP);
}

const ACL_KEY: Record<StreamAction, keyof StreamAcl> = {
  read: 'readRoles',
  write: 'writeRoles',
  delete: 'deleteRoles',
  metadataRead: 'metaReadRoles',
  metadataWrite: 'metaWriteRoles',
};

/**
 * The stream and action an operation is checked against: reads and writes of `$$x` are the
 * metadata actions of `x`, as in Event Store.
 */
export function aclTarget(streamId: string, action: StreamAction): { streamId: string; action: StreamAction } {
  if (isMetastream(streamId) && (action === 'read' || action === 'write')) {
    return { streamId: streamOfMetastream(streamId), action: action === 'read' ? 'metadataRead' : 'metadataWrite' };
  }
  return { streamId, action };
}

/** The roles allowed to do `action` on `streamId`, given its own ACL and the system defaults. */
export function allowedRoles(streamId: string, action: StreamAction, streamAcl: StreamAcl | undefined, settings: SystemSettings = DEFAULT_SETTINGS): readonly string[] {
  const key = ACL_KEY[action];
  const own = streamAcl?.[key];
  if (own !== undefined) return own;
  return (isSystemStream(streamId) ? settings.systemStreamAcl : settings.userStreamAcl)[key];
}

/**
 * The one access rule. `streamId` and `action` are already mapped by `aclTarget`.
 * `allowAnonymous` lets the unauthenticated caller match `$all`, as Event Store's
 * `AllowAnonymousStreamAccess` does.
 */
export function isAllowed(
  principal: Principal,
  streamId: string,
  action: StreamAction,
  streamAcl: StreamAcl | undefined,
  settings: SystemSettings = DEFAULT_SETTINGS,
  allowAnonymous = false,
): boolean {
  if (streamId === ALL_STREAM && (action === 'write' || action === 'delete' || action === 'metadataWrite')) return false;
  if (isAdmin(principal)) return true;
  const roles = allowedRoles(streamId, action, streamAcl, settings);
  if (principal.anonymous === true) return allowAnonymous && roles.includes(EVERYONE_ROLE);
  if (roles.includes(EVERYONE_ROLE)) return true;
  return roles.includes(principal.name) || principal.groups.some((g) => roles.includes(g));
}

/** Parses the data of a `$settings` event (`{"$userStreamAcl": {...}, "$systemStreamAcl": {...}}`). */
export function parseSystemSettings(text: string): SystemSettings {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return DEFAULT_SETTINGS;
  }
  if (raw === null || typeof raw !== 'object') return DEFAULT_SETTINGS;
  const obj = raw as Record<string, unknown>;
  const pick = (key: string, fallback: Required<StreamAcl>): Required<StreamAcl> => {
    const value = obj[key];
    if (value === null || typeof value !== 'object') return fallback;
    try {
      const acl = parseMetadataJson(JSON.stringify({ $acl: value })).acl ?? {};
      return { ...fallback, ...acl } as Required<StreamAcl>;
    } catch {
      return fallback;
    }
  };
  return { userStreamAcl: pick('$userStreamAcl', DEFAULT_SETTINGS.userStreamAcl), systemStreamAcl: pick('$systemStreamAcl', DEFAULT_SETTINGS.systemStreamAcl) };
}

export interface StreamAccessOptions {
  /** Let unauthenticated callers do what `$all` may. @defaultValue false */
  readonly allowAnonymous?: boolean;
  /** How long cached `$settings` are trusted without a re-read. @defaultValue 1000 */
  readonly settingsTtlMs?: number;
}

/**
 * Checks stream operations against metadata and `$settings`, read through the Store port.
 * `$settings` is cached: re-read at once when `settingsChanged()` is called (the server calls it
 * when it writes `$settings`), and at most `settingsTtlMs` later when another writer changed it.
 */
export class StreamAccess {
  readonly #store: Store;
  readonly #allowAnonymous: boolean;
  readonly #ttl: number;
  #settings: Promise<SystemSettings> | undefined;
  #loadedAt = 0;

  constructor(store: Store, options: StreamAccessOptions = {}) {
    this.#store = store;
    this.#allowAnonymous = options.allowAnonymous ?? false;
    this.#ttl = options.settingsTtlMs ?? 1000;
  }

  settingsChanged(): void {
    this.#settings = undefined;
  }

  settings(): Promise<SystemSettings> {
    const now = Date.now();
    if (this.#settings !== undefined && now - this.#loadedAt > this.#ttl) this.#settings = undefined;
    if (this.#settings === undefined) this.#loadedAt = now;
    this.#settings ??= this.#loadSettings().catch((e: unknown) => {
      this.#settings = undefined;
      throw e;
    });
    return this.#settings;
  }

  async #loadSettings(): Promise<SystemSettings> {
    const info = await this.#store.getStreamInfo(SETTINGS_STREAM);
    if (info.lastRevision < 0n || info.softDeleted || info.tombstoned) return DEFAULT_SETTINGS;
    for await (const e of this.#store.readStream(SETTINGS_STREAM, { direction: 'backwards', maxCount: 1 })) {
      return parseSystemSettings(new TextDecoder().decode(e.dataBytes));
    }
    return DEFAULT_SETTINGS;
  }

  /** Whether `principal` may do `action` on `streamId` (`$$x` maps to the metadata actions of `x`). */
  async allowed(principal: Principal, streamId: string, action: StreamAction): Promise<boolean> {
    if (isAdmin(principal)) return !(streamId === ALL_STREAM && action !== 'read' && action !== 'metadataRead');
    const target = aclTarget(streamId, action);
    const settings = await this.settings();
    const acl = target.streamId === ALL_STREAM ? undefined : (await this.#store.getStreamMetadata(target.streamId)).metadata.acl;
    return isAllowed(principal, target.streamId, target.action, acl, settings, this.#allowAnonymous);
  }

  /** Throws `NotAuthenticatedError` (401) for an anonymous caller, `AccessDeniedError` (403) otherwise. */
  async check(principal: Principal, streamId: string, action: StreamAction): Promise<void> {
    if (await this.allowed(principal, streamId, action)) return;
    if (principal.anonymous === true) throw new NotAuthenticatedError(`Authentication required to ${describe(action)} '${streamId}'`);
    throw new AccessDeniedError(principal.name, action, streamId);
  }

  /** Whether everyone may read the stream: immutable pages are then cached `public`, else `private`. */
  async publiclyReadable(streamId: string): Promise<boolean> {
    const target = aclTarget(streamId, 'read');
    if (target.streamId === ALL_STREAM) return false;
    const settings = await this.settings();
    const acl = (await this.#store.getStreamMetadata(target.streamId)).metadata.acl;
    return allowedRoles(target.streamId, target.action, acl, settings).includes(EVERYONE_ROLE);
  }
}
