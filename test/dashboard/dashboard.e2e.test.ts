// The dashboard as an operator uses it, in a real browser against a real server fed by a generator:
// live rates, streams and events, deploying a rule, alerts arriving live, a faulted projection,
// an alert followed to its correlation graph, reconnecting after a restart, and sign-in.
// Every test leaves a screenshot in test-artifacts/dashboard/.
import type { Page } from 'playwright-core';
import { expect } from '../support/chai.js';
import { openBrowser, requireChromium, type Browser } from './browser.js';
import { startDashboardServer, type DashboardServer } from './dashboard-server.js';
import { CARD_TESTING_RULE, FRAGILE_PROJECTION, Traffic } from './traffic.js';

const WAIT = { timeout: 15_000 };

async function numberAt(page: Page, selector: string, attribute: string): Promise<number> {
  return Number(await page.locator(selector).getAttribute(attribute));
}

/** Page-side expression: the number in `attribute` of the element at `selector`. */
const attr = (selector: string, attribute: string): string => `Number(document.querySelector(${JSON.stringify(selector)})?.getAttribute(${JSON.stringify(attribute)}))`;

/** Waits until the page-side `expression` holds. */
async function until(page: Page, expression: string): Promise<void> {
  await page.waitForFunction(expression, undefined, WAIT);
}

