// Every rule of the fraud corpus (shared/reference/cep-engines.md §8), written with the library,
// each with a positive, a negative, a boundary-at-the-window-edge and an out-of-order case.
import { expect } from 'chai';
import {
  pattern, windowed, specify, count, sum, avg, last, sagaRule,
  type PatternBuilder, type WindowBuilder,
} from '../../patterns/index.js';

interface Tx { id: string; type: string; t: number; data: Record<string, any> }
const MIN = 60_000, HOUR = 3_600_000, DAY = 86_400_000;
let seq = 0;
const tx = (t: number, type: string, data: Record<string, any>): Tx => ({ id: `${type}-${data['account'] ?? data['card'] ?? data['user'] ?? data['ip'] ?? ''}-${t}-${seq++}`, type, t, data });
const charge = (t: number, account: string, amount: number): Tx => tx(t, 'Charge', { account, amount });
const ids = (...events: Tx[]): string[] => events.map((e) => e.id);
/** Moves event i before event i - 1: arrives late, within the allowed lateness. */
const swap = <T>(xs: T[], i: number): T[] => { const c = [...xs]; [c[i - 1], c[i]] = [c[i] as T, c[i - 1] as T]; return c; };

const seqRule = (name: string): PatternBuilder<Tx> => pattern<Tx>(name).eventTime((e) => e.t).eventId((e) => e.id);
const winRule = (name: string): WindowBuilder<Tx> => windowed<Tx>(name).eventTime((e) => e.t).eventId((e) => e.id);

describe('fraud corpus §8.1: small test charge then large charge (per account)', () => {
  const strict = seqRule('test-then-large-v1').keyBy((e) => e.data['account'])
    .begin('small', (e) => e.data['amount'] < 1).next('large', (e) => e.data['amount'] > 500);
  const within = seqRule('test-then-large-v2').keyBy((e) => e.data['account'])
    .begin('small', (e) => e.data['amount'] < 1).followedBy('large', (e) => e.data['amount'] > 500).within('1m');
  it('v1 (strict): fires when the large charge is the very next one', () => {
    const a = charge(0, 'A', 0.5), b = charge(1000, 'A', 900);
    specify(strict).when(a, b).thenMatched({ small: ids(a), large: ids(b) });
  });
  it('v1: does not fire with a charge in between', () => {
    specify(strict).when(charge(0, 'A', 0.5), charge(10, 'A', 20), charge(20, 'A', 900)).thenNothingMatched();
  });
  it('v1: another account in between does not break contiguity (keyed)', () => {
    const a = charge(0, 'A', 0.5), b = charge(20, 'A', 900);
    specify(strict).when(a, charge(10, 'B', 20), b).thenMatched({ small: ids(a), large: ids(b) });
  });
  it('v2: fires within one minute, not at exactly one minute', () => {
    const a = charge(0, 'A', 0.5);
    const inside = charge(MIN - 1, 'A', 900);
    specify(within).when(a, inside).thenMatched({ small: ids(a), large: ids(inside) });
    specify(within).when(charge(0, 'A', 0.5), charge(MIN, 'A', 900)).thenNothingMatched();
  });
  it('v2: out of order within the lateness still fires', () => {
    const a = charge(0, 'A', 0.5), b = charge(30_000, 'A', 900);
    specify(within.allowedLateness('1m')).when(b, a).whenTimePasses('2m').thenMatched({ small: ids(a), large: ids(b) });
  });
});

describe('fraud corpus §8.2: ATM test withdrawal then big withdrawal within a day (per card)', () => {
  const rule = seqRule('atm').keyBy((e) => e.data['card'])
    .begin('test', (e) => e.data['amount'] < 100).followedBy('big', (e) => e.data['amount'] > 10_000).within('1d');
  const w = (t: number, card: string, amount: number): Tx => tx(t, 'Withdrawal', { card, amount });
  it('fires with other withdrawals in between (relaxed)', () => {
    const a = w(0, 'C', 50), b = w(5 * HOUR, 'C', 20_000);
    specify(rule).when(a, w(HOUR, 'C', 500), b).thenMatched({ test: ids(a), big: ids(b) });
  });
  it('does not fire for a big withdrawal alone', () => {
    specify(rule).when(w(0, 'C', 500), w(HOUR, 'C', 20_000)).thenNothingMatched();
  });
  it('boundary: a day minus 1 ms fires, a day does not', () => {
    const a = w(0, 'C', 50), b = w(DAY - 1, 'C', 20_000);
    specify(rule).when(a, b).thenMatched({ test: ids(a), big: ids(b) });
    specify(rule).when(w(0, 'C', 50), w(DAY, 'C', 20_000)).thenNothingMatched();
  });
  it('out of order within the lateness still fires', () => {
    const a = w(0, 'C', 50), b = w(HOUR, 'C', 20_000);
    specify(rule.allowedLateness('2h')).when(b, a).whenTimePasses('3h').thenMatched({ test: ids(a), big: ids(b) });
  });
});

