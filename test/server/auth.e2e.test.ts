// Authentication, users and stream ACLs over HTTP, and the rule that a well-known default
// password is never reachable beyond loopback.
import { expect } from '../support/chai.js';
import { openStore } from '../../store/index.js';
import { ADMIN, appendBatch, basic, batch, call, startServer, type Running } from './server-fixture.js';

describe('HTTP authentication and ACLs', () => {
  let s: Running;
  const alice = basic('alice', 'alice-pass');
  const bob = basic('bob', 'bob-pass');
  before(async () => {
    s = await startServer();
    for (const [loginName, password, groups] of [['alice', 'alice-pass', ['sales']], ['bob', 'bob-pass', []]] as const) {
      const r = await call(s.url, '/users', { headers: { 'content-type': 'application/json' }, body: { loginName, fullName: loginName, groups, password } });
      expect(r.status).to.equal(201);
    }
  });
  after(async () => {
    await s.stop();
  });

  it('answers 401 with WWW-Authenticate and a clear body without credentials', async () => {
    const r = await appendBatch(s.url, 'open', batch('A'), {}, null);
    expect(r.status).to.equal(401);
    expect(r.headers.get('www-authenticate')).to.match(/^Basic realm=/);
    const body = (await r.json()) as { error: string; message: string };
    expect(body.error).to.equal('not-authenticated');
    expect(body.message).to.match(/Authentication required/);
  });

  it('answers 401 for a wrong password or an unknown user', async () => {
    expect((await call(s.url, '/streams/open', { auth: basic('alice', 'nope') })).status).to.equal(401);
    expect((await call(s.url, '/streams/open', { auth: basic('mallory', 'x') })).status).to.equal(401);
    expect((await call(s.url, '/streams/open', { auth: 'Bearer abc' })).status).to.equal(401);
  });

  it('lets any signed-in user use user streams by default ($userStreamAcl is $all)', async () => {
    expect((await appendBatch(s.url, 'open', batch('A'), {}, alice)).status).to.equal(201);
    expect((await call(s.url, '/streams/open', { auth: bob })).status).to.equal(200);
  });

  it('keeps system streams and $all for $admins ($systemStreamAcl)', async () => {
    const r = await appendBatch(s.url, '$system-thing', batch('A'), {}, alice);
    expect(r.status).to.equal(403);
    expect(((await r.json()) as { message: string }).message).to.equal("User 'alice' may not write to stream '$system-thing'");
    expect((await call(s.url, '/streams/%24all', { auth: alice })).status).to.equal(403);
    expect((await call(s.url, '/streams/%24all', { auth: ADMIN })).status).to.equal(200);
    expect((await call(s.url, '/streams/%24user-alice', { auth: alice })).status).to.equal(403);
  });

  it('applies a stream $acl: roles and user names in $r, $w, $d, $mr, $mw', async () => {
    await appendBatch(s.url, 'sales-ledger', batch('A'));
    const acl = { $acl: { $r: ['sales', 'bob'], $w: 'sales', $d: '$admins', $mr: 'sales', $mw: '$admins' } };
    expect((await call(s.url, '/streams/sales-ledger/metadata', { headers: { 'content-type': 'application/json' }, body: acl })).status).to.equal(201);
    expect((await appendBatch(s.url, 'sales-ledger', batch('B'), {}, alice)).status).to.equal(201);
    expect((await appendBatch(s.url, 'sales-ledger', batch('C'), {}, bob)).status).to.equal(403);
    expect((await call(s.url, '/streams/sales-ledger', { auth: bob })).status).to.equal(200);
    expect((await call(s.url, '/streams/sales-ledger/metadata', { auth: alice, headers: { accept: 'application/json' } })).status).to.equal(200);
    expect((await call(s.url, '/streams/sales-ledger/metadata', { auth: bob, headers: { accept: 'application/json' } })).status).to.equal(403);
    expect((await call(s.url, '/streams/sales-ledger/metadata', { auth: alice, headers: { 'content-type': 'application/json' }, body: {} })).status).to.equal(403);
    expect((await call(s.url, '/streams/sales-ledger', { method: 'DELETE', auth: alice })).status).to.equal(403);
  });

  it('takes default ACLs from $settings', async () => {
    await appendBatch(s.url, 'guarded', batch('A'));
    const settings = [{ eventId: crypto.randomUUID(), eventType: 'update-default-acl', data: { $userStreamAcl: { $r: '$all', $w: 'sales', $d: '$admins', $mr: '$all', $mw: '$admins' } } }];
    expect((await appendBatch(s.url, '$settings', settings)).status).to.equal(201);
    expect((await appendBatch(s.url, 'guarded', batch('B'), {}, bob)).status).to.equal(403);
    expect((await appendBatch(s.url, 'guarded', batch('B'), {}, alice)).status).to.equal(201);
    const reset = [{ eventId: crypto.randomUUID(), eventType: 'update-default-acl', data: {} }];
    expect((await appendBatch(s.url, '$settings', reset)).status).to.equal(201);
    expect((await appendBatch(s.url, 'guarded', batch('C'), {}, bob)).status).to.equal(201);
  });

  it('applies an $acl change to the very next request of a client it had allowed', async () => {
    await appendBatch(s.url, 'revoked', batch('A'));
    expect((await call(s.url, '/streams/revoked', { auth: bob })).status).to.equal(200);
    expect((await appendBatch(s.url, 'revoked', batch('B'), {}, bob)).status).to.equal(201);
    const closed = { $acl: { $r: 'sales', $w: 'sales' } };
    expect((await call(s.url, '/streams/revoked/metadata', { headers: { 'content-type': 'application/json' }, body: closed })).status).to.equal(201);
    expect((await call(s.url, '/streams/revoked', { auth: bob })).status).to.equal(403);
    expect((await appendBatch(s.url, 'revoked', batch('C'), {}, bob)).status).to.equal(403);
    // Written as an event of the metastream itself, the change counts at once too.
    const open = [{ eventId: crypto.randomUUID(), eventType: '$metadata', data: { $acl: { $r: '$all', $w: '$all' } } }];
    expect((await appendBatch(s.url, '$$revoked', open)).status).to.equal(201);
    expect((await call(s.url, '/streams/revoked', { auth: bob })).status).to.equal(200);
    expect((await appendBatch(s.url, 'revoked', batch('D'), {}, bob)).status).to.equal(201);
  });

  it('checks the ACL on every read of a kept page, and applies an $acl change to the next one', async () => {
    await appendBatch(s.url, 'kept-guarded', batch(...Array.from({ length: 25 }, (_, i) => `E${i}`)));
    const acl = (r: string) => call(s.url, '/streams/kept-guarded/metadata', { headers: { 'content-type': 'application/json' }, body: { $acl: { $r: r } } });
    expect((await acl('sales')).status).to.equal(201);
    const read = async (path: string, auth: string | null) => {
      const r = await call(s.url, path, { auth, headers: { accept: 'application/vnd.eventstore.atom+json' } });
      return { status: r.status, body: await r.text() };
    };
    for (const path of ['/streams/kept-guarded/0/forward/20', '/streams/kept-guarded']) {
      const rendered = await read(path, alice);
      expect(rendered.status, path).to.equal(200);
      expect(await read(path, alice), path).to.deep.equal(rendered);
      const refused = await read(path, bob);
      expect(refused.status, path).to.equal(403);
      expect(JSON.parse(refused.body).message).to.equal("User 'bob' may not read stream 'kept-guarded'");
      expect((await read(path, null)).status, path).to.equal(401);
      expect((await read(path, basic('alice', 'wrong'))).status, path).to.equal(401);
    }
    expect((await acl('bob')).status).to.equal(201);
    for (const path of ['/streams/kept-guarded/0/forward/20', '/streams/kept-guarded']) {
      expect((await read(path, alice)).status, path).to.equal(403);
      expect((await read(path, bob)).status, path).to.equal(200);
    }
  });

  it("applies a change of a user's groups to the user's next request", async () => {
    await appendBatch(s.url, 'sales-only', batch('A'));
    await call(s.url, '/streams/sales-only/metadata', { headers: { 'content-type': 'application/json' }, body: { $acl: { $w: 'sales' } } });
    expect((await appendBatch(s.url, 'sales-only', batch('B'), {}, bob)).status).to.equal(403);
    expect((await call(s.url, '/users/bob', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: { fullName: 'bob', groups: ['sales'] } })).status).to.equal(200);
    expect((await appendBatch(s.url, 'sales-only', batch('C'), {}, bob)).status).to.equal(201);
    expect((await call(s.url, '/users/bob', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: { fullName: 'bob', groups: [] } })).status).to.equal(200);
    expect((await appendBatch(s.url, 'sales-only', batch('D'), {}, bob)).status).to.equal(403);
  });

  it('manages users: only admins create, list, disable; users read themselves and change their password', async () => {
    expect((await call(s.url, '/users', { auth: alice })).status).to.equal(403);
    const me = await call(s.url, '/users/$current', { auth: alice });
    expect(((await me.json()) as { data: { loginName: string; groups: string[] } }).data).to.include({ loginName: 'alice' });
    expect((await call(s.url, '/users/bob', { auth: alice })).status).to.equal(403);
    const list = (await (await call(s.url, '/users')).json()) as { data: Array<{ loginName: string }> };
    expect(list.data.map((u) => u.loginName)).to.include.members(['admin', 'alice', 'bob']);
    expect(JSON.stringify(list)).to.not.match(/scrypt/);
    const changed = await call(s.url, '/users/bob/command/change-password', { auth: bob, headers: { 'content-type': 'application/json' }, body: { currentPassword: 'bob-pass', newPassword: 'bob-new' } });
    expect(changed.status).to.equal(200);
    expect((await call(s.url, '/streams/open', { auth: bob })).status).to.equal(401);
    const bobNew = basic('bob', 'bob-new');
    expect((await call(s.url, '/streams/open', { auth: bobNew })).status).to.equal(200);
    expect((await call(s.url, '/users/bob/command/disable', { method: 'POST' })).status).to.equal(200);
    expect((await call(s.url, '/streams/open', { auth: bobNew })).status).to.equal(401);
    expect((await call(s.url, '/users', { headers: { 'content-type': 'application/json' }, body: { loginName: 'alice', password: 'x' } })).status).to.equal(409);
  });

  it('stores password hashes made by scrypt, never the password', async () => {
    const events: string[] = [];
    for await (const e of s.store.readStream('$password-alice')) events.push(new TextDecoder().decode(e.dataBytes));
    expect(events.join()).to.match(/scrypt\$16384\$8\$1\$/).and.not.include('alice-pass');
  });

  it('binds to loopback only, and says so, when admin still has the default password', async () => {
    const store = await openStore('memory:');
    const previous = process.env.TELLTALE_ADMIN_PASSWORD;
    delete process.env.TELLTALE_ADMIN_PASSWORD;
    const { createServer } = await import('../../server/index.js');
    const logs: string[] = [];
    const server = createServer({ store, host: '0.0.0.0', port: 0, log: (l) => logs.push(l) });
    try {
      const address = await server.listen();
      expect(address.host).to.equal('127.0.0.1');
      expect(logs.join('\n')).to.match(/default password.*127\.0\.0\.1 only/s);
      expect((await call(address.url, '/streams/%24all', { auth: basic('admin', 'changeit') })).status).to.equal(200);
    } finally {
      await server.close();
      await store.close();
      if (previous !== undefined) process.env.TELLTALE_ADMIN_PASSWORD = previous;
    }
  });

  it('binds where asked once an admin password is set', async () => {
    const store = await openStore('memory:');
    const { createServer } = await import('../../server/index.js');
    const server = createServer({ store, host: '0.0.0.0', port: 0, auth: { adminPassword: 'strong-one' }, log: () => {} });
    try {
      expect((await server.listen()).host).to.equal('0.0.0.0');
    } finally {
      await server.close();
      await store.close();
    }
  });
});