describe('dashboard (browser)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let server: DashboardServer;
  let traffic: Traffic;
  let page: Page;

  before(async function () {
    await requireChromium(this);
    server = await startDashboardServer();
    traffic = new Traffic(server.store);
    traffic.start(5, 100);
    browser = await openBrowser();
    page = browser.page;
  });

  after(async () => {
    await traffic?.stop();
    await browser?.close();
    await server?.stop();
  });

  it('shows events per second in the live chart, moving as events arrive', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#connection[data-state="live"]', WAIT);
    await until(page, `${attr('#chart-events', 'data-busy-seconds')} >= 2`);
    const before = await numberAt(page, '#chart-events', 'data-busy-seconds');
    await until(page, `${attr('#chart-events', 'data-busy-seconds')} > ${before}`);
    expect(await numberAt(page, '#chart-events', 'data-last')).to.be.greaterThan(0);
    expect(await page.locator('#chart-events canvas').count()).to.equal(1);
    expect(await page.locator('#projection-rows tr[data-projection="$streams"]').count()).to.equal(1);
    await browser.screenshot('overview-rates');
  });

  it('finds a stream by name, lists its events newest first and opens one with its data and metadata', async () => {
    await traffic.order('order-lookup-me', 'c-lookup', [42, 43]);
    await page.goto(`${server.url}/#/streams`);
    await page.fill('#stream-search', 'card-c-lookup');
    await until(page, `${attr('#stream-summary', 'data-total')} === 1`);
    expect(await page.locator('#stream-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-stream')))).to.deep.equal(['card-c-lookup']);
    await browser.screenshot('streams-search');
    await page.click('#stream-rows tr[data-stream="card-c-lookup"] a');
    await page.waitForSelector('#event-rows tr[data-revision="1"]', WAIT);
    const revisions = await page.locator('#event-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-revision')));
    expect(revisions).to.deep.equal(['1', '0']);
    await browser.screenshot('stream-events');
    await page.click('#event-rows tr[data-revision="1"] a');
    await page.waitForSelector('#event-data', WAIT);
    expect(await page.textContent('#event-data')).to.contain('"amount": 43');
    expect(await page.textContent('#event-metadata')).to.contain('$causationId');
    expect(await page.getAttribute('#event-correlation', 'href')).to.match(/^#\/correlation\//);
    await browser.screenshot('event-detail');
  });

  it('deploys a rule pasted into the page and draws its steps, window and limits', async () => {
    await page.goto(`${server.url}/#/projections`);
    await page.fill('#deploy-name', 'card-testing');
    await page.fill('#deploy-source', CARD_TESTING_RULE);
    await page.click('#deploy-form button[type="submit"]');
    await page.waitForURL(/#\/projections\/card-testing$/, WAIT);
    await page.waitForSelector('#projection-status.Running', WAIT);
    await page.waitForSelector('.diagram[data-rule="card-testing"] canvas', WAIT);
    const facts = await page.textContent('.rule .facts');
    expect(facts).to.contain('10m').and.to.contain('partial matches per key');
    // cytoscape draws on canvas: its model says what it drew.
    const labels = (await page.evaluate(`document.querySelector('.diagram[data-rule="card-testing"]')._cyreg.cy.nodes().map((n) => n.data('label'))`)) as string[];
    expect(labels.join('\n')).to.contain('tiny').and.to.contain('× 3').and.to.contain('big').and.to.contain('within 10m');
    await browser.screenshot('rule-deployed');
  });

  it('shows an alert on the overview as soon as the rule raises it', async () => {
    await page.goto(`${server.url}/#/overview`);
    await page.waitForSelector('#connection[data-state="live"]', WAIT);
    await traffic.attack('c-attacked');
    await page.waitForSelector('#alert-list li[data-alert] .type', WAIT);
    expect(await page.textContent('#alert-list')).to.contain('CardTestingAlert').and.to.contain('card-testing');
    await browser.screenshot('overview-alert');
  });

  it('shows which events matched which step, and follows the alert to its correlation graph', async () => {
    await page.click('#alert-list li[data-alert] a.type');
    await page.waitForSelector('#matched-steps', WAIT);
    const steps = await page.locator('#matched-steps tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-step')));
    expect(steps).to.deep.equal(['tiny', 'tiny', 'tiny', 'big']);
    await page.waitForSelector('.diagram[data-rule="card-testing"] canvas', WAIT);
    await browser.screenshot('alert-matched-steps');
    await page.click('#alert-graph');
    await page.waitForSelector('#graph canvas', WAIT);
    // The order, its four charges and the alert they caused: six events, each caused by the one before.
    await until(page, `${attr('#graph', 'data-nodes')} === 6`);
    expect(await page.getAttribute('#graph', 'data-edges')).to.equal('5');
    expect(await page.textContent('#graph-info')).to.contain('matched by the alert');
    await browser.screenshot('correlation-graph');
  });

  it('shows a faulted projection with its error and the position of the event', async () => {
    // Deployed from a file, as an operator uploads one.
    await page.goto(`${server.url}/#/projections`);
    await page.setInputFiles('#deploy-file', { name: 'fragile.js', mimeType: 'text/javascript', buffer: Buffer.from(FRAGILE_PROJECTION) });
    await page.waitForFunction(`document.querySelector('#deploy-name').value === 'fragile'`, undefined, WAIT);
    await page.click('#deploy-form button[type="submit"]');
    await page.waitForURL(/#\/projections\/fragile$/, WAIT);
    await traffic.order('order-poison', 'c-poison', [13.13]);
    await page.goto(`${server.url}/#/projections`);
    await page.waitForSelector('#projection-rows tr[data-projection="fragile"][data-status="Faulted"]', WAIT);
    expect(await page.textContent('#projection-rows tr[data-projection="fragile"]')).to.contain('cannot handle an amount of 13.13');
    await browser.screenshot('projections-faulted');
    await page.click('#projection-rows tr[data-projection="fragile"] a');
    await page.waitForSelector('#fault-message', WAIT);
    expect(await page.textContent('#fault-message')).to.contain('cannot handle an amount of 13.13');
    expect(await page.textContent('#fault-position')).to.match(/^\d+/);
    await browser.screenshot('projection-fault');
    // An operator can stop it from the page.
    await page.click('#action-disable');
    await page.waitForSelector('#projection-facts[data-enabled="false"]', WAIT);
  });

  it('reconnects the live feed when the server restarts', async () => {
    await page.goto(`${server.url}/#/overview`);
    await page.waitForSelector('#connection[data-state="live"]', WAIT);
    await traffic.stop();
    const reconnects = await numberAt(page, '#connection', 'data-reconnects');
    await server.restart();
    traffic.start(5, 100);
    await until(page, `${attr('#connection', 'data-reconnects')} > ${reconnects}`);
    await page.waitForSelector('#connection[data-state="live"]', WAIT);
    const busy = await numberAt(page, '#chart-events', 'data-busy-seconds');
    await until(page, `${attr('#chart-events', 'data-busy-seconds')} > ${busy}`);
    await browser.screenshot('overview-after-restart');
  });
});