describe('fraud corpus §8.3: two large transactions within 10 minutes (per customer)', () => {
  const rule = seqRule('two-large').keyBy((e) => e.data['account'])
    .begin('first', (e) => e.data['amount'] > 400).followedBy('second', (e) => e.data['amount'] > 400).within('10m');
  it('fires on the second large one', () => {
    const a = charge(0, 'A', 500), b = charge(5 * MIN, 'A', 450);
    specify(rule).when(a, charge(MIN, 'A', 20), b).thenMatched({ first: ids(a), second: ids(b) });
  });
  it('does not fire across customers', () => {
    specify(rule).when(charge(0, 'A', 500), charge(MIN, 'B', 500)).thenNothingMatched();
  });
  it('boundary: ten minutes apart is too late; the first then times out', () => {
    const a = charge(0, 'A', 500);
    specify(rule).given(a).when(charge(10 * MIN, 'A', 500)).thenNothingMatched().thenTimedOut({ first: ids(a) });
  });
  it('out of order: the later one arriving first still pairs', () => {
    const a = charge(0, 'A', 500), b = charge(MIN, 'A', 450);
    specify(rule.allowedLateness('5m')).when(b, a).whenTimePasses('10m').thenMatched({ first: ids(a), second: ids(b) });
  });
});

describe('fraud corpus §8.4: velocity — more than 3 authorizations in a 5-second tumbling window (per card)', () => {
  const rule = winRule('velocity').keyBy((e) => e.data['card']).where((e) => e.type === 'Authorization')
    .tumbling('5s').aggregate({ attempts: count() }).having((v) => (v['attempts'] ?? 0) > 3);
  const auth = (t: number, card = 'C'): Tx => tx(t, 'Authorization', { card });
  it('fires when the window closes with 4 attempts', () => {
    specify(rule).when(auth(0), auth(1000), auth(2000), auth(4999)).whenTimePasses('5s')
      .thenEmitted({ key: 'C', start: 0, end: 5000, values: { attempts: 4 }, final: true });
  });
  it('does not fire with 3', () => {
    specify(rule).when(auth(0), auth(1000), auth(2000)).whenTimePasses('10s').thenEmitted();
  });
  it('boundary: an attempt at exactly 5 s belongs to the next window', () => {
    specify(rule).when(auth(0), auth(1000), auth(2000), auth(5000)).whenTimePasses('10s').thenEmitted();
  });
  it('out of order within the lateness is counted in its window', () => {
    specify(rule.allowedLateness('3s')).when(auth(0), auth(1000), auth(4000), auth(6000), auth(3000)).whenTimePasses('10s')
      .thenEmitted({ start: 0, values: { attempts: 4 } });
  });
  it('Alibaba variant: more than 10 transfers totalling over 10,000 in 5 minutes (sliding)', () => {
    const transfers = winRule('transfers').keyBy((e) => e.data['account']).sliding('5m')
      .aggregate({ n: count(), total: sum((e) => e.data['amount']) })
      .having((v) => (v['n'] ?? 0) > 10 && (v['total'] ?? 0) > 10_000);
    const events = Array.from({ length: 11 }, (_, i) => tx(i * 20_000, 'Transfer', { account: 'A', amount: 1000 }));
    specify(transfers).when(...events).thenEmitted({ key: 'A', count: 11, values: { n: 11, total: 11_000 } });
    specify(transfers).when(...events.slice(0, 10)).thenEmitted();
  });
});

