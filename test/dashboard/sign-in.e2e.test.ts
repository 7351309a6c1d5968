// A server that requires users: the dashboard asks to sign in, refuses a wrong password, shows a
// read-only user no admin action, and gives an operator the deploy form and projection commands.
import { expect } from '../support/chai.js';
import { openBrowser, requireChromium, type Browser } from './browser.js';
import { startDashboardServer, type DashboardServer } from './dashboard-server.js';

const WAIT = { timeout: 15_000 };
const ADMIN_PASSWORD = 'dashboard-admin-secret';

describe('dashboard sign-in (browser)', function () {
  this.timeout(60_000);
  let browser: Browser;
  let server: DashboardServer;

  before(async function () {
    await requireChromium(this);
    server = await startDashboardServer({ auth: { adminPassword: ADMIN_PASSWORD } });
    const admin = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    const res = await fetch(`${server.url}/users`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ loginName: 'viewer', fullName: 'Read only', password: 'viewer-pass', groups: [] }),
    });
    expect(res.status).to.equal(201);
    browser = await openBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function signIn(user: string, password: string): Promise<void> {
    await browser.page.fill('#login-form input[name="user"]', user);
    await browser.page.fill('#login-form input[name="password"]', password);
    await browser.page.click('#login-form button[type="submit"]');
  }

  it('asks to sign in and refuses a wrong password', async () => {
    const { page } = browser;
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#login[open]', WAIT);
    await signIn('admin', 'not-the-password');
    await page.waitForSelector('#login-error:not([hidden])', WAIT);
    expect(await page.textContent('#login-error')).to.contain('Wrong user or password');
    await browser.screenshot('sign-in-refused');
  });

  it('shows a user without $ops no deploy form and no projection commands', async () => {
    const { page } = browser;
    await signIn('viewer', 'viewer-pass');
    await page.waitForSelector('#login:not([open])', { ...WAIT, state: 'attached' });
    expect(await page.textContent('#user')).to.contain('viewer').and.to.contain('read only');
    await page.goto(`${server.url}/#/projections`);
    await page.waitForSelector('#projection-rows tr[data-projection="$streams"]', WAIT);
    expect(await page.locator('#deploy-form').count()).to.equal(0);
    await page.click('#projection-rows tr[data-projection="$streams"] a');
    await page.waitForSelector('#projection-actions', WAIT);
    expect(await page.locator('#projection-actions button').count()).to.equal(0);
    expect(await page.textContent('#projection-actions')).to.contain('read-only');
    await browser.screenshot('sign-in-read-only');
  });

  it('gives an administrator the deploy form and the projection commands', async () => {
    const { page } = browser;
    await page.click('#user button');
    await page.waitForSelector('#login[open]', WAIT);
    await signIn('admin', ADMIN_PASSWORD);
    await page.waitForSelector('#login:not([open])', { ...WAIT, state: 'attached' });
    await page.goto(`${server.url}/#/projections`);
    await page.waitForSelector('#deploy-form', WAIT);
    await page.goto(`${server.url}/#/projections/$streams`);
    await page.waitForSelector('#action-disable', WAIT);
    expect(await page.locator('#action-delete').count()).to.equal(0);
    await browser.screenshot('sign-in-admin');
  });
});
