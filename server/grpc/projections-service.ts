import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ProjectionManager } from '../../engine/projections/projection-manager.js';
import type { GrpcContext } from './call-context.js';
export function projectionsService(_ctx: GrpcContext, _p: ProjectionManager): UntypedServiceImplementation {
  return {};
}