describe('fraud corpus §8.5: rolling spend cap — over 10,000 in a rolling 24 h (per card)', () => {
  const rule = winRule('spend-cap').keyBy((e) => e.data['account']).sliding('24h')
    .aggregate({ total: sum((e) => e.data['amount']) }).having((v) => (v['total'] ?? 0) > 10_000);
  it('fires on 5,000 then 6,000 within a day (which a per-event threshold misses)', () => {
    specify(rule).when(charge(0, 'A', 5000), charge(20 * HOUR, 'A', 6000)).thenEmitted({ key: 'A', values: { total: 11_000 } });
  });
  it('does not fire when the first has left the window', () => {
    specify(rule).when(charge(0, 'A', 5000), charge(25 * HOUR, 'A', 6000)).thenEmitted();
  });
  it('boundary: the window is (t − 24h, t], so exactly 24 h later the first is out', () => {
    specify(rule).when(charge(0, 'A', 5000), charge(DAY, 'A', 6000)).thenEmitted();
    specify(rule).when(charge(1, 'A', 5000), charge(DAY, 'A', 6000)).thenEmitted({ values: { total: 11_000 } });
  });
  it('out of order within the lateness: the late charge completes the sum on its own window', () => {
    specify(rule.allowedLateness('1h')).when(charge(HOUR, 'A', 6000), charge(HOUR - 1000, 'A', 5000)).thenEmitted();
    specify(rule.allowedLateness('1h')).when(charge(HOUR, 'A', 6000), charge(HOUR - 1000, 'A', 5000), charge(HOUR + 1, 'A', 1))
      .thenEmitted({ values: { total: 11_001 } });
  });
});

describe('fraud corpus §8.6: payer → beneficiary over 1,000,000 within a week', () => {
  const rule = winRule('payer-beneficiary').keyBy((e) => `${e.data['payer']}→${e.data['beneficiary']}`).sliding('P7D')
    .aggregate({ total: sum((e) => e.data['amount']) }).having((v) => (v['total'] ?? 0) > 1_000_000);
  const pay = (t: number, payer: string, beneficiary: string, amount: number): Tx => tx(t, 'Payment', { payer, beneficiary, amount });
  it('fires on the pair, not on the payer', () => {
    specify(rule).when(pay(0, 'P', 'B', 600_000), pay(DAY, 'P', 'X', 600_000), pay(2 * DAY, 'P', 'B', 500_000))
      .thenEmitted({ key: 'P→B', values: { total: 1_100_000 } });
  });
  it('does not fire below the amount', () => {
    specify(rule).when(pay(0, 'P', 'B', 600_000), pay(DAY, 'P', 'B', 400_000)).thenEmitted();
  });
  it('boundary: a week apart is outside the window', () => {
    specify(rule).when(pay(0, 'P', 'B', 600_000), pay(7 * DAY, 'P', 'B', 500_000)).thenEmitted();
  });
  it('out of order: events past the lateness are late, counted and not summed', () => {
    const spec = specify(rule.allowedLateness('1d')).when(pay(3 * DAY, 'P', 'B', 600_000), pay(DAY, 'P', 'B', 500_000)).thenEmitted().thenLate(1);
    expect(spec.currentState.counts.late).to.equal(1);
  });
});

