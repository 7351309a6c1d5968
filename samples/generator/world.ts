// The simulated bank: customers with cards, accounts, devices and a home city; merchants with a
// category code and a city; cities with coordinates and a UTC offset for the daily rhythm.
import type { Prng } from './prng.js';

export interface City {
  readonly name: string;
  readonly country: string;
  readonly lat: number;
  readonly lon: number;
  /** Hours ahead of UTC (standard time), for the local hour of day. */
  readonly utcOffset: number;
}

export const CITIES: readonly City[] = [
  { name: 'Dublin', country: 'IE', lat: 53.3498, lon: -6.2603, utcOffset: 0 },
  { name: 'Cork', country: 'IE', lat: 51.8985, lon: -8.4756, utcOffset: 0 },
  { name: 'London', country: 'GB', lat: 51.5074, lon: -0.1278, utcOffset: 0 },
  { name: 'Manchester', country: 'GB', lat: 53.4808, lon: -2.2426, utcOffset: 0 },
  { name: 'Paris', country: 'FR', lat: 48.8566, lon: 2.3522, utcOffset: 1 },
  { name: 'Lyon', country: 'FR', lat: 45.764, lon: 4.8357, utcOffset: 1 },
  { name: 'Berlin', country: 'DE', lat: 52.52, lon: 13.405, utcOffset: 1 },
  { name: 'Munich', country: 'DE', lat: 48.1351, lon: 11.582, utcOffset: 1 },
  { name: 'Madrid', country: 'ES', lat: 40.4168, lon: -3.7038, utcOffset: 1 },
  { name: 'Lisbon', country: 'PT', lat: 38.7223, lon: -9.1393, utcOffset: 0 },
  { name: 'Amsterdam', country: 'NL', lat: 52.3676, lon: 4.9041, utcOffset: 1 },
  { name: 'Warsaw', country: 'PL', lat: 52.2297, lon: 21.0122, utcOffset: 1 },
  { name: 'Rome', country: 'IT', lat: 41.9028, lon: 12.4964, utcOffset: 1 },
  { name: 'Stockholm', country: 'SE', lat: 59.3293, lon: 18.0686, utcOffset: 1 },
];

/** Where account takeovers and card fraud are run from in the simulation: far from every home. */
export const FAR_CITIES: readonly City[] = [
  { name: 'Lagos', country: 'NG', lat: 6.5244, lon: 3.3792, utcOffset: 1 },
  { name: 'Manila', country: 'PH', lat: 14.5995, lon: 120.9842, utcOffset: 8 },
  { name: 'Sao Paulo', country: 'BR', lat: -23.5505, lon: -46.6333, utcOffset: -3 },
  { name: 'New York', country: 'US', lat: 40.7128, lon: -74.006, utcOffset: -5 },
  { name: 'Jakarta', country: 'ID', lat: -6.2088, lon: 106.8456, utcOffset: 7 },
];

export interface Merchant {
  readonly id: string;
  readonly mcc: string;
  readonly kind: string;
  /** Online merchants have no city: the payment happens where the customer is. */
  readonly city: City | null;
  /** Median ticket relative to the customer's usual spend. */
  readonly ticket: number;
}

const MERCHANT_KINDS = [
  { kind: 'grocery', mcc: '5411', ticket: 1.2, weight: 30 },
  { kind: 'restaurant', mcc: '5812', ticket: 1.0, weight: 20 },
  { kind: 'coffee', mcc: '5814', ticket: 0.15, weight: 15 },
  { kind: 'fuel', mcc: '5541', ticket: 1.4, weight: 10 },
  { kind: 'clothing', mcc: '5651', ticket: 2.0, weight: 8 },
  { kind: 'electronics', mcc: '5732', ticket: 3.0, weight: 4 },
  { kind: 'pharmacy', mcc: '5912', ticket: 0.6, weight: 6 },
  { kind: 'hotel', mcc: '7011', ticket: 4.0, weight: 2 },
  { kind: 'car-rental', mcc: '7512', ticket: 4.0, weight: 1 },
  { kind: 'online-retail', mcc: '5942', ticket: 1.5, weight: 12 },
  { kind: 'streaming', mcc: '4899', ticket: 0.4, weight: 4 },
] as const;

