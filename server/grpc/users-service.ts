import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { GrpcContext } from './call-context.js';
export function usersService(_ctx: GrpcContext): UntypedServiceImplementation {
  return {};
}