describe('fraud corpus §8.7: at least 5 failed logins then a success within 5 minutes (per user)', () => {
  const rule = seqRule('takeover').keyBy((e) => e.data['user'])
    .begin('failures', (e) => e.type === 'LoginFailed').timesOrMore(5).consecutive()
    .next('success', (e) => e.type === 'LoginSucceeded').within('5m');
  const fail = (t: number): Tx => tx(t, 'LoginFailed', { user: 'U' });
  const ok = (t: number): Tx => tx(t, 'LoginSucceeded', { user: 'U' });
  it('fires on 6 failures then success, reporting the longest run first', () => {
    const fs = [0, 10, 20, 30, 40, 50].map((s) => fail(s * 1000));
    const s = ok(60_000);
    const spec = specify(rule).when(...fs, s);
    expect(spec.outputs.matches[0]?.steps['failures']?.map((e) => e.id)).to.deep.equal(ids(...fs));
    expect(spec.outputs.matches).to.have.length(2);
  });
  it('does not fire on 4 failures', () => {
    specify(rule).when(...[0, 1, 2, 3].map((s) => fail(s * 1000)), ok(5000)).thenNothingMatched();
  });
  it('boundary: the success must come before 5 minutes after the first failure', () => {
    const fs = [0, 1, 2, 3, 4].map((s) => fail(s * 1000));
    const inTime = ok(5 * MIN - 1);
    specify(rule).when(...fs, inTime).thenMatched({ failures: ids(...fs), success: ids(inTime) });
    specify(rule).when(...[0, 1, 2, 3, 4].map((s) => fail(s * 1000)), ok(5 * MIN)).thenNothingMatched();
  });
  it('out of order: a failure arriving late is re-ordered before the success', () => {
    const fs = [0, 1, 2, 3, 4].map((s) => fail(s * 1000));
    const s = ok(6000);
    specify(rule.allowedLateness('10s')).when(...swap([...fs, s], 5)).whenTimePasses('1m').thenMatched({ failures: ids(...fs), success: ids(s) });
  });
  it('SQRL variant: failed logins per IP over the last day', () => {
    const perIp = winRule('failed-per-ip').keyBy((e) => e.data['ip']).where((e) => e.type === 'LoginFailed').sliding('1d')
      .aggregate({ failures: count() }).having((v) => (v['failures'] ?? 0) >= 3);
    const f = (t: number, ip: string): Tx => tx(t, 'LoginFailed', { ip });
    specify(perIp).when(f(0, '1.2.3.4'), f(HOUR, '1.2.3.4'), f(2 * HOUR, '5.6.7.8'), f(DAY - 1, '1.2.3.4'))
      .thenEmitted({ key: '1.2.3.4', values: { failures: 3 } });
  });
});

