// KurrentDB's official Node client (@kurrent/kurrentdb-client, the successor of
// @eventstore/db-client) against a real Telltale server, unchanged: it speaks the same
// `event_store.client.*` services, names expected states `streamState`, and reports what the
// server does not advertise (the v2 append protocol, persistent subscriptions to $all) as
// unsupported instead of calling it. The client runs in a worker thread (kurrentdb-scenarios.ts
// says why); each specification below is the scenario of the same name there.
import { Worker } from 'node:worker_threads';
import { ADMIN_PASSWORD, CA_FILE, startGrpcServer, type GrpcRunning } from './grpc-fixture.js';
import type { ScenarioName, ScenarioServer } from './kurrentdb-scenarios.js';

describe('gRPC with the KurrentDB client', function () {
  this.timeout(60_000);
  let s: GrpcRunning;
  let worker: Worker;
  let next = 0;
  const waiting = new Map<number, (failure?: { message: string; stack: string }) => void>();

  before(async () => {
    s = await startGrpcServer();
    const server: ScenarioServer = { port: s.port, caFile: CA_FILE, adminPassword: ADMIN_PASSWORD };
    worker = new Worker(new URL('./kurrentdb-scenarios.js', import.meta.url), { workerData: server });
    worker.on('message', (m: { id: number; failure?: { message: string; stack: string } } | 'closed') => {
      if (m === 'closed') return;
      waiting.get(m.id)?.(m.failure);
      waiting.delete(m.id);
    });
  });
  after(async () => {
    if (worker !== undefined) {
      const closed = new Promise((resolve) => worker.once('message', resolve));
      worker.postMessage('close');
      await closed;
      await worker.terminate();
    }
    await s?.stop();
  });

  /** Runs the named scenario in the worker; its failure (an assertion, an unexpected error) fails the test. */
  const scenario = (name: ScenarioName) => async () => {
    const id = next++;
    const failure = await new Promise<{ message: string; stack: string } | undefined>((resolve) => {
      waiting.set(id, resolve);
      worker.postMessage({ id, scenario: name });
    });
    if (failure !== undefined) {
      const e = new Error(failure.message);
      e.stack = failure.stack;
      throw e;
    }
  };


  describe('appendToStream', () => {
    it('appends with every stream state and reports the next revision and position', scenario('appendsWithEveryStreamState'));
    it('rejects a failed concurrency check with WrongExpectedVersionError naming both states', scenario('rejectsWrongExpectedVersion'));
    it('goes through the Append RPC with per-call credentials, and keeps binary data as bytes', scenario('appendsThroughAppendRpc'));
    it('reports the v2 append protocol (multiStreamAppend) as unsupported instead of calling it', scenario('refusesMultiStreamAppend'));
  });

  describe('reads, deletes and metadata', () => {
    it('reads a stream and $all both ways, with type, data, metadata and created', scenario('readsBothWays'));
    it('soft-deletes and tombstones streams, and sets and gets metadata', scenario('deletesTombstonesAndMetadata'));
  });

  describe('subscriptions', () => {
    it('catches up on a stream, then delivers live events', scenario('subscribesToStream'));
    it('subscribes to $all with a stream-name filter', scenario('subscribesToAllFiltered'));
    it('shares a persistent subscription group between consumers, and parks a nacked message', scenario('sharesPersistentGroup'));
    it('reports persistent subscriptions to $all as unsupported (not advertised)', scenario('refusesPersistentToAll'));
  });

  describe('projections and authentication', () => {
    it('creates a projection, reads its state, and deletes it', scenario('managesProjections'));
    it('refuses a wrong password with AccessDeniedError', scenario('refusesWrongPassword'));
  });
});
