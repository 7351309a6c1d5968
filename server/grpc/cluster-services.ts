// `ServerFeatures.GetSupportedMethods` and `Gossip.Read`: what this node can do, and the cluster
// it belongs to (itself, the leader, alive). Clients use the first to choose between Append and
// BatchAppend and to refuse what a server lacks (persistent subscriptions to `$all`), and the
// second for discovery with `+discover` or several hosts.
import { randomUUID } from 'node:crypto';
import type { GrpcContext } from './call-context.js';
import type { ServerCall } from './server-call.js';
import type { ServiceDefinition, ServiceImplementation } from './grpc-server.js';
import { gossipPb, serverFeaturesPb, splitPath } from './protocol.js';
import { uuidMessage } from './wire.js';

/** Three parts, as the clients expect; the HTTP API's /info says the same. */
export const SERVER_VERSION = '24.0.0';

/**
 * Features per method, as Event Store names them. Persistent subscriptions say `stream` only:
 * groups on `$all` are not implemented, and the clients then refuse them with a clear error.
 */
const FEATURES: Readonly<Record<string, readonly string[]>> = {
  'event_store.client.streams.Streams/Read': ['position', 'events'],
  'event_store.client.streams.Streams/BatchAppend': ['deadline_duration'],
  'event_store.client.persistent_subscriptions.PersistentSubscriptions/Create': ['stream'],
  'event_store.client.persistent_subscriptions.PersistentSubscriptions/Update': ['stream'],
  'event_store.client.persistent_subscriptions.PersistentSubscriptions/Delete': ['stream'],
  'event_store.client.persistent_subscriptions.PersistentSubscriptions/Read': ['stream'],
  'event_store.client.persistent_subscriptions.PersistentSubscriptions/GetInfo': ['stream'],
  'event_store.client.persistent_subscriptions.PersistentSubscriptions/ReplayParked': ['stream'],
  'event_store.client.persistent_subscriptions.PersistentSubscriptions/List': ['stream'],
};

/**
 * The methods this server implements: every method of each served service that has a handler.
 * A method without a handler is not listed, so a client never calls it.
 */
export function serverFeaturesService(served: ReadonlyArray<{ definition: ServiceDefinition; implementation: ServiceImplementation }>): ServiceImplementation {
  const supported = new serverFeaturesPb.SupportedMethods();
  supported.setEventStoreServerVersion(SERVER_VERSION);
  for (const { definition, implementation } of served) {
    for (const [name, method] of Object.entries(definition)) {
      if (implementation[name] === undefined) continue;
      const { service, method: methodName } = splitPath(method.path);
      const entry = new serverFeaturesPb.SupportedMethod();
      entry.setServiceName(service.toLowerCase());
      entry.setMethodName(methodName.toLowerCase());
      entry.setFeaturesList([...(FEATURES[`${service}/${methodName}`] ?? [])]);
      supported.addMethods(entry);
    }
  }
  return {
    getSupportedMethods: (call: ServerCall<unknown, typeof supported>) => {
      call.write(supported);
      call.end();
    },
  };
}

export function gossipService(ctx: GrpcContext): ServiceImplementation {
  const instanceId = randomUUID();
  return {
    read: (call: ServerCall<unknown, InstanceType<typeof gossipPb.ClusterInfo>>) => {
      const { host, port } = ctx.address();
      const endpoint = new gossipPb.EndPoint();
      endpoint.setAddress(host);
      endpoint.setPort(port);
      const member = new gossipPb.MemberInfo();
      member.setInstanceId(uuidMessage(instanceId, true));
      member.setTimeStamp((BigInt(Date.now()) * 10_000n).toString());
      member.setState(gossipPb.MemberInfo.VNodeState.LEADER);
      member.setIsAlive(true);
      member.setHttpEndPoint(endpoint);
      const info = new gossipPb.ClusterInfo();
      info.addMembers(member);
      call.write(info);
      call.end();
    },
  };
}
