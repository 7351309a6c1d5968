// The wire protocol of Event Store's gRPC API (the `event_store.client.*` services), taken from
// the message classes and service definitions that the official Node client ships as generated
// code (`@eventstore/db-client/generated`). Loading them at run time keeps field numbers, method
// paths and (de)serialisers exactly the clients' own; the service implementations are ours.
//
// google-protobuf's generated code hangs every message class on one global namespace
// (`globalThis.proto.event_store.client…`), and the classes' methods look each other up there
// when they run. @eventstore/db-client and @kurrent/kurrentdb-client both generate
// `event_store.client.*`, with different fields, so in one process whichever loads last breaks
// the other (a KurrentDB client beside an embedded Telltale server could not append). The
// server's copies are therefore loaded with a namespace of their own: each generated CommonJS
// file is compiled with its `global` replaced by a private object, and the `*_pb.js` files it
// requires are loaded the same way.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { compileFunction } from 'node:vm';
import type { ServiceDefinition } from './grpc-server.js';

const require = createRequire(import.meta.url);
const GENERATED = '@eventstore/db-client/generated';

const privateGlobal: { proto: Record<string, unknown> } = { proto: {} };
const loaded = new Map<string, { exports: unknown }>();

/** The `var global = …;` statement a generated file starts with (up to the blank line after it). */
function withPrivateGlobal(source: string, path: string): string {
  const start = source.indexOf('var global =');
  if (start < 0) {
    if (path.endsWith('_grpc_pb.js')) return source;
    throw new TypeError(`${path} does not define its global as the generated code this server knows does`);
  }
  const end = source.indexOf('\n\n', start);
  if (end < 0 || !source.slice(start, end).includes('return this')) throw new TypeError(`${path}: unexpected generated code around 'var global ='`);
  return `${source.slice(0, start)}var global = __privateGlobal;${source.slice(end)}`;
}

/** Loads a generated file (and the generated files it requires) against the private namespace. */
function loadGenerated(path: string): unknown {
  const known = loaded.get(path);
  if (known !== undefined) return known.exports;
  const module = { exports: {} as unknown };
  loaded.set(path, module);
  const own = createRequire(path);
  const requireFromFile = (specifier: string) => (specifier.endsWith('_pb.js') ? loadGenerated(own.resolve(specifier)) : own(specifier));
  const run = compileFunction(withPrivateGlobal(readFileSync(path, 'utf8'), path), ['exports', 'require', 'module', '__filename', '__dirname', '__privateGlobal', 'proto'], { filename: path });
  run.call(module.exports, module.exports, requireFromFile, module, path, dirname(path), privateGlobal, privateGlobal.proto);
  return module.exports;
}

const load = (specifier: string) => loadGenerated(require.resolve(specifier));

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

export const streamsPb = load(`${GENERATED}/streams_pb.js`) as StreamsPb;
export const sharedPb = load(`${GENERATED}/shared_pb.js`) as SharedPb;
export const persistentPb = load(`${GENERATED}/persistent_pb.js`) as PersistentPb;
export const projectionsPb = load(`${GENERATED}/projections_pb.js`) as ProjectionsPb;
export const usersPb = load(`${GENERATED}/users_pb.js`) as UsersPb;
export const gossipPb = load(`${GENERATED}/gossip_pb.js`) as GossipPb;
export const serverFeaturesPb = load(`${GENERATED}/serverfeatures_pb.js`) as ServerFeaturesPb;
export const statusPb = load(`${GENERATED}/status_pb.js`) as StatusPb;
export const structPb = load('google-protobuf/google/protobuf/struct_pb.js') as StructPb;
export const emptyPb = load('google-protobuf/google/protobuf/empty_pb.js') as EmptyPb;
export const anyPb = load('google-protobuf/google/protobuf/any_pb.js') as AnyPb;

function service(file: string, name: string): ServiceDefinition {
  const definition = (load(`${GENERATED}/${file}`) as Record<string, ServiceDefinition | undefined>)[name];
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
