// Talking to the server: JSON requests with the signed-in user's credentials, and the live feed
// (server-sent events read over fetch, so it carries the Authorization header that EventSource
// cannot send), reconnecting by itself when the server goes away and comes back.

const KEY = 'telltale.credentials';

export class NotAuthenticated extends Error {}

export function credentials() {
  return sessionStorage.getItem(KEY);
}

export function signIn(user, password) {
  sessionStorage.setItem(KEY, btoa(unescape(encodeURIComponent(`${user}:${password}`))));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const h = { Accept: 'application/json', ...extra };
  const c = credentials();
  if (c) h.Authorization = `Basic ${c}`;
  return h;
}

/** A JSON request; throws NotAuthenticated on 401, an Error with the server's message otherwise. */
export async function request(method, url, { body, type } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': type ?? 'application/json' }) };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status === 401) throw new NotAuthenticated('Sign in to continue');
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  if (!res.ok) {
    const err = new Error((json && json.message) || `${method} ${url}: ${res.status}`);
    err.status = res.status;
    err.code = json && json.error;
    throw err;
  }
  return json;
}

export const get = (url) => request('GET', url);

/**
 * Opens `url` as a server-sent event feed. `on.open()` runs on each (re)connection, `on[event](data)`
 * for each event, `on.state(s)` with 'connecting' | 'live' | 'reconnecting'. Returns `close()`.
 */
export function liveFeed(url, on) {
  let closed = false;
  let controller;
  let delay = 500;
  async function connect() {
    while (!closed) {
      controller = new AbortController();
      try {
        const res = await fetch(url, { headers: headers({ Accept: 'text/event-stream' }), signal: controller.signal });
        if (res.status === 401) {
          on.unauthorized?.();
          return;
        }
        if (!res.ok || !res.body) throw new Error(`live feed: ${res.status}`);
        delay = 500;
        on.state?.('live');
        on.open?.();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length > 0 && on[event]) on[event](JSON.parse(data.join('\n')));
          }
        }
      } catch (err) {
        if (closed) return;
      }
      if (closed) return;
      on.state?.('reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
  on.state?.('connecting');
  void connect();
  return () => {
    closed = true;
    controller?.abort();
  };
}
