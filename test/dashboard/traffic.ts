// A generator for the dashboard tests: orders and card charges, each charge caused by its order and
// sharing its correlation id, appended a few times a second; and the pattern a card-testing rule
// looks for (three tiny charges, then a big one) on demand.
import { randomUUID } from 'node:crypto';
import type { Store } from '../../store/index.js';

export const CARD_TESTING_RULE = `// Three tiny charges (< 2) then a big one (> 500) on the same card within 10 minutes.
const cardTesting = pattern('card-testing')
  .keyBy((e) => e.data.card)
  .remember((e) => ({ amount: e.data.amount }))
  .begin('tiny', (e) => e.data.amount < 2).times(3)
  .followedBy('big', (e) => e.data.amount > 500)
  .within('10m');

fromCategory('card')
  .foreachStream()
  .when({
    $init: () => ({ charges: 0, match: null }),
    Charge: (s, e) => {
      s.charges++;
      const out = cardTesting.advance(s.match, e);
      s.match = out.state;
      for (const m of out.matches) emit('alerts-card-testing', 'CardTestingAlert', m);
      return s;
    },
  });
`;

/** A projection that faults on one amount, to show how a fault looks. */
export const FRAGILE_PROJECTION = `fromCategory('card').when({
  $init: () => ({ total: 0 }),
  Charge: (s, e) => {
    if (e.data.amount === 13.13) throw new Error('cannot handle an amount of 13.13');
    s.total += e.data.amount;
    return s;
  },
});
`;

export class Traffic {
  #timer: NodeJS.Timeout | undefined;
  #n = 0;
  #busy = false;
  appended = 0;

  constructor(readonly store: Store) {}

  /** Appends `perTick` orders, each with a charge, every `everyMs`. */
  start(perTick = 5, everyMs = 100): void {
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      void this.#tick(perTick).finally(() => (this.#busy = false));
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    while (this.#busy) await new Promise((r) => setTimeout(r, 10));
  }

  async #tick(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const k = this.#n++;
      const card = `c${k % 40}`;
      await this.order(`order-${k}`, card, [20 + (k % 300)]);
    }
  }

  /** An order and its charges, each caused by the one before: one correlation. Returns the ids. */
  async order(orderStream: string, card: string, amounts: readonly number[]): Promise<{ correlationId: string; ids: string[] }> {
    const orderId = randomUUID();
    await this.store.appendToStream(orderStream, [{ id: orderId, type: 'OrderPlaced', data: { card, total: amounts.reduce((a, b) => a + b, 0) }, metadata: { $correlationId: orderId } }]);
    const ids = [orderId];
    let cause = orderId;
    for (const amount of amounts) {
      const id = randomUUID();
      await this.store.appendToStream(`card-${card}`, [{ id, type: 'Charge', data: { card, amount, order: orderStream }, metadata: { $correlationId: orderId, $causationId: cause } }]);
      ids.push(id);
      cause = id;
    }
    this.appended += 1 + amounts.length;
    return { correlationId: orderId, ids };
  }

  /** What the card-testing rule catches: three tiny charges and a big one, on a fresh card. */
  attack(card: string): Promise<{ correlationId: string; ids: string[] }> {
    return this.order(`order-attack-${card}`, card, [1, 1.5, 0.5, 900]);
  }
}
