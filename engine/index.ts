// The projection runtime's public surface: `import { ProjectionManager } from 'telltale'`.
export {
  ProjectionManager,
  type ProjectionManagerOptions,
  type CreateProjectionOptions,
  type UpdateProjectionOptions,
  type DeleteProjectionOptions,
  type ProjectionStatus,
} from './projections/projection-manager.js';
export type { ProjectionMode, ProjectionRunStatus, ProjectionFault, RunnerLogger } from './projections/projection-runner.js';
export { ProjectionFaultedError, ProjectionInvalidError, ProjectionNotFoundError, ProjectionExistsError, ProjectionNotStoppedError } from './projections/errors.js';
export { DEFAULT_PROJECTION_CONFIG, type ProjectionConfig } from './projections/projection-config.js';
export type { ProjectionLogEntry } from './projections/projection-log.js';
export { parseStartFrom, type StartFrom } from './projections/start-position.js';
export { compileProjection } from './projections/processor.js';
export type { SourceDefinition } from './projections/source-definition.js';
export type { SandboxLimits } from './projections/sandbox.js';
export { defaultSandboxLimits } from './projections/sandbox.js';
export { SYSTEM_PROJECTIONS, categoryOf } from './projections/system-projections.js';
export type { Clock } from './projections/clock.js';
