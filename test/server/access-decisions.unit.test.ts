// The HTTP API's kept stream access grants: what they save, and when they stop counting.
import { expect } from '../support/chai.js';
import { AccessDecisions } from '../../server/access-decisions.js';
import { AccessDeniedError, NotAuthenticatedError, StreamAccess, type Principal, ANONYMOUS } from '../../store/acl.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';

/** A store whose metadata reads are counted: a kept grant is one that makes none. */
function counting(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const wrapped = new Proxy(store, {
    get(target, key) {
      if (key === 'getStreamMetadata') {
        return (streamId: string) => {
          reads++;
          return target.getStreamMetadata(streamId);
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: wrapped, reads: () => reads };
}

describe('AccessDecisions', () => {
  const alice: Principal = { name: 'alice', groups: ['sales'] };
  let store: Store;
  beforeEach(async () => {
    store = await openStore('memory:');
    await store.appendToStream('ledger', [{ type: 'A' }]);
    await store.setStreamMetadata('ledger', { acl: { readRoles: ['sales'], writeRoles: ['$admins'] } });
  });
  afterEach(async () => {
    await store.close();
  });

  it('answers a repeated grant without a promise and without reading metadata again', async () => {
    const { store: counted, reads } = counting(store);
    const decisions = new AccessDecisions(new StreamAccess(counted));
    await decisions.check(alice, 'ledger', 'read');
    const after = reads();
    expect(decisions.check(alice, 'ledger', 'read')).to.equal(undefined);
    expect(reads()).to.equal(after);
  });

  it('keeps grants per action and per principal', async () => {
    const decisions = new AccessDecisions(new StreamAccess(store));
    await decisions.check(alice, 'ledger', 'read');
    await expect(decisions.check(alice, 'ledger', 'write')!).to.be.rejectedWith(AccessDeniedError);
    const twin: Principal = { name: 'alice', groups: ['sales'] };
    expect(decisions.check(twin, 'ledger', 'read')).to.be.an.instanceOf(Promise);
  });

  it('keeps no refusal: each is asked again, with the same error as StreamAccess gives', async () => {
    const decisions = new AccessDecisions(new StreamAccess(store));
    await expect(decisions.check(ANONYMOUS, 'ledger', 'read')!).to.be.rejectedWith(NotAuthenticatedError);
    const again = decisions.check(ANONYMOUS, 'ledger', 'read');
    expect(again).to.be.an.instanceOf(Promise);
    await expect(again!).to.be.rejectedWith(NotAuthenticatedError, "Authentication required to read stream 'ledger'");
  });

  it('forgets every grant on invalidate(), so a metadata change counts at once', async () => {
    const decisions = new AccessDecisions(new StreamAccess(store));
    await decisions.check(alice, 'ledger', 'read');
    await store.setStreamMetadata('ledger', { acl: { readRoles: ['$admins'] } });
    decisions.invalidate();
    await expect(decisions.check(alice, 'ledger', 'read')!).to.be.rejectedWith(AccessDeniedError);
  });

  it('does not keep a grant that was asked for before an invalidation', async () => {
    const decisions = new AccessDecisions(new StreamAccess(store));
    const asked = decisions.check(alice, 'ledger', 'read');
    decisions.invalidate();
    await asked;
    expect(decisions.check(alice, 'ledger', 'read')).to.be.an.instanceOf(Promise);
  });

  it('asks again once a grant is older than the TTL', async () => {
    const decisions = new AccessDecisions(new StreamAccess(store), { ttlMs: 0 });
    await decisions.check(alice, 'ledger', 'read');
    expect(decisions.check(alice, 'ledger', 'read')).to.be.an.instanceOf(Promise);
  });
});
