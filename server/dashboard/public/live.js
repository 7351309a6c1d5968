// What the live feed keeps up to date for every view: per-second rates (five minutes), the
// projections' figures, and the newest alerts. Views subscribe and re-draw on changes.

const WINDOW = 300;

class Live {
  rates = new Map(); // t (s) → { t, events, alerts }
  projections = [];
  alerts = [];
  head = '';
  #listeners = new Set();

  /** `fn(kind, payload)` with kind 'reset' | 'tick' | 'alert'; returns the unsubscribe function. */
  subscribe(fn) {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(kind, payload) {
    for (const fn of this.#listeners) fn(kind, payload);
  }

  reset(overview) {
    this.rates.clear();
    for (const r of overview.rates) this.rates.set(r.t, r);
    this.projections = overview.projections;
    this.alerts = overview.alerts;
    this.head = overview.head;
    this.#emit('reset');
  }

  tick({ rates, projections, head }) {
    for (const r of rates) this.rates.set(r.t, r);
    const newest = Math.max(...this.rates.keys());
    for (const t of this.rates.keys()) if (t <= newest - WINDOW) this.rates.delete(t);
    this.projections = projections;
    this.head = head;
    this.#emit('tick');
  }

  alert(a) {
    if (this.alerts.some((x) => x.id === a.id)) return;
    this.alerts = [a, ...this.alerts].slice(0, 50);
    this.#emit('alert', a);
  }

  /**
   * [[t…], [events…], [alerts…]], one point a second, the current (partial) second left out: the
   * last five minutes, or less when the store has been quiet before (at least one minute).
   */
  series() {
    const now = Math.floor(Date.now() / 1000) - 1;
    let first = now - 60;
    for (const [t, r] of this.rates) if ((r.events > 0 || r.alerts > 0) && t - 5 < first) first = t - 5;
    const ts = [], ev = [], al = [];
    for (let t = Math.max(now - WINDOW + 1, first); t <= now; t++) {
      const r = this.rates.get(t);
      ts.push(t);
      ev.push(r ? r.events : 0);
      al.push(r ? r.alerts : 0);
    }
    return [ts, ev, al];
  }
}

export const live = new Live();
