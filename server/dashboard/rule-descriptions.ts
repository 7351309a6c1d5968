// A deployed rule's description, for the dashboard to draw: the projection's source runs once in a
// throw-away isolate (the user's code never runs in the server's own V8), with the patterns/
// library loaded as in a real projection and the selectors (fromAll, fromCategory, …) as inert
// stand-ins, so only definition-time code runs and no handler does. Every rule builder the script
// makes is tracked; the ones no other builder was made from are the finished rules, and each is
// asked to `explain()` itself (the immutable description with a `kind` per node).
import ivm from '../../engine/isolated-vm.js';
import { isolateBundleSource } from '../../engine/projections/sandbox.js';

export interface RuleDescriptions {
  /** `PatternBuilder.explain()` / `WindowBuilder.explain()` results, in the order the rules were made. */
  readonly rules: readonly Record<string, unknown>[];
  /** Why the script could not be described (a throw at definition time, a timeout). */
  readonly error?: string;
}

const MEMORY_LIMIT_MIB = 32;
const TIMEOUT_MS = 1000;

// Runs inside the isolate, after the patterns bundle.
const TRACKER = `(function (g) {
  'use strict';
  var lib = g.telltale && typeof g.telltale === 'object' ? g.telltale : {};
  var made = [], extended = new Set();
  function track(Builder) {
    if (typeof Builder !== 'function') return;
    var proto = Builder.prototype;
    Object.getOwnPropertyNames(proto).forEach(function (m) {
      var d = Object.getOwnPropertyDescriptor(proto, m);
      if (m === 'constructor' || !d || typeof d.value !== 'function') return;
      var original = d.value;
      proto[m] = function () {
        var r = original.apply(this, arguments);
        if (r instanceof Builder && r !== this) { extended.add(this); made.push(r); }
        return r;
      };
    });
  }
  track(lib.PatternBuilder);
  track(lib.WindowBuilder);
  var copy = Object.assign({}, lib);
  ['pattern', 'windowed'].forEach(function (k) {
    var f = lib[k];
    if (typeof f !== 'function') return;
    copy[k] = function () { var r = f.apply(this, arguments); made.push(r); return r; };
  });
  g.telltale = copy;
  Object.keys(copy).forEach(function (k) { g[k] = copy[k]; });
  // The definition scope, inert: every selector and option returns something that takes any call.
  function inert() {
    return new Proxy(function () {}, { get: function (_t, k) { return k === Symbol.toPrimitive || k === 'then' ? undefined : inert(); }, apply: function () { return inert(); } });
  }
  ['fromAll', 'fromCategory', 'fromCategories', 'fromStream', 'fromStreams', 'fromStreamsMatching', 'options', 'on_any', 'on_event', 'on_raw',
   'emit', 'linkTo', 'copyTo', 'linkStreamTo', 'log', 'requestTimer'].forEach(function (k) { g[k] = inert(); });
  g.__describeRules = function () {
    var seen = new Set(), out = [];
    made.forEach(function (b) {
      if (extended.has(b) || seen.has(b)) return;
      seen.add(b);
      var d = b.explain();
      if (d && d.kind === 'pattern' && (!d.nodes || d.nodes.length === 0)) return;
      out.push(d);
    });
    return JSON.stringify(out);
  };
})(globalThis);`;

const cache = new Map<string, RuleDescriptions>();

/** Describes the rules a projection's source defines. Cached by source text. */
export async function describeRules(name: string, source: string): Promise<RuleDescriptions> {
  const cached = cache.get(source);
  if (cached !== undefined) return cached;
  const isolate = new ivm.Isolate({ memoryLimit: MEMORY_LIMIT_MIB });
  let result: RuleDescriptions;
  try {
    const context = await isolate.createContext();
    await (await isolate.compileScript(isolateBundleSource(), { filename: 'telltale-patterns.js' })).run(context, { timeout: 5000 });
    await context.eval(TRACKER, { timeout: TIMEOUT_MS });
    let error: string | undefined;
    try {
      // `void 0` last: the script's completion value (often an inert stand-in, a Proxy) must not
      // be copied out of the isolate, which isolated-vm cannot do.
      await (await isolate.compileScript(`${source}\n;void 0;`, { filename: `${name}.js` })).run(context, { timeout: TIMEOUT_MS });
    } catch (e) {
      // Rules made before the throw are still shown.
      error = (e as Error).message;
    }
    const json = (await context.eval('__describeRules()', { timeout: TIMEOUT_MS })) as string;
    result = { rules: JSON.parse(json) as Record<string, unknown>[], ...(error !== undefined ? { error } : {}) };
  } catch (e) {
    result = { rules: [], error: (e as Error).message };
  } finally {
    isolate.dispose();
  }
  if (cache.size > 100) cache.clear();
  cache.set(source, result);
  return result;
}
