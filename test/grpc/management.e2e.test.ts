// Persistent subscriptions with competing consumers, projections management and authentication,
// all through the official Node client against a real Telltale server.
import { randomUUID } from 'node:crypto';
import {
  AccessDeniedError,
  PersistentSubscriptionExistsError,
  PARK,
  RETRY,
  SKIP,
  jsonEvent,
  persistentSubscriptionToStreamSettingsFromDefaults,
  type EventStoreDBClient,
  type PersistentSubscriptionToStreamResolvedEvent,
} from '@eventstore/db-client';
import { expect } from '../support/chai.js';
import { collect, startGrpcServer, until, type GrpcRunning } from './grpc-fixture.js';

describe('gRPC management with the official client', function () {
  this.timeout(60_000);
  let s: GrpcRunning;
  let client: EventStoreDBClient;
  before(async () => {
    s = await startGrpcServer();
    client = s.client();
  });
  after(async () => {
    await s.stop();
  });

  describe('persistent subscriptions', () => {
    const settings = persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: 'start', messageTimeout: 60_000, maxRetryCount: 2 } as never);

    it('creates a group, refuses a second with the same name, lists it and shows its info', async () => {
      const stream = `ps-${randomUUID()}`;
      await client.createPersistentSubscriptionToStream(stream, 'g1', settings);
      await expect(client.createPersistentSubscriptionToStream(stream, 'g1', settings)).to.be.rejectedWith(PersistentSubscriptionExistsError);
      const list = await client.listPersistentSubscriptionsToStream(stream);
      expect(list.map((g) => g.groupName)).to.deep.equal(['g1']);
      const info = await client.getPersistentSubscriptionToStreamInfo(stream, 'g1');
      expect(info).to.include({ eventSource: stream, groupName: 'g1' });
      expect(info.settings.maxRetryCount).to.equal(2);
      await client.deletePersistentSubscriptionToStream(stream, 'g1');
      expect(await client.listPersistentSubscriptionsToStream(stream).catch(() => [])).to.deep.equal([]);
    });

    it('spreads messages over competing consumers, each acked once', async () => {
      const stream = `ps-${randomUUID()}`;
      await client.createPersistentSubscriptionToStream(stream, 'workers', settings);
      await client.appendToStream(stream, Array.from({ length: 20 }, (_, i) => jsonEvent({ type: 'Job', data: { i } })));
      const got = new Map<string, number[]>();
      const consume = async (name: string) => {
        const sub = client.subscribeToPersistentSubscriptionToStream(stream, 'workers', { bufferSize: 2 });
        got.set(name, []);
        for await (const e of sub) {
          got.get(name)!.push((e.event!.data as { i: number }).i);
          await sub.ack(e);
          if ([...got.values()].flat().length >= 20) break;
        }
        await sub.unsubscribe();
      };
      await Promise.race([Promise.all([consume('a'), consume('b')]), until('20 acks', async () => [...got.values()].flat().length, (n) => n >= 20)]);
      const all = [...got.values()].flat().sort((x, y) => x - y);
      expect(all.slice(0, 20)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
      expect(got.get('a')!.length).to.be.greaterThan(0);
      expect(got.get('b')!.length).to.be.greaterThan(0);
    });

    it('redelivers a retried message, parks a parked one, drops a skipped one, and replays parked messages', async () => {
      const stream = `ps-${randomUUID()}`;
      await client.createPersistentSubscriptionToStream(stream, 'g', settings);
      await client.appendToStream(stream, ['retry-me', 'park-me', 'skip-me'].map((type) => jsonEvent({ type, data: {} })));
      const sub = client.subscribeToPersistentSubscriptionToStream(stream, 'g');
      const deliveries: Array<[string, number]> = [];
      let replayed = false;
      for await (const e of sub as AsyncIterable<PersistentSubscriptionToStreamResolvedEvent>) {
        const type = e.event!.type;
        deliveries.push([type, e.retryCount]);
        if (type === 'retry-me' && e.retryCount === 0) await sub.nack(RETRY, 'try again', e);
        else if (type === 'park-me' && !replayed) {
          await sub.nack(PARK, 'poison', e);
          await until('parked', async () => (await client.getPersistentSubscriptionToStreamInfo(stream, 'g')).stats.parkedMessageCount, (n) => n === 1n || (n as unknown) === 1);
          replayed = true;
          await client.replayParkedMessagesToStream(stream, 'g');
        } else if (type === 'skip-me') await sub.nack(SKIP, 'not mine', e);
        else await sub.ack(e);
        if (deliveries.filter(([t]) => t === 'park-me').length === 2 && deliveries.some(([t, n]) => t === 'retry-me' && n === 1)) break;
      }
      await sub.unsubscribe();
      expect(deliveries).to.deep.include(['retry-me', 1]);
      expect(deliveries.filter(([t]) => t === 'park-me')).to.have.length(2);
      expect(deliveries.filter(([t]) => t === 'skip-me')).to.have.length(1);
    });
  });

  describe('projections', () => {
    const COUNTER = `fromStream('orders-grpc').when({
      $init: function () { return { count: 0 }; },
      OrderPlaced: function (s, e) { s.count += 1; return s; }
    });`;

    it('creates, reads state and result, disables, enables, resets, updates and deletes', async () => {
      await client.createProjection('grpc-counter', COUNTER);
      await client.appendToStream('orders-grpc', [jsonEvent({ type: 'OrderPlaced', data: {} }), jsonEvent({ type: 'OrderPlaced', data: {} })]);
      await until('count 2', () => client.getProjectionState<{ count: number }>('grpc-counter'), (v) => v?.count === 2);
      expect(await client.getProjectionResult('grpc-counter')).to.deep.equal({ count: 2 });
      const status = await client.getProjectionStatus('grpc-counter');
      expect(status).to.include({ name: 'grpc-counter', projectionStatus: 'Running' });
      expect((await client.listProjections()).map((p) => p.name)).to.include('grpc-counter');
      await client.disableProjection('grpc-counter');
      await until('stopped', async () => (await client.getProjectionStatus('grpc-counter')).projectionStatus, (v) => v === 'Stopped');
      await client.enableProjection('grpc-counter');
      await client.updateProjection('grpc-counter', COUNTER.replace('s.count += 1', 's.count += 10'));
      await client.resetProjection('grpc-counter');
      await until('count 20 after reset', () => client.getProjectionState<{ count: number }>('grpc-counter'), (v) => v?.count === 20);
      await client.deleteProjection('grpc-counter');
      expect((await client.listProjections()).map((p) => p.name)).not.to.include('grpc-counter');
    });
  });

  describe('authentication and ACLs', () => {
    it('refuses a wrong password with AccessDeniedError', async () => {
      const bad = s.client('admin', 'wrong-password');
      await expect(bad.appendToStream(`auth-${randomUUID()}`, jsonEvent({ type: 'A', data: {} }))).to.be.rejectedWith(AccessDeniedError);
      await expect(collect(bad.readAll({ maxCount: 1 }))).to.be.rejectedWith(AccessDeniedError);
    });

    it('refuses a user the stream ACL leaves out, and lets one it names in', async () => {
      const stream = `acl-${randomUUID()}`;
      await s.server.app.inject({ method: 'POST', url: '/users', headers: { authorization: `Basic ${Buffer.from('admin:grpc-admin-secret').toString('base64')}`, 'content-type': 'application/json' }, payload: { loginName: 'alice', fullName: 'Alice', groups: [], password: 'alice-pw' } });
      await s.server.app.inject({ method: 'POST', url: '/users', headers: { authorization: `Basic ${Buffer.from('admin:grpc-admin-secret').toString('base64')}`, 'content-type': 'application/json' }, payload: { loginName: 'bob', fullName: 'Bob', groups: [], password: 'bob-pw' } });
      await client.setStreamMetadata(stream, { acl: { readRoles: ['alice'], writeRoles: ['alice'] } });
      const alice = s.client('alice', 'alice-pw');
      const bob = s.client('bob', 'bob-pw');
      await alice.appendToStream(stream, jsonEvent({ type: 'Secret', data: {} }));
      expect(await collect(alice.readStream(stream))).to.have.length(1);
      await expect(collect(bob.readStream(stream))).to.be.rejectedWith(AccessDeniedError);
      await expect(bob.appendToStream(stream, jsonEvent({ type: 'Nope', data: {} }))).to.be.rejectedWith(AccessDeniedError);
      // $all is for administrators, and an anonymous h2c client is no one.
      await expect(collect(bob.readAll({ maxCount: 1 }))).to.be.rejectedWith(AccessDeniedError);
      await expect(collect(s.plainClient().readAll({ maxCount: 1 }))).to.be.rejectedWith(AccessDeniedError);
    });
  });
});
