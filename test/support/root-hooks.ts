// Root hooks for every run: after all suites, say which were skipped for a missing service.
import { skippedSuites } from './services.js';

export const mochaHooks = {
  afterAll(): void {
    if (skippedSuites.length === 0) return;
    process.stdout.write(`\nSkipped suites (a service they need was not reachable):\n`);
    for (const line of skippedSuites) process.stdout.write(`  - ${line}\n`);
  },
};
