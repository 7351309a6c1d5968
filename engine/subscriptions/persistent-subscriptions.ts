// The set of persistent subscription groups: created, updated and deleted by operators, their
// configuration kept in `$persistentSubscriptionConfig` (event type `$PersistentConfig`, the whole
// list in each event, as Event Store keeps it) so that a restart brings every group back at its
// checkpoint. Uses the Store port only.
import { InvalidArgumentError, TelltaleError, isTelltaleError } from '../../store/errors.js';
import { assertValidStreamName } from '../../store/stream-name.js';
import type { Store } from '../../store/types.js';
import { PersistentSubscriptionGroup, checkpointStreamOf, type GroupInfo, type GroupLogger } from './persistent-subscription-group.js';
import { parseSubscriptionSettings, subscriptionSettingsJson, type PersistentSubscriptionSettings } from './settings.js';

export const SUBSCRIPTION_CONFIG_STREAM = '$persistentSubscriptionConfig';

export class SubscriptionNotFoundError extends TelltaleError {
  constructor(readonly stream: string, readonly group: string) {
    super('not-found', `Subscription group '${group}' on stream '${stream}' does not exist`);
  }
}

export class SubscriptionExistsError extends TelltaleError {
  constructor(readonly stream: string, readonly group: string) {
    super('conflict', `Subscription group '${group}' on stream '${stream}' already exists`);
  }
}

interface ConfigEntry {
  readonly stream: string;
  readonly group: string;
  readonly settings: Record<string, unknown>;
}

export interface PersistentSubscriptionsOptions {
  readonly clock?: () => number;
  readonly log?: GroupLogger;
}

function assertGroupName(group: unknown): asserts group is string {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (typeof group !== 'string' || group.length === 0 || group.length > 256 || /[\u0000-\u001f\u007f/]/.test(group)) {
    throw new InvalidArgumentError(`Invalid subscription group name ${JSON.stringify(group)}: 1–256 characters, no '/' or control characters`);
  }
}

const key = (stream: string, group: string) => `${stream}\u0000${group}`;

export class PersistentSubscriptions {
  readonly #store: Store;
  readonly #options: PersistentSubscriptionsOptions;
  readonly #groups = new Map<string, PersistentSubscriptionGroup>();
  /** Changes to the set of groups run one at a time, so the stored config never loses one. */
  #queue: Promise<unknown> = Promise.resolve();
  #started = false;

  constructor(store: Store, options: PersistentSubscriptionsOptions = {}) {
    this.#store = store;
    this.#options = options;
  }

  /** Starts every group in the stored configuration. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const entry of await this.#loadConfig()) {
      try {
        const settings = parseSubscriptionSettings(entry.settings);
        await this.#startGroup(entry.stream, entry.group, settings);
      } catch (e) {
        this.#options.log?.(`persistent subscription ${entry.stream}::${entry.group} did not start: ${(e as Error).message}`);
      }
    }
  }

  async #loadConfig(): Promise<ConfigEntry[]> {
    try {
      for await (const e of this.#store.readStream(SUBSCRIPTION_CONFIG_STREAM, { direction: 'backwards', maxCount: 1 })) {
        const data = e.data as { entries?: unknown };
        return Array.isArray(data.entries) ? (data.entries as ConfigEntry[]) : [];
      }
    } catch (e) {
      if (isTelltaleError(e, 'stream-not-found')) return [];
      throw e;
    }
    return [];
  }

  async #saveConfig(updatedBy: string): Promise<void> {
    const entries: ConfigEntry[] = [...this.#groups.values()].map((g) => ({ stream: g.stream, group: g.group, settings: subscriptionSettingsJson(g.settings) }));
    await this.#store.appendToStream(SUBSCRIPTION_CONFIG_STREAM, [
      { type: '$PersistentConfig', data: { version: 2, updated: new Date().toISOString(), updatedBy, entries } },
    ]);
  }

  async #startGroup(stream: string, group: string, settings: PersistentSubscriptionSettings): Promise<PersistentSubscriptionGroup> {
    const instance = new PersistentSubscriptionGroup(this.#store, stream, group, settings, this.#options);
    await instance.start();
    this.#groups.set(key(stream, group), instance);
    return instance;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  create(stream: string, group: string, body: unknown, by = '$system'): Promise<PersistentSubscriptionGroup> {
    assertValidStreamName(stream);
    assertGroupName(group);
    const settings = parseSubscriptionSettings(body);
    return this.#serial(async () => {
      if (this.#groups.has(key(stream, group))) throw new SubscriptionExistsError(stream, group);
      const instance = await this.#startGroup(stream, group, settings);
      await this.#saveConfig(by);
      return instance;
    });
  }

  /** Replaces the settings; connected consumers are dropped and the group resumes at its checkpoint. */
  update(stream: string, group: string, body: unknown, by = '$system'): Promise<PersistentSubscriptionGroup> {
    const current = this.get(stream, group);
    const settings = parseSubscriptionSettings(body, current.settings);
    return this.#serial(async () => {
      const existing = this.get(stream, group);
      await existing.stop();
      this.#groups.delete(key(stream, group));
      const instance = await this.#startGroup(stream, group, settings);
      await this.#saveConfig(by);
      return instance;
    });
  }

  delete(stream: string, group: string, by = '$system'): Promise<void> {
    this.get(stream, group);
    return this.#serial(async () => {
      const existing = this.get(stream, group);
      await existing.stop();
      this.#groups.delete(key(stream, group));
      await this.#saveConfig(by);
      // A group created again under the same name starts afresh, as Event Store's does.
      for (const s of [checkpointStreamOf(stream, group), existing.parkedStream]) {
        await this.#store.deleteStream(s).catch((e: unknown) => {
          if (!isTelltaleError(e, 'wrong-expected-revision') && !isTelltaleError(e, 'stream-not-found')) throw e;
        });
      }
    });
  }

  get(stream: string, group: string): PersistentSubscriptionGroup {
    const instance = this.#groups.get(key(stream, group));
    if (instance === undefined) throw new SubscriptionNotFoundError(stream, group);
    return instance;
  }

  list(stream?: string): PersistentSubscriptionGroup[] {
    return [...this.#groups.values()].filter((g) => stream === undefined || g.stream === stream).sort((a, b) => a.stream.localeCompare(b.stream) || a.group.localeCompare(b.group));
  }

  async infos(stream?: string): Promise<GroupInfo[]> {
    return Promise.all(this.list(stream).map((g) => g.info()));
  }

  /** Stops every group, writing final checkpoints. */
  async stop(): Promise<void> {
    await this.#queue;
    await Promise.all([...this.#groups.values()].map((g) => g.stop()));
    this.#groups.clear();
    this.#started = false;
  }
}
