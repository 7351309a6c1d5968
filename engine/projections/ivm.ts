// The one place the projection runtime imports isolated-vm. Until engine/isolated-vm.ts (which
// picks the build matching the running Node) is committed, this loads the Node 20 build directly;
// switch to `export { default, type IsolatedVM } from '../isolated-vm.js'` then.
import { createRequire } from 'node:module';
import type * as IsolatedVMModule from 'isolated-vm-node20';

export type { IsolatedVMModule as IsolatedVM };

const require = createRequire(import.meta.url);
const ivm = require('isolated-vm-node20') as typeof IsolatedVMModule;
export default ivm;