export interface Card {
  readonly id: string;
  readonly customer: string;
}

export interface Customer {
  readonly id: string;
  readonly home: City;
  readonly lat: number;
  readonly lon: number;
  readonly account: string;
  readonly cards: readonly Card[];
  readonly devices: readonly string[];
  readonly ip: string;
  /** Median payment amount. */
  readonly spend: number;
  /** Card payments per day. */
  readonly paymentsPerDay: number;
  readonly loginsPerDay: number;
  /** People this customer sends money to. */
  readonly payees: readonly string[];
  /** A small business paying suppliers: fewer, larger transfers. */
  readonly business: boolean;
}

export interface World {
  readonly customers: readonly Customer[];
  readonly merchants: readonly Merchant[];
  /** Merchants by city name, and the online ones under ''. */
  readonly merchantsByCity: ReadonlyMap<string, readonly Merchant[]>;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

export function ipFor(rnd: Prng): string {
  return `${rnd.int(2, 223)}.${rnd.int(0, 255)}.${rnd.int(0, 255)}.${rnd.int(1, 254)}`;
}

export function buildWorld(rnd: Prng, customerCount: number): World {
  const merchants: Merchant[] = [];
  const merchantsByCity = new Map<string, Merchant[]>();
  let m = 0;
  const add = (city: City | null, kindIndex: number) => {
    const k = MERCHANT_KINDS[kindIndex]!;
    const merchant: Merchant = { id: `m-${pad(++m, 4)}`, mcc: k.mcc, kind: k.kind, city, ticket: k.ticket };
    merchants.push(merchant);
    const key = city?.name ?? '';
    merchantsByCity.set(key, [...(merchantsByCity.get(key) ?? []), merchant]);
  };
  const weights = MERCHANT_KINDS.map((k) => k.weight);
  for (const city of [...CITIES, ...FAR_CITIES]) for (let i = 0; i < 25; i++) add(city, rnd.weighted(weights));
  const online = MERCHANT_KINDS.map((k, i) => (k.kind === 'online-retail' || k.kind === 'streaming' || k.kind === 'electronics' ? i : -1)).filter((i) => i >= 0);
  for (let i = 0; i < 40; i++) add(null, rnd.pick(online));

  const customers: Customer[] = [];
  for (let i = 1; i <= customerCount; i++) {
    const id = `cu-${pad(i, 6)}`;
    const home = rnd.pick(CITIES);
    const cardCount = rnd.chance(0.3) ? 2 : 1;
    const business = rnd.chance(0.02);
    customers.push({
      id,
      home,
      // Where in the city they live: within ~5 km of the centre.
      lat: home.lat + rnd.uniform(-0.04, 0.04),
      lon: home.lon + rnd.uniform(-0.06, 0.06),
      account: `acct-${pad(i, 6)}`,
      cards: Array.from({ length: cardCount }, (_, c) => ({ id: `card-${pad(i, 6)}-${c + 1}`, customer: id })),
      devices: [`dev-${pad(i, 6)}-1`, ...(rnd.chance(0.5) ? [`dev-${pad(i, 6)}-2`] : [])],
      ip: ipFor(rnd),
      spend: Math.round(rnd.lognormal(35, 0.5) * 100) / 100,
      paymentsPerDay: Math.max(0.3, rnd.lognormal(2.5, 0.6)),
      loginsPerDay: Math.max(0.2, rnd.lognormal(1.5, 0.5)),
      payees: Array.from({ length: rnd.int(1, 5) }, () => `acct-ext-${pad(rnd.int(1, 999_999), 6)}`),
      business,
    });
  }
  return { customers, merchants, merchantsByCity };
}

/** Great-circle distance in km. */
export function km(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const r = Math.PI / 180;
  const h = Math.sin(((b.lat - a.lat) * r) / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(((b.lon - a.lon) * r) / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}
