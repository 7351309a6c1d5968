// Generates a bank's card, login and transfer traffic for a stretch of days, with fraud of each
// kind the sample rules look for injected at chosen rates. Every injected event carries its label
// in metadata (`fraudLabel: { rule, caseId }`), and every case is listed with the time from which
// it can be detected, so an evaluation can score each rule. The same options always give the same
// events, in the same order, with the same ids.
import { Prng } from './prng.js';
import { buildWorld, CITIES, FAR_CITIES, ipFor, km, type City, type Customer, type Merchant, type World } from './world.js';

export const FRAUD_RULES = [
  'small-then-large',
  'atm-test-then-large',
  'two-large-close',
  'auth-velocity',
  'rolling-spend-cap',
  'payer-beneficiary',
  'failed-logins-then-success',
  'impossible-travel',
  'signup-rate-per-ip',
  'amount-vs-average',
  'warning-then-pin-change',
  'failure-ratio',
  'account-takeover-chain',
  'auth-without-settlement',
] as const;
export type FraudRule = (typeof FRAUD_RULES)[number];

export interface FraudLabel {
  readonly rule: FraudRule;
  readonly caseId: string;
}

export interface GeneratedEvent {
  readonly streamId: string;
  readonly type: string;
  readonly id: string;
  readonly data: Record<string, unknown> & { readonly at: string };
  readonly metadata?: { readonly fraudLabel: FraudLabel };
  /** Event time, ms since the epoch (the same instant as `data.at`). */
  readonly time: number;
  /** When the event reaches the bank: its event time, or a few seconds later for a late one. */
  readonly deliverAt: number;
}

export interface FraudCase {
  readonly rule: FraudRule;
  readonly caseId: string;
  /** What the rule keys on (card, customer, IP, merchant, payer->beneficiary, authorisation). */
  readonly key: string;
  readonly eventIds: readonly string[];
  readonly start: number;
  /** The event time from which the fraud is detectable: its last event, or a deadline for an absence. */
  readonly detectableAt: number;
}

export interface TrafficOptions {
  /** @defaultValue 1 */
  readonly seed?: number;
  /** @defaultValue 2000 */
  readonly customers?: number;
  /** @defaultValue 3 */
  readonly days?: number;
  /** Midnight UTC of the first day. @defaultValue 2026-03-02 */
  readonly start?: number;
  /** Injected cases per rule (a number for all, or per rule). @defaultValue 25 */
  readonly casesPerRule?: number | Partial<Record<FraudRule, number>>;
  /** Share of events delivered late (out of order). @defaultValue 0.01 */
  readonly lateShare?: number;
  /** The most an event is late, ms. @defaultValue 20000 */
  readonly maxLateMs?: number;
  /**
   * Fraud played out in minutes instead of hours or days (the live demo): an ATM cash-out, a
   * spend-cap run, a payer->beneficiary series, a warning then PIN change all within minutes.
   * @defaultValue false
   */
  readonly compressed?: boolean;
}

export interface Traffic {
  /** In delivery order. */
  readonly events: readonly GeneratedEvent[];
  readonly cases: readonly FraudCase[];
  readonly world: World;
  readonly start: number;
  readonly end: number;
}

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

/** Relative activity per local hour of the day: quiet at night, peaks at lunch and in the evening. */
const HOUR_WEIGHTS = [0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.2, 1.3, 1.4, 1.6, 2.0, 1.8, 1.4, 1.3, 1.4, 1.7, 2.0, 1.9, 1.6, 1.2, 0.8, 0.4];

/** Roughly how many events a customer makes a day, to size a run by event count. */
export const EVENTS_PER_CUSTOMER_DAY = 7.5;

const DELAYED_SETTLEMENT_MCCS = new Set(['7011', '7512']);

