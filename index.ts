// The package's public entry: `import { openStore } from 'telltale'`.
export * from './store/index.js';
export * from './engine/index.js';
export * from './engine/connectors/index.js';
export * from './server/index.js';
export * from './engine/subscriptions/index.js';
export { StreamAccess, isAllowed, aclTarget, allowedRoles, parseSystemSettings, AccessDeniedError, NotAuthenticatedError, ANONYMOUS, SYSTEM, ADMINS_GROUP, OPS_GROUP, type Principal, type StreamAction, type SystemSettings } from './store/acl.js';
