// The wire protocol of Event Store's gRPC API (the `event_store.client.*` services), taken from
// the message classes and service definitions that the official Node client ships as generated
// code (`@eventstore/db-client/generated`). Loading them at run time keeps field numbers, method
// paths and (de)serialisers exactly the clients' own; the service implementations are ours.
//
// The generated modules are CommonJS that export through `goog.object.extend`, which Node's ESM
// loader cannot see, so they are loaded with `require`.
import { createRequire } from 'node:module';
import type { ServiceDefinition } from './grpc-server.js';

const require = createRequire(import.meta.url);
const GENERATED = '@eventstore/db-client/generated';

export type StreamsPb = typeof import('@eventstore/db-client/generated/streams_pb.js');
export type SharedPb = typeof import('@eventstore/db-client/generated/shared_pb.js');
export type PersistentPb = typeof import('@eventstore/db-client/generated/persistent_pb.js');
export type ProjectionsPb = typeof import('@eventstore/db-client/generated/projections_pb.js');
export type UsersPb = typeof import('@eventstore/db-client/generated/users_pb.js');
export type GossipPb = typeof import('@eventstore/db-client/generated/gossip_pb.js');
export type ServerFeaturesPb = typeof import('@eventstore/db-client/generated/serverfeatures_pb.js');
export type StatusPb = typeof import('@eventstore/db-client/generated/status_pb.js');
export type StructPb = typeof import('google-protobuf/google/protobuf/struct_pb.js');
export type EmptyPb = typeof import('google-protobuf/google/protobuf/empty_pb.js');
export type AnyPb = typeof import('google-protobuf/google/protobuf/any_pb.js');

export const streamsPb = require(`${GENERATED}/streams_pb.js`) as StreamsPb;
export const sharedPb = require(`${GENERATED}/shared_pb.js`) as SharedPb;
export const persistentPb = require(`${GENERATED}/persistent_pb.js`) as PersistentPb;
export const projectionsPb = require(`${GENERATED}/projections_pb.js`) as ProjectionsPb;
export const usersPb = require(`${GENERATED}/users_pb.js`) as UsersPb;
export const gossipPb = require(`${GENERATED}/gossip_pb.js`) as GossipPb;
export const serverFeaturesPb = require(`${GENERATED}/serverfeatures_pb.js`) as ServerFeaturesPb;
export const statusPb = require(`${GENERATED}/status_pb.js`) as StatusPb;
export const structPb = require('google-protobuf/google/protobuf/struct_pb.js') as StructPb;
export const emptyPb = require('google-protobuf/google/protobuf/empty_pb.js') as EmptyPb;
export const anyPb = require('google-protobuf/google/protobuf/any_pb.js') as AnyPb;

function service(file: string, name: string): ServiceDefinition {
  const definition = (require(`${GENERATED}/${file}`) as Record<string, ServiceDefinition | undefined>)[name];
  if (definition === undefined) throw new TypeError(`${GENERATED}/${file} has no ${name}`);
  return definition;
}

export const services = {
  streams: service('streams_grpc_pb.js', 'StreamsService'),
  persistentSubscriptions: service('persistent_grpc_pb.js', 'PersistentSubscriptionsService'),
  projections: service('projections_grpc_pb.js', 'ProjectionsService'),
  users: service('users_grpc_pb.js', 'UsersService'),
  gossip: service('gossip_grpc_pb.js', 'GossipService'),
  serverFeatures: service('serverfeatures_grpc_pb.js', 'ServerFeaturesService'),
} as const;

/** `/event_store.client.streams.Streams/Read` → service `event_store.client.streams.Streams`, method `Read`. */
export function splitPath(path: string): { service: string; method: string } {
  const [, serviceName = '', method = ''] = path.split('/');
  return { service: serviceName, method };
}
