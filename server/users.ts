// Users and groups, kept in the store as Event Store keeps them: `$user-{login}` holds the user's
// details, `$password-{login}` its password hash (a separate stream so that the details can be
// shown without the hash), and `$users` the list of logins. All of them are system streams, so
// only `$admins` can read them through the stream API.
//
// Passwords are hashed with scrypt (a slow, memory-hard KDF). Checking one costs ~50 ms of CPU, so
// successful logins are cached by Authorization header for a short while; any
// change to a user clears the cache.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ADMINS_GROUP, NotAuthenticatedError, OPS_GROUP, type Principal } from '../store/acl.js';
import { InvalidArgumentError, TelltaleError, isTelltaleError } from '../store/errors.js';
import type { Store } from '../store/types.js';

export interface UserDetails {
  readonly loginName: string;
  readonly fullName: string;
  readonly groups: readonly string[];
  readonly disabled: boolean;
  readonly dateLastUpdated: string;
}

export interface NewUser {
  readonly loginName: string;
  readonly fullName?: string;
  readonly groups?: readonly string[];
  readonly password: string;
}

interface PasswordRecord {
  readonly hash: string;
  /** Set while the password is a well-known default (`changeit`), so the server can refuse to expose it. */
  readonly isDefault?: boolean;
}

/** Event Store's well-known default password; only ever allowed on a loopback-bound server. */
export const DEFAULT_PASSWORD = 'changeit';

const USERS_STREAM = '$users';
const userStream = (login: string) => `$user-${login}`;
const passwordStream = (login: string) => `$password-${login}`;
const LOGIN = /^[A-Za-z0-9_.@-][A-Za-z0-9_.@$-]{0,127}$/;

