// The page: sign-in, the live feed shared by every view, and the hash router
// (#/overview, #/streams[/name[/revision]], #/projections[/name], #/alert/stream/rev, #/correlation[/id]).
import { NotAuthenticated, get, liveFeed, signIn, signOut, credentials } from './api.js';
import { clear, h } from './dom.js';
import { live } from './live.js';
import { overviewView } from './overview.js';
import { streamsView, streamView, eventView } from './streams.js';
import { projectionsView, projectionView, alertView } from './projections.js';
import { correlationView } from './correlation.js';

const view = document.getElementById('view');
const badge = document.getElementById('connection');
const userBox = document.getElementById('user');
const loginDialog = document.getElementById('login');
const loginForm = document.getElementById('login-form');
const loginError = document.getElementById('login-error');

/** What the server said about the signed-in user: { authenticated, user, admin, ops, readAll, projections }. */
export let session = { authenticated: false };
let closeFeed;
let disposeView;

const routes = [
  [/^\/overview$/, () => overviewView],
  [/^\/streams$/, () => streamsView],
  [/^\/streams\/([^/]+)$/, (m) => (ctx) => streamView(ctx, decodeURIComponent(m[1]))],
  [/^\/streams\/([^/]+)\/(\d+)$/, (m) => (ctx) => eventView(ctx, decodeURIComponent(m[1]), m[2])],
  [/^\/projections$/, () => projectionsView],
  [/^\/projections\/([^/]+)$/, (m) => (ctx) => projectionView(ctx, decodeURIComponent(m[1]))],
  [/^\/alert\/([^/]+)\/(\d+)$/, (m) => (ctx) => alertView(ctx, decodeURIComponent(m[1]), m[2])],
  [/^\/correlation(?:\/([^/]+))?$/, (m) => (ctx) => correlationView(ctx, m[1] === undefined ? '' : decodeURIComponent(m[1]))],
];

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

async function render() {
  const { path, params } = parseHash();
  disposeView?.();
  disposeView = undefined;
  const section = path.split('/')[1] === 'alert' ? 'projections' : path.split('/')[1];
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.section === section);
  const match = routes.map(([re, make]) => [path.match(re), make]).find(([m]) => m);
  clear(view);
  if (!match) {
    view.append(h('p', {}, 'Nothing here. ', h('a', { href: '#/overview' }, 'Back to the overview')));
    return;
  }
  const [m, make] = match;
  const cleanups = [];
  const ctx = { root: view, params, session, live, onDispose: (fn) => cleanups.push(fn), rerender: render };
  disposeView = () => cleanups.splice(0).forEach((fn) => fn());
  try {
    await make(m)(ctx);
  } catch (err) {
    if (err instanceof NotAuthenticated) return askToSignIn();
    view.append(h('div', { class: 'fault' }, err.message));
  }
}

function askToSignIn(message) {
  loginError.hidden = !message;
  loginError.textContent = message ?? '';
  if (!loginDialog.open) loginDialog.showModal();
}

loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const data = new FormData(loginForm);
  signIn(String(data.get('user')), String(data.get('password')));
  try {
    await start();
    loginDialog.close();
  } catch (err) {
    signOut();
    askToSignIn(err instanceof NotAuthenticated ? 'Wrong user or password' : err.message);
  }
});

function showUser() {
  clear(userBox);
  if (session.authenticated && session.authRequired) {
    userBox.append(
      session.user,
      session.ops ? '' : ' (read only)',
      h('button', { type: 'button', onclick: () => { signOut(); location.reload(); } }, 'Sign out'),
    );
  } else if (!session.authRequired) {
    userBox.append('no authentication (insecure)');
  }
}

function connect() {
  closeFeed?.();
  closeFeed = liveFeed('/dashboard/api/live', {
    state: (s) => {
      if (s === 'reconnecting' && badge.dataset.state !== 'reconnecting') badge.dataset.reconnects = String(Number(badge.dataset.reconnects ?? 0) + 1);
      badge.dataset.state = s;
      badge.textContent = s === 'live' ? 'live' : s === 'reconnecting' ? 'reconnecting…' : 'connecting…';
    },
    // After a reconnect (the server may have restarted), start again from a fresh snapshot.
    open: () => void get('/dashboard/api/overview').then((o) => live.reset(o), () => undefined),
    tick: (t) => live.tick(t),
    alert: (a) => live.alert(a),
    unauthorized: () => askToSignIn('Your session ended; sign in again'),
  });
}

async function start() {
  session = await get('/dashboard/api/session');
  if (session.authRequired && !session.authenticated) throw new NotAuthenticated('Sign in');
  showUser();
  connect();
  await render();
}

window.addEventListener('hashchange', () => void render());
/** Starts the page; while the server cannot be reached, says so and tries again. */
function boot(delay = 1000) {
  start().catch((err) => {
    if (err instanceof NotAuthenticated) return askToSignIn(credentials() ? 'Wrong user or password' : undefined);
    clear(view, h('div', { class: 'fault' }, `Cannot reach the server (${err.message}); trying again…`));
    setTimeout(() => boot(Math.min(delay * 2, 5000)), delay);
  });
}
boot();
