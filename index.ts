// The package's public entry: `import { openStore } from 'telltale'`.
export * from './store/index.js';
export * from './engine/index.js';
export * from './engine/connectors/index.js';