describe('fraud corpus §8.8: impossible travel — consecutive logins faster than 1000 km/h (per user)', () => {
  const km = (a: { lat: number; lon: number }, b: { lat: number; lon: number }): number => {
    const r = Math.PI / 180;
    const h = Math.sin(((b.lat - a.lat) * r) / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(((b.lon - a.lon) * r) / 2) ** 2;
    return 2 * 6371 * Math.asin(Math.sqrt(h));
  };
  const rule = seqRule('impossible-travel').keyBy((e) => e.data['user'])
    .remember((e) => ({ lat: e.data['lat'], lon: e.data['lon'] }))
    .begin('from', (e) => e.type === 'Login')
    .next('to', (e, m) => {
      const prev = m.last('from') as unknown as { lat: number; lon: number; time: number };
      const d = km(prev, e.data as { lat: number; lon: number });
      const hours = (e.t - prev.time) / HOUR;
      return e.type === 'Login' && d >= 1 && d / Math.max(hours, 1e-9) > 1000;
    });
  const login = (t: number, lat: number, lon: number): Tx => tx(t, 'Login', { user: 'U', lat, lon });
  const paris = { lat: 48.8566, lon: 2.3522 }, newYork = { lat: 40.7128, lon: -74.006 }, london = { lat: 51.5074, lon: -0.1278 };
  it('fires on Paris then New York an hour later', () => {
    const a = login(0, paris.lat, paris.lon), b = login(HOUR, newYork.lat, newYork.lon);
    specify(rule).when(a, b).thenMatched({ from: ids(a), to: ids(b) });
  });
  it('does not fire on Paris then London three hours later', () => {
    specify(rule).when(login(0, paris.lat, paris.lon), login(3 * HOUR, london.lat, london.lon)).thenNothingMatched();
  });
  it('boundary: 5837 km takes just under 5.84 h at 1000 km/h', () => {
    const d = km(paris, newYork);
    specify(rule).when(login(0, paris.lat, paris.lon), login(Math.ceil((d / 1000) * HOUR) + 1, newYork.lat, newYork.lon)).thenNothingMatched();
    specify(rule).when(login(0, paris.lat, paris.lon), login(Math.floor((d / 1000) * HOUR) - 1, newYork.lat, newYork.lon)).outputs.matches.length;
    expect(specify(rule).when(login(0, paris.lat, paris.lon), login(Math.floor((d / 1000) * HOUR) - 1, newYork.lat, newYork.lon)).outputs.matches).to.have.length(1);
  });
  it('out of order: logins re-ordered by event time before comparing', () => {
    const a = login(0, paris.lat, paris.lon), b = login(HOUR, newYork.lat, newYork.lon);
    specify(rule.allowedLateness('2h')).when(b, a).whenTimePasses('3h').thenMatched({ from: ids(a), to: ids(b) });
  });
});

describe('fraud corpus §8.9: at most 3 signups per IP per 10 minutes', () => {
  const rule = winRule('signups').keyBy((e) => e.data['ip']).sliding('10m').aggregate({ signups: count() }).having((v) => (v['signups'] ?? 0) > 3);
  const signup = (t: number, ip = '9.9.9.9'): Tx => tx(t, 'Signup', { ip });
  it('fires on the 4th signup', () => {
    specify(rule).when(signup(0), signup(MIN), signup(2 * MIN), signup(3 * MIN)).thenEmitted({ values: { signups: 4 } });
  });
  it('does not fire on signups from different IPs', () => {
    specify(rule).when(signup(0, 'a'), signup(MIN, 'b'), signup(2 * MIN, 'c'), signup(3 * MIN, 'd')).thenEmitted();
  });
  it('boundary: a signup exactly 10 minutes later does not see the first', () => {
    specify(rule).when(signup(0), signup(MIN), signup(2 * MIN), signup(10 * MIN)).thenEmitted();
  });
  it('out of order within the lateness counts', () => {
    specify(rule.allowedLateness('5m')).when(signup(0), signup(2 * MIN), signup(MIN), signup(3 * MIN)).thenEmitted({ values: { signups: 4 } });
  });
});

describe('fraud corpus §8.10: amount far above the moving average (per card)', () => {
  const rule = winRule('above-average').keyBy((e) => e.data['account']).sliding('30s')
    .aggregate({ average: avg((e) => e.data['amount']), current: last((e) => e.data['amount']), n: count() })
    .having((v) => (v['n'] ?? 0) >= 3 && (v['current'] ?? 0) > 2 * (v['average'] ?? Infinity));
  it('fires when a charge is over 2× the 30 s average (including itself)', () => {
    specify(rule).when(charge(0, 'A', 10), charge(1000, 'A', 10), charge(2000, 'A', 10), charge(3000, 'A', 10), charge(4000, 'A', 200))
      .thenEmitted({ values: { current: 200, average: 48 } });
  });
  it('does not fire on steady amounts', () => {
    specify(rule).when(charge(0, 'A', 10), charge(1000, 'A', 12), charge(2000, 'A', 11)).thenEmitted();
  });
  it('boundary: charges exactly 30 s old have left the average', () => {
    specify(rule).when(charge(0, 'A', 1000), charge(1000, 'A', 1000), charge(30_000, 'A', 10), charge(30_500, 'A', 10), charge(31_000, 'A', 100))
      .thenEmitted({ values: { n: 3, current: 100, average: 40 } });
  });
  it('out of order: a late small charge is placed by event time', () => {
    specify(rule.allowedLateness('10s')).when(charge(0, 'A', 10), charge(2000, 'A', 10), charge(3000, 'A', 10), charge(4000, 'A', 200), charge(1000, 'A', 10))
      .thenEmitted({ values: { current: 200 } });
  });
});

describe('fraud corpus §8.11: fraud warning followed by a PIN change (same account)', () => {
  const rule = seqRule('warning-then-pin').keyBy((e) => e.data['account'])
    .begin('warning', (e) => e.type === 'FraudWarning').followedBy('pinChange', (e) => e.type === 'PINChange').within('1d');
  const ev = (t: number, type: string, account = 'A'): Tx => tx(t, type, { account });
  it('fires', () => {
    const a = ev(0, 'FraudWarning'), b = ev(HOUR, 'PINChange');
    specify(rule).when(a, ev(MIN, 'Login'), b).thenMatched({ warning: ids(a), pinChange: ids(b) });
  });
  it('does not fire on another account', () => {
    specify(rule).when(ev(0, 'FraudWarning', 'A'), ev(HOUR, 'PINChange', 'B')).thenNothingMatched();
  });
  it('boundary: a PIN change a day later is too late, and the warning times out', () => {
    const a = ev(0, 'FraudWarning');
    specify(rule).given(a).when(ev(DAY, 'PINChange')).thenNothingMatched().thenTimedOut({ warning: ids(a) });
  });
  it('out of order', () => {
    const a = ev(0, 'FraudWarning'), b = ev(MIN, 'PINChange');
    specify(rule.allowedLateness('5m')).when(b, a).whenTimePasses('10m').thenMatched({ warning: ids(a), pinChange: ids(b) });
  });
});

describe('fraud corpus §8.12: failure ratio over 5% per business per minute', () => {
  const rule = winRule('failure-ratio').keyBy((e) => e.data['business']).tumbling('1m')
    .aggregate({ all: count(), failed: sum((e) => (e.data['ok'] ? 0 : 1)) })
    .having((v) => (v['failed'] ?? 0) / (v['all'] ?? 1) > 0.05);
  const t = (at: number, ok: boolean, business = 'shop'): Tx => tx(at, 'Transaction', { business, ok });
  const batch = (from: number, n: number, failures: number): Tx[] => Array.from({ length: n }, (_, i) => t(from + i * 100, i >= failures));
  it('fires at the end of a minute with 2 failures in 20', () => {
    specify(rule).when(...batch(0, 20, 2)).whenTimePasses('1m').thenEmitted({ start: 0, end: MIN, values: { all: 20, failed: 2 } });
  });
  it('does not fire with 1 failure in 20 (exactly 5%)', () => {
    specify(rule).when(...batch(0, 20, 1)).whenTimePasses('1m').thenEmitted();
  });
  it('boundary: a failure at exactly one minute counts in the next window', () => {
    specify(rule).when(...batch(0, 20, 1), t(MIN, false)).whenTimePasses('2m').thenEmitted({ start: MIN, values: { all: 1, failed: 1 } });
  });
  it('out of order within the lateness lands in its own minute', () => {
    const late = rule.allowedLateness('30s');
    specify(late).when(...batch(0, 20, 1), t(MIN + 10_000, true), t(59_000, false)).whenTimePasses('2m')
      .thenEmitted({ start: 0, values: { all: 21, failed: 2 } });
  });
});

describe('fraud corpus, absence: order not paid within 30 minutes', () => {
  const rule = seqRule('unpaid').keyBy((e) => e.data['order'])
    .begin('placed', (e) => e.type === 'OrderPlaced').notFollowedBy('paid', (e) => e.type === 'PaymentReceived').within('30m');
  const ev = (at: number, type: string, order = 'O1'): Tx => tx(at, type, { order });
  it('fires when the watermark passes 30 minutes', () => {
    const a = ev(0, 'OrderPlaced');
    specify(rule).given(a).whenTimePasses('29m').thenNothingMatched().whenTimePasses('30m').thenMatched({ placed: ids(a) });
  });
  it('does not fire once paid', () => {
    specify(rule).given(ev(0, 'OrderPlaced'), ev(29 * MIN, 'PaymentReceived')).whenTimePasses('1h').thenNothingMatched();
  });
  it('boundary: a payment at exactly 30 minutes is too late', () => {
    const a = ev(0, 'OrderPlaced');
    specify(rule).given(a).when(ev(30 * MIN, 'PaymentReceived')).thenMatched({ placed: ids(a) });
  });
  it('out of order: a payment arriving after a later event but within the lateness still counts', () => {
    specify(rule.allowedLateness('5m')).when(ev(0, 'OrderPlaced'), ev(31 * MIN, 'Other', 'O2'), ev(28 * MIN, 'PaymentReceived')).whenTimePasses('2h')
      .thenNothingMatched();
  });
  it('as a saga rule keyed by correlation id', () => {
    const saga = sagaRule('checkout', { started: (e: any) => e.type === 'OrderPlaced', finished: (e: any) => e.type === 'OrderShipped', within: '1h' });
    const placed = { id: 'p1', type: 'OrderPlaced', time: 0, metadata: { $correlationId: 'c1' } };
    const shipped = { id: 's2', type: 'OrderShipped', time: 10, metadata: { $correlationId: 'c2' } };
    const placed2 = { id: 'p2', type: 'OrderPlaced', time: 5, metadata: { $correlationId: 'c2' } };
    specify(saga).given(placed, placed2, shipped).whenTimePasses('2h').thenMatched({ started: ['p1'] });
  });
});
