// @ts-nocheck -- this function never runs in Node: its source text is evaluated inside each projection's isolate, where it works on plain JSON values the type system cannot follow.
//
// The prelude: Event Store's projection language (shared/reference/eventstore-semantics.md §1) as it
// runs inside the isolate. It is evaluated once per isolate, after the patterns/ bundle and before
// the user's script, and keeps the Jint runtime's two scopes (§7.1):
// - the definition scope: fromAll/fromStream/…/options/on_event/on_any/log, a chain grammar that only
//   offers the methods Event Store allows at each step (a wrong chain is a TypeError "x is not a
//   function", as in Jint, because the property is not there);
// - the execution scope: the selectors are removed, emit/linkTo/copyTo/linkStreamTo/log/requestTimer
//   are added, and string compilation (eval, the Function constructors) is disabled (Event Store PR #3788).
// Events arrive as one JSON text per batch; states stay here between batches. What leaves is one JSON
// text per batch: counts, emitted events, logs, and (on a flush) the dirty states. Nothing in here can
// reach the host except the partition loader, which the prelude captures and removes from the global.
//
// Keep it plain ES2022: no imports, no helpers, no template literals with `${` that tsc would rewrite.

export function prelude(global, config) {
  'use strict';
  const hostLoad = global.__telltaleHostLoad;
  delete global.__telltaleHostLoad;
  const hostIds = global.__telltaleHostIds;
  delete global.__telltaleHostIds;
  const hostBodies = global.__telltaleHostBodies;
  delete global.__telltaleHostBodies;
  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const MIN_TIME = -8640000000000000;
  const userFile = config.filename;

  // ---------------------------------------------------------------- definition scope
  const def = {
    allStreams: false,
    categories: [],
    streams: [],
    allEvents: false,
    events: [],
    byStreams: false,
    byCustomPartitions: false,
    definesFold: false,
    definesStateTransform: false,
    producesResults: false,
    handlesDeletedNotifications: false,
    handlesTimers: false,
    includeLinks: false,
    reorderEvents: false,
    processingLag: 0,
    isBiState: false,
    resultStreamName: null,
    partitionResultStreamNamePattern: null,
    eventTimeField: null,
    allowedLateness: 0,
    sourceCalls: 0,
    namedHandlersBeforeAny: false,
  };
  const handlers = { init: null, initShared: null, any: null, created: [], deleted: null, timer: null, byType: Object.create(null) };
  let partitionFn = null;
  const transforms = [];

  function expectString(value) {
    if (typeof value !== 'string') throw new TypeError('expected string value');
    return value;
  }
  function flatten(args) {
    const list = args.length === 1 && Array.isArray(args[0]) ? args[0] : Array.prototype.slice.call(args);
    return list.map(expectString);
  }

  function when(h) {
    if (h === null || typeof h !== 'object') throw new TypeError('when() expects an object of handlers');
    def.definesFold = true;
    for (const key of Object.keys(h)) {
      const fn = h[key];
      if (typeof fn !== 'function') throw new TypeError('Handler for ' + key + ' must be a function');
      if (key === '$init' || key === '0') handlers.init = fn;
      else if (key === '$initShared') {
        handlers.initShared = fn;
        def.isBiState = true;
      } else if (key === '$any') {
        handlers.any = fn;
        def.allEvents = true;
      } else if (key === '$created') handlers.created.push(fn);
      else if (key === '$deleted') {
        handlers.deleted = fn;
        def.handlesDeletedNotifications = true;
      } else if (key === '$timer') {
        handlers.timer = fn;
        def.handlesTimers = true;
      } else {
        handlers.byType[key] = fn;
        def.events.push(key);
      }
    }
    return { transformBy, filterBy, outputState, outputTo, $defines_state_transform };
  }
  function $defines_state_transform() {
    def.definesStateTransform = true;
    def.producesResults = true;
  }
  function outputState() {
    def.producesResults = true;
    return { transformBy, filterBy, outputTo };
  }
  function transformBy(fn) {
    if (typeof fn !== 'function') throw new TypeError('transformBy expects a function');
    transforms.push({ kind: 'transform', fn });
    $defines_state_transform();
    return { transformBy, filterBy, outputState, outputTo };
  }
  function filterBy(fn) {
    if (typeof fn !== 'function') throw new TypeError('filterBy expects a function');
    transforms.push({ kind: 'filter', fn });
    $defines_state_transform();
    return { transformBy, filterBy, outputState, outputTo };
  }
  // Telltale follows the V8 prelude here (a documented divergence from Jint): outputTo also makes
  // the projection produce results, since naming a result stream is pointless otherwise.
  function outputTo(resultStream, partitionPattern) {
    def.resultStreamName = expectString(resultStream);
    if (partitionPattern !== undefined) def.partitionResultStreamNamePattern = expectString(partitionPattern);
    $defines_state_transform();
  }
  function partitionBy(fn) {
    if (typeof fn !== 'function') throw new TypeError('partitionBy expects a function');
    def.byCustomPartitions = true;
    partitionFn = fn;
    return { when };
  }
  function foreachStream() {
    def.byStreams = true;
    return { when };
  }
  function source() {
    def.sourceCalls++;
  }
  function fromAll() {
    source();
    def.allStreams = true;
    return { when, partitionBy, outputState, foreachStream };
  }
  function fromStream(stream) {
    source();
    if (typeof stream !== 'string') throw new TypeError('fromStream expects a stream name (string)');
    def.streams.push(stream);
    return { when, partitionBy, outputState };
  }
  function fromStreams() {
    source();
    for (const s of flatten(arguments)) def.streams.push(s);
    return { when, partitionBy, outputState };
  }
  function fromCategory() {
    source();
    const list = flatten(arguments);
    if (list.length === 1) def.categories.push(list[0]);
    // Several categories are rewritten as fromStreams('$ce-a', '$ce-b'), as Jint does.
    else for (const c of list) def.streams.push('$ce-' + c);
    return { when, partitionBy, outputState, foreachStream };
  }
  function fromCategories() {
    return fromCategory.apply(null, arguments);
  }

  const optionKeys = {
    resultstreamname: ['resultStreamName', 'string'],
    $includelinks: ['includeLinks', 'boolean'],
    reorderevents: ['reorderEvents', 'boolean'],
    processinglag: ['processingLag', 'number'],
    bistate: ['isBiState', 'boolean'],
    // Telltale extensions for event time (decision 11); Event Store has no event time.
    eventtimefield: ['eventTimeField', 'string'],
    allowedlateness: ['allowedLateness', 'duration'],
  };
  function options(o) {
    if (o === null || typeof o !== 'object') throw new TypeError('options() expects an object');
    for (const key of Object.keys(o)) {
      const known = optionKeys[key.toLowerCase()];
      if (!known) throw new Error('Unrecognized option: ' + key);
      let value = o[key];
      if (known[1] === 'duration') {
        if (typeof value === 'string' && global.telltale && typeof global.telltale.parseDuration === 'function') value = global.telltale.parseDuration(value);
        if (typeof value !== 'number' || !(value >= 0)) throw new TypeError('Invalid value');
      } else if (typeof value !== known[1]) throw new TypeError('Invalid value');
      def[known[0]] = value;
    }
  }

  function log() {
    const parts = [];
    for (let i = 0; i < arguments.length; i++) {
      const a = arguments[i];
      parts.push(typeof a === 'string' ? a : safeStringify(a));
    }
    if (logs.length < 1000) logs.push(parts.join(' '));
  }
  function safeStringify(v) {
    try {
      const s = stringify(v);
      return s === undefined ? String(v) : s;
    } catch (e) {
      return String(v);
    }
  }

  // Legacy V8 prelude entry points; `on_event` is `$any`, `on_any` as well.
  function on_any(fn) {
    return fromAll().when({ $any: fn });
  }

  const definitionGlobals = { fromAll, fromStream, fromStreams, fromCategory, fromCategories, options, on_event: on_any, on_any, log };
  for (const name of Object.keys(definitionGlobals)) {
    Object.defineProperty(global, name, { value: definitionGlobals[name], writable: true, configurable: true, enumerable: false });
  }

  // ---------------------------------------------------------------- execution scope
  let logs = [];
  let emits = [];
  let current = null; // index in the batch of the event being handled
  let currentKey = '';
  let emitEnabled = false;

  function requireEmit() {
    if (!emitEnabled) throw new Error("'emit' is not allowed by the projection/configuration/mode");
  }
  function requireSource() {
    if (current === null) throw new Error('emit, linkTo and copyTo can only be called while an event is being handled');
  }
  function checkStream(stream) {
    if (typeof stream !== 'string' || stream.length === 0) throw new TypeError('streamId: string expected');
  }
  function cleanMetadata(metadata) {
    if (metadata === undefined || metadata === null) return null;
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new TypeError('metadata: object expected');
    const out = {};
    for (const k of Object.keys(metadata)) {
      if (metadata[k] === undefined || k === '$causedBy') continue;
      out[k] = metadata[k];
    }
    return out;
  }
  function pushEmit(stream, type, data, metadata, kind) {
    emits.push([stream, type, data, metadata, kind, current]);
  }
  function emit(stream, eventType, body, metadata) {
    requireEmit();
    requireSource();
    if (arguments.length < 3) throw new TypeError('emit requires streamId, eventType and body');
    checkStream(stream);
    if (typeof eventType !== 'string' || eventType.length === 0) throw new TypeError('eventType: string expected');
    if (body === null || typeof body !== 'object') throw new TypeError('body: non-null object expected');
    pushEmit(stream, eventType, parse(stringify(body)), cleanMetadata(metadata), 'e');
  }
  function linkTo(stream, event, metadata) {
    requireEmit();
    requireSource();
    checkStream(stream);
    if (event === null || typeof event !== 'object' || typeof event.sequenceNumber !== 'number' || typeof event.streamId !== 'string') {
      throw new TypeError('Invalid link to event ' + (event && event.sequenceNumber) + '@' + (event && event.streamId));
    }
    pushEmit(stream, '$>', event.sequenceNumber + '@' + event.streamId, cleanMetadata(metadata), 'r');
  }
  function linkStreamTo(stream, linkedStream, metadata) {
    requireEmit();
    requireSource();
    checkStream(stream);
    checkStream(linkedStream);
    pushEmit(stream, '$@', linkedStream, cleanMetadata(metadata), 'r');
  }
  // copyTo follows the V8 prelude (a documented divergence: Jint made it a no-op): the event's body
  // and type go to `stream`, with its non-`$` metadata merged with the caller's non-`$` keys.
  function copyTo(stream, event, metadata) {
    requireEmit();
    requireSource();
    checkStream(stream);
    if (event === null || typeof event !== 'object' || typeof event.eventType !== 'string') throw new TypeError('copyTo expects an event');
    const merged = {};
    const source = event.metadata || {};
    for (const k of Object.keys(source)) if (k[0] !== '$' || k === '$correlationId') merged[k] = source[k];
    const extra = cleanMetadata(metadata) || {};
    for (const k of Object.keys(extra)) if (k[0] !== '$') merged[k] = extra[k];
    if (event.isJson) pushEmit(stream, event.eventType, event.body === undefined ? null : parse(stringify(event.body)), merged, 'e');
    else pushEmit(stream, event.eventType, event.bodyRaw, merged, 'r');
  }
  const timerKeys = new Set();
  let timers = []; // sorted by deadline, then registration order: [deadline, partition]
  function requestTimer(at) {
    if (!handlers.timer) throw new Error('requestTimer needs a $timer handler in when({...})');
    if (typeof at !== 'number' || !isFinite(at)) throw new TypeError('requestTimer expects an event time in milliseconds');
    const id = at + '\u0000' + currentKey;
    if (timerKeys.has(id)) return;
    timerKeys.add(id);
    let lo = 0;
    let hi = timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (timers[mid][0] <= at) lo = mid + 1;
      else hi = mid;
    }
    timers.splice(lo, 0, [at, currentKey]);
  }

  // The event object (§1.6). The body, the raw texts and the parsed metadata are computed on
  // first use, so a handler that only reads `eventType` costs no parsing. A batch event is a header
  // array [stream, revision, type, id, position, created, kind, bodyEnd, metadata, linkMetadata,
  // originalStream, rawBody] (created null in the text: the previous header's); kind 1 = JSON, 0 =
  // raw, 2 = empty JSON body. Each envelope keeps its
  // batch, so an event a handler holds on to reads its own body and id after the batch is over.
  function Batch(seq, headers, bodies, ascii, withIds) {
    this.seq = seq;
    this.headers = headers;
    // null: the batch came without bodies; they are fetched from the host on the first read.
    this.bodies = bodies;
    this.ascii = ascii;
    this.parsed = null;
    this.withIds = withIds;
    this.ids = null;
  }
  let batch = null;
  // Handlers that read most bodies (partitionBy on a body field, sums) get the whole batch parsed
  // in one JSON.parse on the first read, which costs far less than a parse per body; handlers
  // that read few keep parsing only those. The previous batch decides.
  let bodyReads = 0;
  let readMostBodies = false;
  function bodyAt(b, i) {
    if (b === batch) bodyReads++;
    if (b.parsed !== null) return b.parsed[i];
    if (b.bodies === null && !fetchBodies(b)) return undefined;
    if (b.parsed !== null) return b.parsed[i];
    if (readMostBodies) {
      try {
        b.parsed = parse('[' + b.bodies + ']');
        return b.parsed[i];
      } catch (e) {
        readMostBodies = false;
      }
    }
    const start = i === 0 ? 0 : b.headers[i - 1][7] + 1;
    return parse(b.bodies.slice(start, b.headers[i][7]));
  }
  // Bodies come with a batch only while handlers read them (the host learns it from `bodies` in
  // the output): a batch sent without asks the host for its bodies in one round trip, on the
  // first read. Offsets in the headers are character offsets only for an ASCII text; any other
  // is parsed whole (re-serialised by the host if it does not parse as it is).
  function fetchBodies(b) {
    const text = hostBodies.applySyncPromise(undefined, [b.seq, false]);
    if (text === '') {
      // Only an event kept from an old batch may outlive the host's copy of its bodies.
      if (b === batch) throw new Error('internal: the host no longer has the bodies of batch ' + b.seq);
      return false;
    }
    b.ascii = text[0] === 'A';
    b.bodies = text.slice(1);
    if (!b.ascii) {
      try {
        b.parsed = parse('[' + b.bodies + ']');
      } catch (e) {
        b.parsed = parse('[' + hostBodies.applySyncPromise(undefined, [b.seq, true]).slice(1) + ']');
      }
    }
    return true;
  }
  // Event ids come with a batch only once a handler has read one (the host reports `ids` to
  // itself through the output): until then `eventId` is an accessor that fetches the batch's ids
  // from the host in one round trip, on first use. An event kept past its batch can fetch them
  // while the host still has the batch (a few batches); after that its id reads as null.
  let idsWanted = false;
  function idOf(b, i) {
    idsWanted = true;
    if (b.ids === null) b.ids = parse(hostIds.applySyncPromise(undefined, [b.seq]));
    return b.ids === null ? null : b.ids[i];
  }
  class Envelope {
    #h;
    #i;
    #b;
    #body;
    #parsed = false;
    static #lazyId = {
      get() {
        return idOf(this.#b, this.#i);
      },
      set(value) {
        Object.defineProperty(this, 'eventId', { value, writable: true, enumerable: true, configurable: true });
      },
      enumerable: true,
      configurable: true,
    };
    constructor(h, i, partition) {
      this.streamId = h[0];
      this.sequenceNumber = h[1];
      this.eventType = h[2];
      this.#b = batch;
      this.#i = i;
      if (batch.withIds) this.eventId = h[3];
      else Object.defineProperty(this, 'eventId', Envelope.#lazyId);
      this.isJson = h[6] !== 0;
      this.metadataRaw = h.length > 8 ? h[8] : '';
      this.linkMetadataRaw = h.length > 9 ? h[9] : '';
      this.partition = partition;
      this.position = h[4];
      this.created = h[5];
      this.#h = h;
    }
    get body() {
      if (!this.#parsed) {
        this.#body = this.#h[6] === 1 ? bodyAt(this.#b, this.#i) : undefined;
        this.#parsed = true;
      }
      return this.#body;
    }
    get data() {
      return this.body;
    }
    get bodyRaw() {
      const h = this.#h;
      return h[6] === 1 ? stringify(this.body) : h[6] === 0 ? h[11] : '';
    }
    get metadata() {
      return parseObject(this.metadataRaw);
    }
    get linkMetadata() {
      return this.linkMetadataRaw === '' ? undefined : parseObject(this.linkMetadataRaw);
    }
    get category() {
      const s = this.streamId;
      if (s[0] === '$') return undefined;
      const dash = s.indexOf('-');
      return dash > 0 ? s.slice(0, dash) : undefined;
    }
    toJSON() {
      return {
        streamId: this.streamId,
        sequenceNumber: this.sequenceNumber,
        eventType: this.eventType,
        eventId: this.eventId,
        isJson: this.isJson,
        data: this.data,
        body: this.body,
        bodyRaw: this.bodyRaw,
        metadataRaw: this.metadataRaw,
        metadata: this.metadata,
        linkMetadataRaw: this.linkMetadataRaw,
        linkMetadata: this.linkMetadata,
        partition: this.partition,
        category: this.category,
        position: this.position,
        created: this.created,
      };
    }
  }
  function parseObject(text) {
    if (text === '') return {};
    try {
      return parse(text);
    } catch (e) {
      return undefined;
    }
  }

  // ---------------------------------------------------------------- partitions and state
  // Each partition's entry: s = state, d = dirty since the last flush, n = new (no $created yet),
  // r = the last result written (JSON text), so a Result is written only when it changed, u = used
  // since the last eviction sweep.
  let root = null;
  let shared;
  const cache = new Map();
  const dirty = new Set();
  let cacheLimit = config.partitionCacheSize;
  let handledSinceFlush = 0;
  let emittedSinceFlush = 0;
  // Handled events after which a flush is due: the threshold, or more for a large root state.
  let flushAfter = config.checkpointHandledThreshold;
  // Below this a state is checkpointed every threshold, as Event Store does.
  const LARGE_STATE_CHARS = 256 * 1024;
  // The root state's JSON text from the last flush, until `process` hands it over.
  let rootText = null;
  // Partitions that got their first state since the last flush (no state anywhere before): the
  // host writes them to the partition catalogue with that flush.
  let created = [];
  let maxT = MIN_TIME;
  let wm = MIN_TIME;
  let started = false;

  function init() {
    const s = handlers.init ? handlers.init() : {};
    return s === undefined ? {} : s;
  }
  function newEntry(state, isNew) {
    return { s: state, d: false, n: isNew, r: undefined, u: true };
  }
  function rootEntry() {
    if (root === null) root = newEntry(init(), true);
    return root;
  }
  function entryFor(key) {
    if (key === '') return rootEntry();
    let e = cache.get(key);
    if (e === undefined) throw new Error('internal: partition ' + key + ' was not loaded');
    // A hit only sets the entry's use bit; eviction gives used entries a second chance (the clock
    // approximation of LRU), so the hot path does no Map deletes and inserts.
    e.u = true;
    return e;
  }
  // On a first run (nothing restored), a key that is neither cached nor evicted has no state
  // anywhere yet: it starts from $init without a round trip to the host, which would stall this
  // thread until the host's busy thread answered. Evicted keys are remembered up to a bound; past
  // it every miss asks the host again.
  let fresh = true;
  const evicted = new Set();
  const EVICTED_LIMIT = 1000000;
  function load(all) {
    if (all.length === 0) return;
    let keys = all;
    if (fresh) {
      keys = [];
      for (const key of all) {
        if (evicted.has(key)) {
          keys.push(key);
          evicted.delete(key);
        } else {
          cache.set(key, newEntry(init(), true));
          created.push(key);
        }
      }
      if (keys.length === 0) return;
    }
    const answer = parse(hostLoad.applySyncPromise(undefined, [stringify(keys), batch === null ? 0 : batch.seq]));
    for (const key of keys) {
      const found = answer[key];
      const isNew = found === null || found === undefined;
      cache.set(key, isNew ? newEntry(init(), true) : newEntry(found.s, false));
      if (isNew) created.push(key);
      if (found && found.r !== undefined) cache.get(key).r = found.r;
    }
  }
  function sharedState() {
    if (shared === undefined) shared = handlers.initShared ? handlers.initShared() : {};
    return shared;
  }
  function markDirty(key, entry) {
    if (!entry.d) {
      entry.d = true;
      dirty.add(key);
    }
  }

  function call(fn, entry, event, key) {
    if (def.isBiState) {
      const out = fn([entry.s, sharedState()], event);
      if (Array.isArray(out)) {
        if (out[0] !== undefined) entry.s = out[0];
        if (out[1] !== undefined) shared = out[1];
      }
      if (root === null) root = newEntry({}, false);
      markDirty('', root);
    } else {
      const out = fn(entry.s, event);
      if (out !== undefined) entry.s = out;
    }
    markDirty(key, entry);
  }

  function eventTime(ev) {
    const body = def.eventTimeField === null ? null : ev.body;
    if (body !== null && typeof body === 'object') {
      let v = body;
      for (const part of def.eventTimeField.split('.')) v = v === null || v === undefined ? undefined : v[part];
      if (typeof v === 'number') return v;
      if (typeof v === 'string') {
        const ms = Date.parse(v);
        if (!isNaN(ms)) return ms;
      }
    }
    return ev.created;
  }

  function partitionOf(h, ev) {
    if (def.byStreams) return h.length > 10 && typeof h[10] === 'string' ? h[10] : h[0];
    if (!def.byCustomPartitions) return '';
    const k = partitionFn(ev);
    if (typeof k === 'string') return k;
    if (typeof k === 'number') return String(k);
    // Jint: a null, undefined or non-string key maps the event to no partition: it is skipped.
    return null;
  }

  function fireTimers(upTo, index) {
    while (timers.length > 0 && timers[0][0] <= upTo) {
      const t = timers.shift();
      timerKeys.delete(t[0] + '\u0000' + t[1]);
      current = index;
      currentKey = t[1];
      const entry = entryFor(t[1]);
      if (entry.n) entry.n = false;
      call(handlers.timer, entry, { at: t[0], watermark: upTo, partition: t[1] }, t[1]);
    }
  }

  function advanceTime(ev, index) {
    const t = eventTime(ev);
    if (t > maxT) {
      maxT = t;
      const next = maxT - def.allowedLateness;
      if (next > wm) {
        wm = next;
        if (handlers.timer) fireTimers(wm, index);
      }
    }
  }

  function handle(h, ev, index, key) {
    ev.partition = key;
    current = index;
    currentKey = key;
    const entry = entryFor(key);
    if (entry.n) {
      entry.n = false;
      for (const created of handlers.created) {
        // The return value of $created is ignored (Jint); it may mutate the state and emit.
        if (def.isBiState) created([entry.s, sharedState()], ev);
        else created(entry.s, ev);
      }
      markDirty(key, entry);
    }
    if (h[6] === 2) return; // an empty JSON body is not passed to handlers
    const fn = handlers.byType[h[2]] || handlers.any;
    if (fn) call(fn, entry, ev, key);
    else if (!def.definesFold) {
      // No when(): the state becomes the event body.
      entry.s = h[6] === 1 ? ev.body : ev.bodyRaw;
      markDirty(key, entry);
    }
  }

  function handleDeleted(h, index) {
    const key = h[0];
    current = index;
    currentKey = key;
    const entry = entryFor(key);
    const soft = h[6] === 4;
    // Both documented shapes at once: V8's (state, {partition, isSoftDeleted}) and Jint's
    // (state, null-ish, partition, isSoftDeleted) read the same arguments here.
    handlers.deleted(entry.s, { partition: key, isSoftDeleted: soft }, key, soft);
    markDirty(key, entry);
  }

  function lineOf(err) {
    const stack = err && typeof err.stack === 'string' ? err.stack : '';
    const re = new RegExp(escapeRegExp(userFile) + ':(\\d+):(\\d+)');
    const m = re.exec(stack);
    return m ? { line: Number(m[1]), column: Number(m[2]) } : null;
  }
  function escapeRegExp(s) {
    return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }

  function result(state) {
    let value = state;
    for (const t of transforms) {
      if (value === null || value === undefined) return null;
      if (t.kind === 'transform') value = t.fn(value);
      else value = t.fn(value) === true ? value : null;
    }
    return value === undefined ? null : value;
  }

  function flush() {
    const parts = [];
    let rootOut;
    // The length of the root state's JSON text, which follows the answer (see `process`).
    let rootChars;
    for (const key of dirty) {
      const entry = key === '' ? root : cache.get(key);
      if (!entry) continue;
      entry.d = false;
      let res;
      if (def.producesResults) {
        const value = result(def.isBiState && key === '' ? shared : entry.s);
        const text = value === null ? null : stringify(value);
        if (text !== entry.r) {
          entry.r = text;
          res = text;
        }
      }
      if (key === '') {
        // The root state leaves as its own JSON text after the batch's output (see `process`):
        // the host stores that text as it is, without parsing a state that may be MBs.
        rootText = stringify(entry.s);
        if (rootText === undefined) rootText = 'null';
        rootOut = res === undefined ? [null] : [null, res];
        rootChars = rootText.length;
        // A large state is handed over less often: on average at most
        // `checkpointStateBytesPerEvent` bytes of it per handled event (sandbox.ts says why).
        const large = config.checkpointStateBytesPerEvent > 0 && rootText.length >= LARGE_STATE_CHARS;
        flushAfter = Math.max(config.checkpointHandledThreshold, large ? Math.ceil(rootText.length / config.checkpointStateBytesPerEvent) : 0);
      } else parts.push(res === undefined ? [key, entry.s] : [key, entry.s, res]);
    }
    dirty.clear();
    handledSinceFlush = 0;
    emittedSinceFlush = 0;
    const out = { root: rootOut, rootChars, shared: def.isBiState ? sharedState() : undefined, parts, timers, wm, maxT };
    if (created.length > 0) {
      out.created = created;
      created = [];
    }
    if (pageLimits !== null && parts.length > pageLimits.above) {
      // Many changed partitions: their states leave as the text of the host's state pages, so
      // the host neither parses nor re-serialises a state per partition. `parts` keeps only the
      // partitions whose result changed (the host writes those results).
      pageTexts = statePages(parts, pageLimits.chars);
      const pages = new Array(pageTexts.length / 2);
      for (let i = 0; i < pages.length; i++) pages[i] = [pageTexts[2 * i], pageTexts[2 * i + 1].length];
      out.pages = pages;
      out.parts = parts.filter(function (p) {
        return p.length === 3;
      });
    }
    return out;
  }

  // Set by `process` for one call: flushes changing more partitions than `above` hand their
  // states over as page texts of at most `chars` characters (a larger state gets a page of its own).
  let pageLimits = null;
  // The flush's pages as [keys, text, keys, text, …] until `process` appends the texts to its answer.
  let pageTexts = null;

  function statePages(parts, chars) {
    const out = [];
    const pairs = new Array(parts.length);
    const keys = new Array(parts.length);
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      pairs[i] = p.length === 2 ? p : [p[0], p[1]];
      keys[i] = p[0];
    }
    const whole = stringify(pairs);
    if (whole.length <= chars) {
      out.push(keys, whole);
      return out;
    }
    // Over a page: each pair serialised on its own, packed into pages as the host would.
    let pageKeys = [];
    let texts = [];
    let size = 0;
    for (let i = 0; i < pairs.length; i++) {
      const text = stringify(pairs[i]);
      if (pageKeys.length > 0 && size + text.length > chars) {
        out.push(pageKeys, '[' + texts.join(',') + ']');
        pageKeys = [];
        texts = [];
        size = 0;
      }
      pageKeys.push(keys[i]);
      texts.push(text);
      size += text.length + 1;
    }
    if (pageKeys.length > 0) out.push(pageKeys, '[' + texts.join(',') + ']');
    return out;
  }

  function evict() {
    if (cache.size <= cacheLimit) return;
    const target = Math.floor(cacheLimit * 0.9);
    for (const [key, entry] of cache) {
      if (cache.size <= target) break;
      if (entry.u) {
        // Used since the last sweep: moved to the end, it is looked at again only after the rest.
        entry.u = false;
        cache.delete(key);
        cache.set(key, entry);
      } else if (!entry.d) {
        cache.delete(key);
        if (fresh) {
          if (evicted.size >= EVICTED_LIMIT) {
            fresh = false;
            evicted.clear();
          } else evicted.add(key);
        }
      }
    }
  }

  function disableStringCompilation() {
    const refuse = function () {
      throw new EvalError('Code generation from strings is disabled in projections');
    };
    const protos = [
      Function.prototype,
      Object.getPrototypeOf(async function () {}),
      Object.getPrototypeOf(function* () {}),
      Object.getPrototypeOf(async function* () {}),
    ];
    for (const p of protos) Object.defineProperty(p, 'constructor', { value: refuse, writable: false, configurable: false });
    Object.defineProperty(global, 'eval', { value: refuse, writable: false, configurable: false });
    Object.defineProperty(global, 'Function', { value: refuse, writable: false, configurable: false });
  }

  // Called by the host once the user's script has run.
  function definition() {
    for (const name of Object.keys(definitionGlobals)) delete global[name];
    const executionGlobals = { emit, linkTo, linkStreamTo, copyTo, log, requestTimer };
    for (const name of Object.keys(executionGlobals)) {
      Object.defineProperty(global, name, { value: executionGlobals[name], writable: false, configurable: false, enumerable: false });
    }
    disableStringCompilation();
    const out = {};
    for (const k of Object.keys(def)) out[k] = def[k];
    out.hasCreated = handlers.created.length > 0;
    return stringify(out);
  }

  // Restores what a checkpoint saved: the root (or shared) state, timers and event time.
  function restore(text, emitAllowed) {
    emitEnabled = emitAllowed;
    fresh = text === '';
    if (text === '') return;
    const c = parse(text);
    if (c.root !== undefined) root = newEntry(c.root, false);
    if (c.shared !== undefined) shared = c.shared;
    if (Array.isArray(c.timers)) {
      timers = c.timers;
      for (const t of timers) timerKeys.add(t[0] + '\u0000' + t[1]);
    }
    if (typeof c.wm === 'number') wm = c.wm;
    if (typeof c.maxT === 'number') maxT = c.maxT;
    if (c.rootResult !== undefined && root !== null) root.r = c.rootResult;
  }

  // One batch: `headers` and `bodies` as BatchEncoder writes them; returns the JSON text the host reads.
  function process(headersText, bodiesText, ascii, flushRequested, seq, withIds, pagesAbove, pageChars) {
    logs = [];
    emits = [];
    pageLimits = typeof pagesAbove === 'number' && typeof pageChars === 'number' ? { above: pagesAbove, chars: pageChars } : null;
    pageTexts = null;
    rootText = null;
    let events;
    try {
      events = parse(headersText);
      // A created time of null is the previous header's (the encoder writes each commit's once).
      for (let i = 1; i < events.length; i++) if (events[i][5] === null) events[i][5] = events[i - 1][5];
      batch = new Batch(seq, events, bodiesText, ascii, withIds !== false);
      // Without character offsets every body is parsed now; with them, when a handler reads it.
      if (bodiesText !== null && !ascii) batch.parsed = parse('[' + bodiesText + ']');
    } catch (e) {
      batch = null;
      return '{"reencode":true}';
    }
    const envs = new Array(events.length);
    const n = events.length;
    let handled = 0;
    let fault = null;
    let i = 0;
    try {
      let keys = null;
      if (def.byStreams || def.byCustomPartitions) {
        // Partition keys first, so every state the batch needs is loaded in one host round trip.
        keys = new Array(n);
        const missing = new Set();
        for (i = 0; i < n; i++) {
          const h = events[i];
          current = i;
          const ev = (envs[i] = new Envelope(h, i, ''));
          const k = h[6] >= 3 ? h[0] : partitionOf(h, ev);
          keys[i] = k;
          if (k !== null && k !== '' && !cache.has(k)) missing.add(k);
        }
        if (handlers.timer && timers.length > 0) {
          let t = maxT;
          for (i = 0; i < n; i++) if (events[i][6] < 3) t = Math.max(t, eventTime(envs[i]));
          const until = t - def.allowedLateness;
          for (const timer of timers) {
            if (timer[0] > until) break;
            if (timer[1] !== '' && !cache.has(timer[1])) missing.add(timer[1]);
          }
        }
        load(Array.from(missing));
      }
      for (i = 0; i < n; i++) {
        const h = events[i];
        if (h[6] >= 3) {
          if (handlers.deleted) {
            handleDeleted(h, i);
            handled++;
          }
          continue;
        }
        const ev = envs[i] || new Envelope(h, i, '');
        advanceTime(ev, i);
        const key = keys === null ? '' : keys[i];
        if (key === null) continue;
        handle(h, ev, i, key);
        handled++;
      }
    } catch (err) {
      const where = lineOf(err);
      const message = err instanceof Error ? err.message : safeStringify(err);
      fault = { message, index: i, line: where ? where.line : null, column: where ? where.column : null, stack: err && err.stack ? String(err.stack) : null };
    }
    current = null;
    readMostBodies = bodyReads * 2 > n;
    const out = { n, h: handled, emits, logs, ids: idsWanted, bodies: bodyReads > 0 };
    bodyReads = 0;
    batch = null;
    handledSinceFlush += handled;
    emittedSinceFlush += emits.length;
    if (fault !== null) out.fault = fault;
    else {
      // Emitted events wait for the next checkpoint like states do (the host keeps them and writes
      // them with it), so a projection that emits per event commits every few thousand events,
      // not every batch; a checkpoint also comes once that many events are waiting (with a large
      // state, as many as handled events, up to 8 thresholds: the host holds them meanwhile).
      const due = handledSinceFlush >= flushAfter || emittedSinceFlush >= Math.min(flushAfter, 8 * config.checkpointHandledThreshold);
      if (flushRequested || due || dirty.size >= config.maxDirtyPartitions) out.flush = flush();
      evict();
    }
    out.cached = cache.size;
    if (pageTexts === null && rootText === null) return stringify(out);
    // Texts the host keeps as they are follow the answer: the root state's JSON, then the state
    // pages'. The answer is then framed by newlines (JSON.stringify never writes one), so the host
    // tells the two layouts apart by the first character and finds the answer's end without
    // scanning the texts; their lengths are in the answer.
    let text = '\n' + stringify(out) + '\n';
    if (rootText !== null) text += rootText;
    if (pageTexts !== null) for (let i = 1; i < pageTexts.length; i += 2) text += pageTexts[i];
    rootText = null;
    pageTexts = null;
    return text;
  }

  function getState(key) {
    if (key === '') {
      if (def.isBiState && (def.byStreams || def.byCustomPartitions)) return stringify({ s: sharedState() });
      return stringify({ s: rootEntry().s, r: root.r });
    }
    if (!cache.has(key)) return null;
    const e = cache.get(key);
    return stringify({ s: e.s, r: e.r });
  }

  function progress() {
    return current === null ? -1 : current;
  }

  Object.defineProperty(global, '__telltale', { value: Object.freeze({ definition, restore, process, getState, progress }), writable: false, configurable: false });
}
