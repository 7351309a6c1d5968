import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { GrpcContext } from './call-context.js';
export function persistentSubscriptionsService(_ctx: GrpcContext): UntypedServiceImplementation {
  return {};
}
