// The `RecordedEvent` callers see: a thin view over a stored record that parses its JSON only when
// asked, so reading a million events costs what the caller uses of them.
import type { StoredRecord } from './backend.js';
import type { RecordedEvent } from './types.js';

const decoder = new TextDecoder();
const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

export class StoredEvent implements RecordedEvent {
  #data: unknown = undefined;
  #dataParsed = false;
  #metadata: Record<string, unknown> | undefined;

  constructor(
    readonly record: StoredRecord,
    readonly link?: RecordedEvent,
  ) {}

  get streamId(): string {
    return this.record.streamId;
  }
  get revision(): bigint {
    return this.record.revision;
  }
  get position(): bigint {
    return this.record.position;
  }
  get id(): string {
    return this.record.id;
  }
  get type(): string {
    return this.record.type;
  }
  get isJson(): boolean {
    return this.record.isJson;
  }
  get dataBytes(): Uint8Array {
    return this.record.data;
  }
  get metadataBytes(): Uint8Array {
    return this.record.metadata;
  }
  get created(): Date {
    return new Date(this.record.created);
  }

  get data(): unknown {
    if (!this.#dataParsed) {
      this.#data = this.record.isJson ? parseJson(this.record.data) : this.record.data;
      this.#dataParsed = true;
    }
    return this.#data;
  }

  get metadata(): Record<string, unknown> {
    if (this.#metadata === undefined) {
      const parsed = this.record.metadata.length === 0 ? EMPTY : parseJson(this.record.metadata);
      this.#metadata = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : EMPTY;
    }
    return this.#metadata;
  }

  toJSON(): object {
    return {
      streamId: this.streamId,
      revision: this.revision.toString(),
      position: this.position.toString(),
      id: this.id,
      type: this.type,
      isJson: this.isJson,
      data: this.isJson ? this.data : Buffer.from(this.dataBytes).toString('base64'),
      metadata: this.metadata,
      created: this.created.toISOString(),
      ...(this.link ? { link: this.link } : {}),
    };
  }
}

function parseJson(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return undefined;
  const text = decoder.decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    // Stored as JSON by a producer that did not send valid JSON (Event Store accepts that too).
    return text;
  }
}