const SCRYPT: ScryptOptions = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LENGTH = 32;
const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCallback(password, salt, KEY_LENGTH, options, (e, key) => (e ? reject(e) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export function assertLoginName(login: unknown): asserts login is string {
  if (typeof login !== 'string' || !LOGIN.test(login)) {
    throw new InvalidArgumentError(`Invalid login name ${JSON.stringify(login)}: use 1–128 letters, digits, '_', '.', '@', '-'`);
  }
}

function assertPassword(password: unknown): asserts password is string {
  if (typeof password !== 'string' || password.length === 0) throw new InvalidArgumentError('A non-empty password is required');
  if (password.length > 1024) throw new InvalidArgumentError('A password is at most 1024 characters');
}

function assertGroups(groups: unknown): asserts groups is string[] {
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string' && g.length > 0 && g.length <= 128)) {
    throw new InvalidArgumentError('groups must be a list of non-empty group names');
  }
}

export class UserNotFoundError extends TelltaleError {
  constructor(readonly loginName: string) {
    super('not-found', `User '${loginName}' not found`);
  }
}

export class UserExistsError extends TelltaleError {
  constructor(readonly loginName: string) {
    super('conflict', `User '${loginName}' already exists`);
  }
}

const decoder = new TextDecoder();

export class Users {
  readonly #store: Store;
  /** `resolved` is set once the check has passed, so that a hit needs no promise. */
  readonly #cache = new Map<string, { principal: Promise<Principal>; resolved: Principal | undefined; expires: number }>();

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Makes sure `admin` (and, when a password is given, `ops`) exist. Returns whether `admin` still
   * has the well-known default password, which the server then refuses to expose beyond loopback.
   */
  async bootstrap(options: { adminPassword?: string; opsPassword?: string }): Promise<{ adminHasDefaultPassword: boolean; created: string[] }> {
    const created: string[] = [];
    if (!(await this.exists('admin'))) {
      const password = options.adminPassword ?? DEFAULT_PASSWORD;
      await this.create({ loginName: 'admin', fullName: 'Event Store Administrator', groups: [ADMINS_GROUP], password }, options.adminPassword === undefined);
      created.push('admin');
    } else if (options.adminPassword !== undefined && (await this.#password('admin')).isDefault === true) {
      await this.resetPassword('admin', options.adminPassword);
    }
    if (!(await this.exists('ops')) && options.opsPassword !== undefined) {
      await this.create({ loginName: 'ops', fullName: 'Event Store Operations', groups: [OPS_GROUP], password: options.opsPassword });
      created.push('ops');
    }
    return { adminHasDefaultPassword: (await this.#password('admin')).isDefault === true, created };
  }

  /**
   * The principal for an `Authorization` header; the anonymous principal's absence is the
   * caller's business. Throws `NotAuthenticatedError` for a malformed header, an unknown user,
   * a wrong password or a disabled account.
   */
  authenticate(header: string): Promise<Principal> {
    // Keyed by the header itself: hashing it per request cost more than the rest of auth.
    const key = header;
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.expires > now) return hit.principal;
    const principal = this.#authenticate(header);
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    const entry: { principal: Promise<Principal>; resolved: Principal | undefined; expires: number } = { principal, resolved: undefined, expires: now + CACHE_TTL_MS };
    this.#cache.set(key, entry);
    principal.then(
      (p) => {
        entry.resolved = p;
      },
      () => {
        if (this.#cache.get(key) === entry) this.#cache.delete(key);
      },
    );
    return principal;
  }

  /**
   * The principal for a header whose check has already passed and is still fresh, without a
   * promise: the per-request path of a client that keeps sending the same credentials.
   */
  authenticated(header: string): Principal | undefined {
    const hit = this.#cache.get(header);
    return hit !== undefined && hit.resolved !== undefined && hit.expires > Date.now() ? hit.resolved : undefined;
  }

  async #authenticate(header: string): Promise<Principal> {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!match) throw new NotAuthenticatedError('Unsupported Authorization header: use HTTP basic authentication');
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new NotAuthenticatedError('Malformed basic credentials');
    const login = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const failed = new NotAuthenticatedError('Invalid user name or password');
    if (!LOGIN.test(login)) throw failed;
    const details = await this.get(login).catch((e: unknown) => {
      if (isTelltaleError(e, 'not-found')) return undefined;
      throw e;
    });
    if (details === undefined) {
      // Spend the same time as a real check, so timing does not tell which logins exist.
      await hashPassword(password);
      throw failed;
    }
    const record = await this.#password(login);
    if (!(await verifyPassword(password, record.hash))) throw failed;
    if (details.disabled) throw new NotAuthenticatedError(`User '${login}' is disabled`);
    return { name: details.loginName, groups: details.groups };
  }

  async exists(login: string): Promise<boolean> {
    const info = await this.#store.getStreamInfo(userStream(login));
    return info.lastRevision >= 0n && !info.softDeleted && !info.tombstoned;
  }

  async get(login: string): Promise<UserDetails> {
    assertLoginName(login);
    const data = await this.#last(userStream(login));
    if (data === undefined) throw new UserNotFoundError(login);
    return data as unknown as UserDetails;
  }

  async list(): Promise<UserDetails[]> {
    const logins = new Set<string>();
    const info = await this.#store.getStreamInfo(USERS_STREAM);
    if (info.lastRevision < 0n) return [];
    for await (const e of this.#store.readStream(USERS_STREAM)) {
      const login = (e.data as { loginName?: unknown }).loginName;
      if (typeof login !== 'string') continue;
      if (e.type === '$UserDeleted') logins.delete(login);
      else logins.add(login);
    }
    const users: UserDetails[] = [];
    for (const login of [...logins].sort()) {
      if (await this.exists(login)) users.push(await this.get(login));
    }
    return users;
  }

  async create(user: NewUser, isDefaultPassword = false): Promise<UserDetails> {
    if (user === null || typeof user !== 'object') throw new InvalidArgumentError('The body must be a JSON object with loginName, fullName, groups and password');
    assertLoginName(user.loginName);
    assertPassword(user.password);
    const groups = user.groups ?? [];
    assertGroups(groups);
    if (user.fullName !== undefined && typeof user.fullName !== 'string') throw new InvalidArgumentError('fullName must be a string');
    const details: UserDetails = { loginName: user.loginName, fullName: user.fullName ?? user.loginName, groups, disabled: false, dateLastUpdated: new Date().toISOString() };
    const hash = await hashPassword(user.password);
    try {
      await this.#store.appendToStreams([
        { streamId: userStream(user.loginName), events: [{ type: '$UserCreated', data: details }], expectedRevision: 'no_stream' },
        { streamId: passwordStream(user.loginName), events: [{ type: '$PasswordChanged', data: { hash, isDefault: isDefaultPassword } }] },
        { streamId: USERS_STREAM, events: [{ type: '$UserCreated', data: { loginName: user.loginName } }] },
      ]);
    } catch (e) {
      if (isTelltaleError(e, 'wrong-expected-revision') || isTelltaleError(e, 'stream-deleted')) throw new UserExistsError(user.loginName);
      throw e;
    }
    this.#changed();
    return details;
  }

  async update(login: string, changes: { fullName?: unknown; groups?: unknown }): Promise<UserDetails> {
    const current = await this.get(login);
    if (changes === null || typeof changes !== 'object') throw new InvalidArgumentError('The body must be a JSON object with fullName and groups');
    if (changes.fullName !== undefined && typeof changes.fullName !== 'string') throw new InvalidArgumentError('fullName must be a string');
    if (changes.groups !== undefined) assertGroups(changes.groups);
    return this.#write(login, '$UserUpdated', {
      ...current,
      fullName: (changes.fullName as string | undefined) ?? current.fullName,
      groups: (changes.groups as string[] | undefined) ?? current.groups,
    });
  }

  async setDisabled(login: string, disabled: boolean): Promise<UserDetails> {
    const current = await this.get(login);
    return this.#write(login, disabled ? '$UserDisabled' : '$UserEnabled', { ...current, disabled });
  }

  async delete(login: string): Promise<void> {
    await this.get(login);
    await this.#store.appendToStream(USERS_STREAM, [{ type: '$UserDeleted', data: { loginName: login } }]);
    await this.#store.deleteStream(userStream(login));
    await this.#store.deleteStream(passwordStream(login));
    this.#changed();
  }

  async resetPassword(login: string, newPassword: unknown): Promise<void> {
    await this.get(login);
    assertPassword(newPassword);
    await this.#store.appendToStream(passwordStream(login), [{ type: '$PasswordChanged', data: { hash: await hashPassword(newPassword), isDefault: false } }]);
    this.#changed();
  }

  async changePassword(login: string, currentPassword: unknown, newPassword: unknown): Promise<void> {
    if (typeof currentPassword !== 'string' || !(await verifyPassword(currentPassword, (await this.#password(login)).hash))) {
      throw new NotAuthenticatedError('The current password is wrong');
    }
    await this.resetPassword(login, newPassword);
  }

  async #write(login: string, type: string, details: UserDetails): Promise<UserDetails> {
    const next = { ...details, dateLastUpdated: new Date().toISOString() };
    await this.#store.appendToStream(userStream(login), [{ type, data: next }]);
    this.#changed();
    return next;
  }

  async #password(login: string): Promise<PasswordRecord> {
    const data = await this.#last(passwordStream(login));
    if (data === undefined || typeof data.hash !== 'string') throw new UserNotFoundError(login);
    return data as unknown as PasswordRecord;
  }

  async #last(streamId: string): Promise<Record<string, unknown> | undefined> {
    try {
      for await (const e of this.#store.readStream(streamId, { direction: 'backwards', maxCount: 1 })) {
        return JSON.parse(decoder.decode(e.dataBytes)) as Record<string, unknown>;
      }
    } catch (e) {
      if (isTelltaleError(e, 'stream-not-found') || isTelltaleError(e, 'stream-deleted')) return undefined;
      throw e;
    }
    return undefined;
  }

  #changed(): void {
    this.#cache.clear();
  }
}
