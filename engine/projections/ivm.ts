// The one place the projection runtime imports isolated-vm: the build matching the running Node,
// chosen by engine/isolated-vm.ts.
export { default, type IsolatedVM } from '../isolated-vm.js';
