// The isolated-vm build for the running Node. isolated-vm's majors follow Node's ABI: 5.x builds on
// Node 18–20, 6.x on 22 (and ships prebuilt binaries for 22 and 24), 7.x on 24 and later (prebuilt
// for 24 and 26). package.json brings each as an optional npm alias, so `npm install` keeps the one
// that installs on this Node and skips the rest (by their engines field, or because their build
// failed). Projection code imports isolated-vm from here, never from a package name:
//
//   import ivm, { type IsolatedVM } from '../engine/isolated-vm.js';
//   const isolate: IsolatedVM.Isolate = new ivm.Isolate({ memoryLimit: 64 });
//
// Node 20 and later must run with --no-node-snapshot for isolated-vm (its README says so: V8's
// startup snapshot and isolated-vm's isolates do not mix and can crash the process). bin/telltale.js
// and scripts/test.js pass it; a program that embeds Telltale passes it itself (`node
// --no-node-snapshot app.js`, or NODE_OPTIONS=--no-node-snapshot). nodeSnapshotDisabled() tells.
import { createRequire } from 'node:module';
import type { IsolatedVM } from './isolated-vm-types.js';

export type { IsolatedVM };

/** A package that can bring isolated-vm, and the lowest Node major it is meant for. */
export interface IsolatedVmPackage {
  readonly name: string;
  readonly isolatedVm: string;
  readonly minNodeMajor: number;
}

/** Newest first. Keep in step with optionalDependencies in package.json. */
export const isolatedVmPackages: readonly IsolatedVmPackage[] = [
  { name: 'isolated-vm-node24', isolatedVm: '7.x', minNodeMajor: 24 },
  { name: 'isolated-vm-node22', isolatedVm: '6.x', minNodeMajor: 22 },
  { name: 'isolated-vm-node20', isolatedVm: '5.x', minNodeMajor: 18 },
];

/** Which package was loaded, for diagnostics (`telltale --version`, logs). */
export interface IsolatedVmBuild {
  readonly package: string;
  readonly version: string;
  readonly nodeVersion: string;
}

const nodeMajor = Number(process.versions.node.split('.')[0]);

/** The packages worth trying on this Node, the best match first. */
export function candidatePackages(major: number = nodeMajor): IsolatedVmPackage[] {
  return isolatedVmPackages.filter((p) => p.minNodeMajor <= major);
}

/** True when this process runs with --no-node-snapshot (on the command line or in NODE_OPTIONS). */
export function nodeSnapshotDisabled(): boolean {
  const flag = '--no-node-snapshot';
  return process.execArgv.includes(flag) || (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(flag);
}

function load(): { ivm: typeof IsolatedVM; build: IsolatedVmBuild } {
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const pkg of candidatePackages()) {
    try {
      const ivm = require(pkg.name) as typeof IsolatedVM;
      if (typeof ivm?.Isolate !== 'function') throw new Error('it did not export an Isolate class');
      const { version } = require(`${pkg.name}/package.json`) as { version: string };
      return { ivm, build: { package: pkg.name, version, nodeVersion: process.versions.node } };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const reason = (message.split('\nRequire stack:')[0] ?? message).replace(/\s+/g, ' ').trim();
      failures.push(`  - ${pkg.name} (isolated-vm ${pkg.isolatedVm}, for Node ${pkg.minNodeMajor}+): ${reason}`);
    }
  }
  const all = isolatedVmPackages.map((p) => `${p.name} (isolated-vm ${p.isolatedVm})`).join(', ');
  throw new Error(
    [
      `telltale: no isolated-vm build loads on Node ${process.versions.node}.`,
      `It comes from one of the optional dependencies ${all}; the one for this Node did not install or does not load:`,
      ...(failures.length > 0 ? failures : [`  - none of them is meant for Node ${nodeMajor} (Node 20 or later is needed)`]),
      'Reinstall under the Node you run it with (`npm ci` or `npm install`), with install scripts allowed for',
      'isolated-vm (`npm install-scripts approve isolated-vm`) and a C++ compiler and Python for node-gyp on Node 20.',
    ].join('\n'),
  );
}

const loaded = load();

/** The package and version that `ivm` came from. */
export const isolatedVmBuild: IsolatedVmBuild = loaded.build;

const ivm: typeof IsolatedVM = loaded.ivm;
export default ivm;
