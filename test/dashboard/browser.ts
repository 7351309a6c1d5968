// Debian's Chromium, driven by playwright-core (no browser download): launched headless with a
// fresh profile per suite. Without /usr/bin/chromium the suite is skipped with a line saying how to
// install it, except under CI (CI=true), where a missing browser fails the run.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { skippedSuites } from '../support/services.js';

export const CHROMIUM = process.env.TELLTALE_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'dashboard');

export interface Browser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Saves a full-page screenshot as test-artifacts/dashboard/NAME.png. */
  screenshot(name: string, page?: Page): Promise<string>;
  close(): Promise<void>;
}

export async function requireChromium(ctx: Mocha.Context): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  const message = `Chromium not found at ${CHROMIUM}; install it with \`apt-get update && apt-get install -y chromium\``;
  if (process.env.CI === 'true') throw new Error(`${message} (CI requires the dashboard suites to run)`);
  skippedSuites.push(`${ctx.test?.parent?.fullTitle() ?? 'dashboard'}: ${message}`);
  ctx.skip();
}

export async function openBrowser(): Promise<Browser> {
  await mkdir(ARTIFACTS, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), 'telltale-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return {
    context,
    page,
    async screenshot(name, which = page) {
      const path = join(ARTIFACTS, `${name}.png`);
      await which.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
      if (problems.length > 0) throw new Error(`The page reported errors:\n${problems.join('\n')}`);
    },
  };
}
