import { expect } from 'chai';
import ivm, { candidatePackages, isolatedVmBuild, nodeSnapshotDisabled, type IsolatedVM } from '../../engine/isolated-vm.js';

describe('engine/isolated-vm', () => {
  let isolate: IsolatedVM.Isolate | undefined;

  afterEach(() => {
    if (isolate && !isolate.isDisposed) isolate.dispose();
    isolate = undefined;
  });

  it('loads the build meant for the running Node major', () => {
    const major = Number(process.versions.node.split('.')[0]);
    const expected = major >= 24 ? 'isolated-vm-node24' : major >= 22 ? 'isolated-vm-node22' : 'isolated-vm-node20';
    expect(isolatedVmBuild.package).to.equal(expected);
    expect(candidatePackages()[0]?.name).to.equal(expected);
    expect(isolatedVmBuild.version).to.match(/^\d+\.\d+\.\d+/);
  });

  it('runs where --no-node-snapshot is in effect', () => {
    expect(nodeSnapshotDisabled()).to.equal(true);
  });

  it('runs a script in an isolate with a memory limit and copies the result out', async () => {
    isolate = new ivm.Isolate({ memoryLimit: 16 });
    const context = await isolate.createContext();
    await context.global.set('input', new ivm.ExternalCopy({ amounts: [3, 4, 5] }).copyInto());
    const script = await isolate.compileScript('({ total: input.amounts.reduce((a, b) => a + b, 0) })');
    const result: unknown = await script.run(context, { copy: true, timeout: 1000 });
    expect(result).to.deep.equal({ total: 12 });
    expect(typeof process).to.equal('object');
    expect(await context.eval('typeof process')).to.equal('undefined');
  });

  it('faults a script that runs past its timeout, and the isolate stays usable', async () => {
    isolate = new ivm.Isolate({ memoryLimit: 16 });
    const context = await isolate.createContext();
    const started = Date.now();
    let error: unknown;
    try {
      await context.eval('for (;;) {}', { timeout: 50 });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.match(/timed out/i);
    expect(Date.now() - started).to.be.below(5000);
    expect(isolate.isDisposed).to.equal(false);
    expect(await context.eval('1 + 1')).to.equal(2);
  });

  it('faults a script that exceeds the memory limit without taking the host down', async () => {
    isolate = new ivm.Isolate({ memoryLimit: 8 });
    const context = await isolate.createContext();
    let error: unknown;
    try {
      await context.eval('const hog = []; for (;;) hog.push(new Array(1e5).fill(Math.random()))', { timeout: 10_000 });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.match(/memory limit/i);
    expect(isolate.isDisposed).to.equal(true);
  });
});
