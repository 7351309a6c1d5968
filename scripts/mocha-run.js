// The mocha half of scripts/test.js: runs the files it is given and prints the summary line.
import Mocha from 'mocha';
import { pathToFileURL } from 'node:url';

const files = process.argv.slice(2);
const mocha = new Mocha({
  timeout: Number(process.env.TEST_TIMEOUT ?? 60_000),
  reporter: process.env.MOCHA_REPORTER ?? 'spec',
  rootHooks: (await import(pathToFileURL(new URL('../dist/test/support/root-hooks.js', import.meta.url).pathname).href)).mochaHooks,
});
for (const f of files) mocha.addFile(f);
await mocha.loadFilesAsync();
const runner = mocha.run((failures) => {
  const { passes = 0, pending = 0, failures: failed = 0 } = runner.stats ?? {};
  console.log(`tests: ${passes} passed, ${failed} failed, ${pending} skipped`);
  process.exitCode = failures > 0 || passes === 0 ? 1 : 0;
  // Suites that leave a handle open (a stray timer in a library) must not hang CI.
  setTimeout(() => process.exit(process.exitCode), 2000).unref();
});
