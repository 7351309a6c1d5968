// The stream list with 100k streams: searching and paging return the right page, quickly. Timings
// are written to test-artifacts/dashboard/stream-list-100k.json for a reviewer; they are not
// asserted, so a slow machine does not fail the run.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect } from '../support/chai.js';
import { ARTIFACTS, openBrowser, requireChromium, type Browser } from './browser.js';
import { startDashboardServer, type DashboardServer } from './dashboard-server.js';

const STREAMS = 100_000;
const WAIT = { timeout: 60_000 };

async function streamNames(page: Page): Promise<string[]> {
  return page.locator('#stream-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-stream') ?? ''));
}

describe('dashboard stream list with 100k streams (browser)', function () {
  this.timeout(180_000);
  let browser: Browser;
  let server: DashboardServer;
  const timings: Record<string, number> = {};

  before(async function () {
    await requireChromium(this);
    server = await startDashboardServer({ systemProjections: false });
    const started = performance.now();
    for (let n = 0; n < STREAMS; n += 1000) {
      const writes = [];
      for (let i = n; i < n + 1000; i++) writes.push({ streamId: `account-${i}`, events: [{ type: 'AccountOpened', data: { i } }] });
      await server.store.appendToStreams(writes);
    }
    timings.appendMs = Math.round(performance.now() - started);
    browser = await openBrowser();
  });

  after(async () => {
    await writeFile(join(ARTIFACTS, 'stream-list-100k.json'), `${JSON.stringify({ streams: STREAMS, ...timings }, null, 2)}\n`).catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  /** Types into the search box and waits for the page that answers it; returns the ms it took (120 ms of it is the typing debounce). */
  async function search(page: Page, text: string, total: number): Promise<number> {
    const started = performance.now();
    await page.fill('#stream-search', text);
    await page.waitForFunction(`document.querySelector('#stream-summary')?.getAttribute('data-total') === '${total}'`, undefined, WAIT);
    return Math.round(performance.now() - started);
  }

  it('lists the newest streams first and pages through them', async () => {
    const { page } = browser;
    const started = performance.now();
    await page.goto(`${server.url}/#/streams`);
    await page.waitForFunction(`document.querySelector('#stream-summary')?.getAttribute('data-total') === '${STREAMS}'`, undefined, WAIT);
    // The first request waits for the catalog to read the store once.
    timings.firstPageMs = Math.round(performance.now() - started);
    expect((await streamNames(page)).slice(0, 2)).to.deep.equal(['account-99999', 'account-99998']);
    const pageStarted = performance.now();
    await page.click('#stream-next');
    await page.waitForFunction(`document.querySelector('#stream-rows')?.getAttribute('data-offset') === '50'`, undefined, WAIT);
    timings.nextPageMs = Math.round(performance.now() - pageStarted);
    const names = await streamNames(page);
    expect(names).to.have.length(50);
    expect(names[0]).to.equal('account-99949');
    expect(names[49]).to.equal('account-99900');
  });

  it('finds streams by part of their name', async () => {
    const { page } = browser;
    timings.searchManyMs = await search(page, 'account-9', 11_111);
    timings.searchFewMs = await search(page, 'account-4242', 11);
    expect(await streamNames(page)).to.deep.equal(['account-42429', 'account-42428', 'account-42427', 'account-42426', 'account-42425', 'account-42424', 'account-42423', 'account-42422', 'account-42421', 'account-42420', 'account-4242']);
    timings.searchNoneMs = await search(page, 'no-such-stream', 0);
    timings.searchOneMs = await search(page, 'account-77777', 1);
    // The last search: the round trip the page measured, and the catalog's own share of it.
    timings.lastRoundTripMs = Number(await page.getAttribute('#stream-summary', 'data-took-ms'));
    timings.lastServerQueryMs = Number(await page.getAttribute('#stream-summary', 'data-server-ms'));
    await browser.screenshot('streams-100k');
  });
});