export function generateTraffic(options: TrafficOptions = {}): Traffic {
  const seed = options.seed ?? 1;
  const days = options.days ?? 3;
  const start = options.start ?? Date.UTC(2026, 2, 2);
  const end = start + days * D;
  const lateShare = options.lateShare ?? 0.01;
  const maxLate = options.maxLateMs ?? 20 * S;
  const root = new Prng(seed);
  const world = buildWorld(root.fork(), options.customers ?? 2000);
  const ids = root.fork();
  const events: GeneratedEvent[] = [];
  const cases: FraudCase[] = [];

  const iso = (t: number) => new Date(t).toISOString();
  const push = (streamId: string, type: string, time: number, data: Record<string, unknown>, label?: FraudLabel): GeneratedEvent => {
    const e: GeneratedEvent = { streamId, type, id: ids.uuid(), time, deliverAt: time, data: { ...data, at: iso(time) }, ...(label ? { metadata: { fraudLabel: label } } : {}) };
    if (time >= start && time < end) events.push(e);
    return e;
  };
  const localTime = (rnd: Prng, day: number, city: City) => start + day * D + (rnd.weighted(HOUR_WEIGHTS) - city.utcOffset) * H + rnd.int(0, H - 1);
  const money = (x: number) => Math.round(x * 100) / 100;
  const near = (rnd: Prng, p: { lat: number; lon: number }) => ({ lat: Math.round((p.lat + rnd.uniform(-0.02, 0.02)) * 1e4) / 1e4, lon: Math.round((p.lon + rnd.uniform(-0.03, 0.03)) * 1e4) / 1e4 });

  // ---------------------------------------------------------------- ordinary traffic
  const normal = root.fork();
  let authSeq = 0;
  const authorise = (rnd: Prng, customer: Customer, card: string, merchant: Merchant, amount: number, time: number, where: { lat: number; lon: number; city: string }, label?: FraudLabel, opts: { approved?: boolean; settle?: boolean | number } = {}) => {
    const approved = opts.approved ?? rnd.chance(0.985);
    const authId = `auth-${++authSeq}`;
    const e = push(`card-${card}`, 'CardAuthorized', time, {
      authId, card, customer: customer.id, merchant: merchant.id, mcc: merchant.mcc, amount: money(amount), currency: 'EUR',
      channel: merchant.city === null ? 'ecom' : 'pos', approved, city: where.city, lat: where.lat, lon: where.lon,
    }, label);
    if (approved && opts.settle !== false) {
      const delay = typeof opts.settle === 'number' ? opts.settle : DELAYED_SETTLEMENT_MCCS.has(merchant.mcc) ? rnd.uniform(26 * H, 72 * H) : rnd.uniform(H, 20 * H);
      push(`card-${card}`, 'CardSettled', time + Math.round(delay), { authId, card, merchant: merchant.id, amount: money(amount) }, label);
    }
    return e;
  };

  for (const customer of world.customers) {
    const rnd = normal.fork();
    // 2% travel once: a flight to another city, after which they pay and log in from there.
    let trip: { depart: number; arrive: number; city: City } | undefined;
    if (rnd.chance(0.02)) {
      const city = rnd.pick(CITIES.filter((c) => c !== customer.home));
      const depart = localTime(rnd, rnd.int(0, days - 1), customer.home);
      trip = { depart, arrive: depart + Math.round((km(customer.home, city) / 700 + 1.5) * H), city };
    }
    const whereAt = (t: number) => {
      if (trip && t >= trip.arrive) return { ...near(rnd, trip.city), city: trip.city.name, home: trip.city };
      return { ...near(rnd, customer), city: customer.home.name, home: customer.home };
    };
    const inFlight = (t: number) => trip !== undefined && t >= trip.depart && t < trip.arrive;
    for (let day = 0; day < days; day++) {
      // Card payments.
      for (let n = rnd.poisson(customer.paymentsPerDay); n > 0; n--) {
        const t = localTime(rnd, day, customer.home);
        if (inFlight(t)) continue;
        const where = whereAt(t);
        const online = rnd.chance(0.2);
        const merchant = rnd.pick(world.merchantsByCity.get(online ? '' : where.home.name) ?? world.merchants);
        let amount = Math.max(1, rnd.lognormal(customer.spend * merchant.ticket, 0.5));
        if (online && rnd.chance(0.005)) amount = rnd.uniform(0, 0.99); // a card check by a subscription service
        if (rnd.chance(0.003)) amount *= rnd.uniform(6, 20); // a once-in-a-while big purchase
        authorise(rnd, customer, rnd.pick(customer.cards).id, merchant, amount, t, where);
      }
      // Cash.
      for (let n = rnd.poisson(0.15); n > 0; n--) {
        const t = localTime(rnd, day, customer.home);
        if (inFlight(t)) continue;
        const where = whereAt(t);
        const card = rnd.pick(customer.cards).id;
        push(`card-${card}`, 'AtmWithdrawal', t, { card, customer: customer.id, atm: `atm-${where.city}-${rnd.int(1, 40)}`, amount: rnd.pick([20, 40, 50, 60, 80, 100, 150, 200, 300]), city: where.city, lat: where.lat, lon: where.lon });
      }
      // Online banking: logins, a mistyped password now and then.
      for (let n = rnd.poisson(customer.loginsPerDay); n > 0; n--) {
        const t = localTime(rnd, day, customer.home);
        if (inFlight(t)) continue;
        const where = whereAt(t);
        const device = rnd.pick(customer.devices);
        const login = { customer: customer.id, ip: customer.ip, device, city: where.city, lat: where.lat, lon: where.lon };
        const typos = rnd.chance(0.04) ? rnd.int(1, 2) : rnd.chance(0.003) ? rnd.int(3, 4) : 0;
        for (let i = typos; i > 0; i--) push(`customer-${customer.id}`, 'LoginFailed', t - i * rnd.int(5, 20) * S, { ...login, reason: 'bad-password' });
        push(`customer-${customer.id}`, 'LoginSucceeded', t, login);
      }
      // Transfers: consumers pay people now and then; small businesses pay suppliers.
      for (let n = rnd.poisson(customer.business ? 0.6 : 0.1); n > 0; n--) {
        const t = localTime(rnd, day, customer.home);
        const amount = customer.business ? rnd.lognormal(40_000, 0.6) : rnd.lognormal(250, 0.8);
        push(`account-${customer.account}`, 'TransferInitiated', t, { transferId: ids.uuid(), customer: customer.id, payer: customer.account, beneficiary: rnd.pick(customer.payees.slice(0, customer.business ? 2 : 5)), amount: money(amount) });
      }
      // Security events: forgotten passwords, new phones, PIN changes, the bank's own warnings.
      if (rnd.chance(0.002)) {
        const t = localTime(rnd, day, customer.home);
        push(`customer-${customer.id}`, 'PasswordReset', t, { customer: customer.id, channel: 'email' });
        if (rnd.chance(0.95)) push(`customer-${customer.id}`, 'CustomerConfirmed', t + rnd.int(20, 120) * S, { customer: customer.id, channel: 'sms' });
        if (rnd.chance(0.3)) push(`customer-${customer.id}`, 'NewDeviceRegistered', t + rnd.int(3, 50) * M, { customer: customer.id, device: `dev-${customer.id}-new` });
      }
      if (rnd.chance(0.002)) {
        const t = localTime(rnd, day, customer.home);
        push(`customer-${customer.id}`, 'NewDeviceRegistered', t, { customer: customer.id, device: `dev-${customer.id}-${day}` });
        push(`customer-${customer.id}`, 'CustomerConfirmed', t + rnd.int(20, 120) * S, { customer: customer.id, channel: 'sms' });
      }
      if (rnd.chance(0.001)) {
        const card = rnd.pick(customer.cards).id;
        push(`card-${card}`, 'PinChanged', localTime(rnd, day, customer.home), { card, customer: customer.id, channel: rnd.pick(['atm', 'app']) });
      }
      if (rnd.chance(0.0005)) {
        const card = rnd.pick(customer.cards).id;
        push(`card-${card}`, 'FraudWarningIssued', localTime(rnd, day, customer.home), { card, customer: customer.id, channel: 'sms' });
      }
    }
  }
  // New customers signing up: a residential address each, now and then an office's shared one.
  const signups = normal.fork();
  const offices = Array.from({ length: 20 }, () => ipFor(signups));
  let signupSeq = 0;
  for (let day = 0; day < days; day++) {
    for (let n = signups.poisson((150 * world.customers.length) / 2000); n > 0; n--) {
      const t = localTime(signups, day, signups.pick(CITIES));
      const office = signups.chance(0.1);
      const ip = office ? signups.pick(offices) : ipFor(signups);
      for (let k = office && signups.chance(0.3) ? signups.int(2, 3) : 1; k > 0; k--) {
        const id = `new-${++signupSeq}`;
        push(`signup-${id}`, 'SignedUp', t + k * signups.int(30, 240) * S, { customer: id, ip, email: `${id}@example.com` });
      }
    }
  }

  // ---------------------------------------------------------------- injected fraud
  const fraud = root.fork();
  const compressed = options.compressed === true;
  const gap = (rnd: Prng, minutesCompressed: [number, number], normalRange: [number, number]) => (compressed ? rnd.uniform(minutesCompressed[0], minutesCompressed[1]) * M : rnd.uniform(normalRange[0], normalRange[1]));
  const casesPer = (rule: FraudRule) => (typeof options.casesPerRule === 'number' ? options.casesPerRule : options.casesPerRule?.[rule] ?? 25);
  /** How long before the end a case must start to be complete (and provable) before the traffic ends. */
  const margin: Record<FraudRule, number> = {
    'small-then-large': 10 * M, 'atm-test-then-large': compressed ? 10 * M : D, 'two-large-close': 20 * M, 'auth-velocity': 5 * M, 'rolling-spend-cap': compressed ? 10 * M : D,
    'payer-beneficiary': compressed ? 10 * M : 2 * D, 'failed-logins-then-success': 10 * M, 'impossible-travel': 2 * H, 'signup-rate-per-ip': 20 * M, 'amount-vs-average': 10 * M,
    'warning-then-pin-change': compressed ? 10 * M : D, 'failure-ratio': 5 * M, 'account-takeover-chain': 2 * H, 'auth-without-settlement': 26 * H,
  };
  const victims = world.customers.filter((c) => !c.business);
  const active = victims.filter((c) => c.paymentsPerDay >= 2.5);
  const online = world.merchantsByCity.get('') ?? [];
  const farAway = () => fraud.pick(FAR_CITIES);
  let caseSeq = 0;
  let payments: Map<string, number[]> | undefined;
  const paymentsByCard = () => {
    if (payments === undefined) {
      payments = new Map();
      for (const e of events) if (e.type === 'CardAuthorized' && e.data.approved === true && e.metadata === undefined) payments.set(String(e.data.card), [...(payments.get(String(e.data.card)) ?? []), e.time]);
    }
    return payments;
  };

  for (const rule of FRAUD_RULES) {
    for (let n = casesPer(rule); n > 0; n--) {
      const rnd = fraud.fork();
      const caseId = `${rule}-${++caseSeq}`;
      const label: FraudLabel = { rule, caseId };
      const earliest = start + (rule === 'amount-vs-average' ? Math.min(2 * D, (days - 1) * D) : H);
      const t0 = Math.round(rnd.uniform(earliest, Math.max(earliest + M, end - margin[rule])));
      let customer = rnd.pick(rule === 'amount-vs-average' ? active : victims);
      let card = rnd.pick(customer.cards).id;
      if (rule === 'amount-vs-average') {
        // A card with a habit to compare with: at least 5 approved payments before the fraud.
        const history = (c: string) => (paymentsByCard().get(c) ?? []).filter((t) => t < t0).length;
        const withHistory = active.flatMap((c) => c.cards.map((k) => k.id)).filter((c) => history(c) >= 5);
        if (withHistory.length > 0) {
          card = rnd.pick(withHistory);
          customer = active.find((c) => c.cards.some((k) => k.id === card)) ?? customer;
        }
      }
      const home = { lat: customer.lat, lon: customer.lon, city: customer.home.name };
      const made: GeneratedEvent[] = [];
      let key = card;
      let detectableAt: number | undefined;
      const far = farAway();
      const farSpot = { lat: far.lat, lon: far.lon, city: far.name };
      switch (rule) {
        case 'small-then-large': {
          made.push(authorise(rnd, customer, card, rnd.pick(online), rnd.uniform(0.01, 0.99), t0, home, label, { approved: true }));
          made.push(authorise(rnd, customer, card, rnd.pick(online), rnd.uniform(600, 2500), t0 + rnd.int(5, 45) * S, home, label, { approved: true }));
          break;
        }
        case 'atm-test-then-large': {
          const atm = `atm-${far.name}-${rnd.int(1, 40)}`;
          made.push(push(`card-${card}`, 'AtmWithdrawal', t0, { card, customer: customer.id, atm, amount: rnd.pick([20, 40, 50, 60]), city: far.name, lat: far.lat, lon: far.lon }, label));
          made.push(push(`card-${card}`, 'AtmWithdrawal', t0 + Math.round(gap(rnd, [1, 4], [H, 20 * H])), { card, customer: customer.id, atm: `atm-${far.name}-${rnd.int(1, 40)}`, amount: rnd.int(12, 25) * 1000, city: far.name, lat: far.lat, lon: far.lon }, label));
          break;
        }
        case 'two-large-close': {
          key = customer.id;
          const shop = rnd.pick(world.merchantsByCity.get(customer.home.name) ?? online);
          made.push(authorise(rnd, customer, card, shop, rnd.uniform(450, 1500), t0, home, label, { approved: true }));
          made.push(authorise(rnd, customer, rnd.pick(customer.cards).id, rnd.pick(online), rnd.uniform(450, 1500), t0 + rnd.int(60, 480) * S, home, label, { approved: true }));
          break;
        }
        case 'auth-velocity': {
          let t = t0;
          for (let i = rnd.int(5, 9); i > 0; i--, t += rnd.int(200, 700)) made.push(authorise(rnd, customer, card, rnd.pick(online), rnd.uniform(1, 60), t, home, label, { approved: rnd.chance(0.3) }));
          detectableAt = made.filter((e) => e.type === 'CardAuthorized')[3]!.time; // the 4th attempt
          break;
        }
        case 'rolling-spend-cap': {
          let total = 0;
          let t = t0;
          const target = rnd.uniform(10_500, 14_000);
          while (total < target) {
            const amount = Math.min(target - total + 1, rnd.uniform(2000, 4500));
            made.push(authorise(rnd, customer, card, rnd.pick(online), amount, t, home, label, { approved: true }));
            total += money(amount);
            if (total > 10_000) detectableAt ??= t; // the payment that goes over the cap
            t += Math.round(gap(rnd, [0.5, 2], [H, 6 * H]));
          }
          break;
        }
        case 'payer-beneficiary': {
          const beneficiary = `acct-mule-${rnd.int(1, 99_999)}`;
          key = `${customer.account}->${beneficiary}`;
          let total = 0;
          let t = t0;
          const target = rnd.uniform(1_050_000, 1_500_000);
          while (total < target) {
            const amount = money(rnd.uniform(150_000, 350_000));
            made.push(push(`account-${customer.account}`, 'TransferInitiated', t, { transferId: ids.uuid(), customer: customer.id, payer: customer.account, beneficiary, amount }, label));
            total += amount;
            if (total > 1_000_000) detectableAt ??= t;
            t += Math.round(gap(rnd, [0.5, 2], [2 * H, 10 * H]));
          }
          break;
        }
        case 'failed-logins-then-success': {
          key = customer.id;
          const login = { customer: customer.id, ip: ipFor(rnd), device: `dev-attacker-${rnd.int(1, 999)}`, ...farSpot };
          let t = t0;
          for (let i = rnd.int(5, 12); i > 0; i--, t += rnd.int(3, 15) * S) made.push(push(`customer-${customer.id}`, 'LoginFailed', t, { ...login, reason: 'bad-password' }, label));
          made.push(push(`customer-${customer.id}`, 'LoginSucceeded', t, login, label));
          break;
        }
        case 'impossible-travel': {
          key = customer.id;
          made.push(push(`customer-${customer.id}`, 'LoginSucceeded', t0, { customer: customer.id, ip: customer.ip, device: customer.devices[0], ...home }, label));
          made.push(push(`customer-${customer.id}`, 'LoginSucceeded', t0 + rnd.int(2, 90) * M, { customer: customer.id, ip: ipFor(rnd), device: `dev-attacker-${rnd.int(1, 999)}`, ...farSpot }, label));
          break;
        }
        case 'signup-rate-per-ip': {
          const ip = ipFor(rnd);
          key = ip;
          let t = t0;
          for (let i = rnd.int(4, 10); i > 0; i--, t += rnd.int(10, 90) * S) {
            const id = `new-${++signupSeq}`;
            made.push(push(`signup-${id}`, 'SignedUp', t, { customer: id, ip, email: `${id}@mailinator.example` }, label));
          }
          detectableAt = made[3]!.time; // the 4th sign-up
          break;
        }
        case 'amount-vs-average': {
          // Card details stolen (phishing, a breached shop) and spent online, card not present, by a
          // fraudster whose connection is far from anywhere the cardholder pays.
          const shop = rnd.pick(world.merchantsByCity.get('') ?? online);
          made.push(authorise(rnd, customer, card, shop, Math.max(300, customer.spend * rnd.uniform(15, 40)), t0, farSpot, label, { approved: true }));
          break;
        }
        case 'warning-then-pin-change': {
          made.push(push(`card-${card}`, 'FraudWarningIssued', t0, { card, customer: customer.id, channel: 'sms' }, label));
          made.push(push(`card-${card}`, 'PinChanged', t0 + Math.round(gap(rnd, [1, 4], [10 * M, 12 * H])), { card, customer: customer.id, channel: 'app' }, label));
          break;
        }
        case 'failure-ratio': {
          // Card testing: a bot runs stolen numbers through one online shop's checkout in a minute.
          const shop = rnd.pick(online);
          key = shop.id;
          const attempts = rnd.int(25, 60);
          const minuteStart = Math.floor(t0 / M) * M;
          for (let i = 0; i < attempts; i++) {
            const stolen = `card-stolen-${rnd.int(1, 9_999_999)}`;
            const t = minuteStart + Math.round(((i + rnd.next()) / attempts) * (M - S));
            const authId = `auth-${++authSeq}`;
            const approved = rnd.chance(0.3);
            const amount = money(rnd.uniform(1, 5));
            made.push(push(`card-${stolen}`, 'CardAuthorized', t, { authId, card: stolen, customer: 'unknown', merchant: shop.id, mcc: shop.mcc, amount, currency: 'EUR', channel: 'ecom', approved, city: far.name, lat: far.lat, lon: far.lon }, label));
            // The shop captures what went through, as it would for any sale.
            if (approved) push(`card-${stolen}`, 'CardSettled', t + rnd.int(1, 20) * H, { authId, card: stolen, merchant: shop.id, amount }, label);
          }
          detectableAt = minuteStart + M;
          break;
        }
        case 'account-takeover-chain': {
          key = customer.id;
          const reset = t0;
          const device = reset + rnd.int(2, 20) * M;
          const transfer = device + rnd.int(3, 30) * M;
          made.push(push(`customer-${customer.id}`, 'PasswordReset', reset, { customer: customer.id, channel: 'email' }, label));
          made.push(push(`customer-${customer.id}`, 'NewDeviceRegistered', device, { customer: customer.id, device: `dev-attacker-${rnd.int(1, 999)}` }, label));
          made.push(push(`account-${customer.account}`, 'TransferInitiated', transfer, { transferId: ids.uuid(), customer: customer.id, payer: customer.account, beneficiary: `acct-mule-${rnd.int(1, 99_999)}`, amount: money(rnd.uniform(2500, 20_000)) }, label));
          break;
        }
        case 'auth-without-settlement': {
          const shop = rnd.pick((world.merchantsByCity.get(customer.home.name) ?? online).filter((m) => !DELAYED_SETTLEMENT_MCCS.has(m.mcc)));
          const e = authorise(rnd, customer, card, shop, rnd.lognormal(customer.spend, 0.5), t0, home, label, { approved: true, settle: false });
          made.push(e);
          key = String(e.data.authId);
          detectableAt = t0 + D;
          break;
        }
      }
      const inRange = made.filter((e) => e.time < end);
      cases.push({ rule, caseId, key, eventIds: inRange.map((e) => e.id), start: t0, detectableAt: detectableAt ?? Math.max(...inRange.map((e) => e.time)) });
    }
  }

  // ---------------------------------------------------------------- delivery
  const late = root.fork();
  const delivered = events.map((e, i) => ({ e: late.chance(lateShare) ? { ...e, deliverAt: e.time + late.int(1000, maxLate) } : e, i }));
  delivered.sort((a, b) => a.e.deliverAt - b.e.deliverAt || a.e.time - b.e.time || a.i - b.i);
  return { events: delivered.map((d) => d.e), cases, world, start, end };
}

/** The JSON Lines form `telltale import` and `telltale test --given` read. */
export function toEventLine(e: GeneratedEvent): string {
  return JSON.stringify({ streamId: e.streamId, id: e.id, type: e.type, data: e.data, ...(e.metadata ? { metadata: e.metadata } : {}), created: new Date(e.deliverAt).toISOString() });
}
