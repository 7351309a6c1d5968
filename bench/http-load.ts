// HTTP load for bench/http.ts, from one of two generators driving the same requests:
//   - wrk (a C program, run as a child process with a generated Lua script): the cheaper client,
//     which matters on a machine where the load generator shares the cores with the server;
//   - autocannon (Node, in this process): always available, and what the earlier figures used.
// Both report the same figures, including the load generator's own CPU time, so that the server's
// CPU per request and the client's can be read side by side whichever one ran.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type LoadClient = 'wrk' | 'autocannon';

/**
 * What each connection sends: the same fixed GETs over and over (cycled through), or appends with
 * fresh event ids in every request, spread over `streams` streams named `${streamPrefix}${i}`.
 */
export type LoadRequests =
  | { readonly kind: 'paths'; readonly paths: readonly string[] }
  | { readonly kind: 'appends'; readonly streamPrefix: string; readonly streams: number; readonly eventsPerRequest: number };

export interface Load {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Sent with every request, besides Host (and Content-Type/Length for appends). */
  readonly headers: Readonly<Record<string, string>>;
  readonly requests: LoadRequests;
}

export interface LoadFigures {
  readonly requestsPerSec: number;
  readonly requests: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  /** Answers with a status outside 2xx: none is expected in any scenario. */
  readonly non2xx: number;
  /** Connection, read and write errors and timeouts. */
  readonly errors: number;
  /** CPU time (user + system) the load generator used during the run, µs. */
  readonly clientCpuUs: number;
}

export const EVENTS_JSON = 'application/vnd.eventstore.events+json';

/** `n` events as an Event Store batch; written as text, so the load generator spends little on it. */
export function eventBody(n: number): string {
  let body = '[';
  for (let i = 0; i < n; i++) {
    if (i > 0) body += ',';
    body += `{"eventId":"${randomUUID()}","eventType":"OrderPlaced","data":{"orderId":"${randomUUID()}","amount":42.5,"currency":"EUR","lines":3}}`;
  }
  return `${body}]`;
}

/** Whether a `wrk` binary answers on PATH. */
export function wrkOnPath(): boolean {
  const probe = spawnSync('wrk', ['--version'], { stdio: 'ignore' });
  return probe.error === undefined;
}

export function runLoad(client: LoadClient, load: Load): Promise<LoadFigures> {
  return client === 'wrk' ? wrk(load) : cannon(load);
}

function ownCpu(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * autocannon, in this process. Fixed paths are encoded once and cycled through; appends are built
 * per request (`setupRequest`), which costs the load generator more CPU.
 */
async function cannon(load: Load): Promise<LoadFigures> {
  const spec = load.requests;
  let i = 0;
  // Loaded when used: the bench's server child imports this module too.
  const { default: autocannon } = await import('autocannon');
  const cpu0 = ownCpu();
  const result = await autocannon({
    url: load.url,
    connections: load.connections,
    duration: load.durationSeconds,
    pipelining: 1,
    requests:
      spec.kind === 'paths'
        ? spec.paths.map((path) => ({ method: 'GET' as const, headers: { ...load.headers }, path }))
        : [
            {
              method: 'POST' as const,
              headers: { ...load.headers, 'content-type': EVENTS_JSON },
              setupRequest: (req) => ({ ...req, path: `/streams/${spec.streamPrefix}${i++ % spec.streams}`, body: eventBody(spec.eventsPerRequest) }),
            },
          ],
  });
  const clientCpuUs = ownCpu() - cpu0;
  return {
    requestsPerSec: Math.round(result.requests.average),
    requests: result.requests.total,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    clientCpuUs,
  };
}

const luaString = (s: string) => JSON.stringify(s);

/**
 * The Lua script wrk runs. Every request is built in Lua: fixed GETs are formatted once in
 * `init()` and cycled through; an append formats a fresh body per request, with event ids that are
 * unique per event (a random prefix per run, the thread's number and a counter: 36 characters, the
 * same length as the UUIDs autocannon's bodies carry). `done()` prints one JSON line.
 */
function wrkScript(load: Load, host: string): string {
  const spec = load.requests;
  const contentType = spec.kind === 'appends' ? { 'Content-Type': EVENTS_JSON } : {};
  const headers = Object.entries({ ...load.headers, ...contentType, Host: host })
    .map(([k, v]) => `[${luaString(k)}] = ${luaString(v)}`)
    .join(', ');
  // A response() callback makes wrk hand every answer's headers and body to Lua: ~4 µs of wrk's
  // CPU per 7 KB page read (24 → 28 µs). Appends get it, to count any answer but 201; the GETs rely
  // on wrk's own count of statuses above 399 (a 1xx or 3xx would go unseen by it, and is counted
  // by the server's own tally, \`serverNon2xx\` in bench/http.ts).
  const countStatuses =
    spec.kind === 'appends'
      ? `counted = true
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end`
      : 'counted = false';
  const common = `
local headers = { ${headers} }
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

non2xx = 0
${countStatuses}
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  -- Without response(), wrk's own count: statuses above 399.
  if not counted then bad = summary.errors.status end
  local e = summary.errors
  io.write(string.format('WRK_FIGURES {"requests":%d,"durationUs":%d,"non2xx":%d,"errors":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;
  if (spec.kind === 'paths') {
    return `${common}
local paths = { ${spec.paths.map(luaString).join(', ')} }
local formatted = {}
local n = 0
function init(args)
  for i, p in ipairs(paths) do formatted[i] = wrk.format("GET", p, headers) end
end
function request()
  n = n + 1
  if n > #formatted then n = 1 end
  return formatted[n]
end
`;
  }
  // 24 characters of a random UUID ("xxxxxxxx-xxxx-4xxx-yxxx-"), then 4 hex digits of thread and 8 of counter.
  const prefix = randomUUID().slice(0, 24);
  return `${common}
local prefix = ${luaString(prefix)}
local counter = 0
local n = 0
local function id()
  counter = counter + 1
  return string.format("%s%04x%08x", prefix, tid, counter)
end
function request()
  local events = {}
  for i = 1, ${spec.eventsPerRequest} do
    events[i] = '{"eventId":"' .. id() .. '","eventType":"OrderPlaced","data":{"orderId":"' .. id() .. '","amount":42.5,"currency":"EUR","lines":3}}'
  end
  local path = "/streams/${spec.streamPrefix}" .. (n % ${spec.streams})
  n = n + 1
  return wrk.format("POST", path, headers, "[" .. table.concat(events, ",") .. "]")
end
`;
}

/**
 * CPU time of this process's children that have exited and been waited for (utime + stime of
 * /proc/self/stat: cutime and cstime, in clock ticks of 10 ms), µs. wrk is such a child once it
 * has exited; the bench's server child is still running, so it is not counted. Linux only.
 */
function reapedChildrenCpuUs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name (which may contain spaces) start at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // cutime and cstime are fields 16 and 17 of the whole line: 14 and 15 after the name's.
    return (Number(fields[13]) + Number(fields[14])) * 10_000;
  } catch {
    return undefined;
  }
}

/** wrk with one thread (the machine has two cores, one of which the server needs). */
async function wrk(load: Load): Promise<LoadFigures> {
  const { host } = new URL(load.url);
  const dir = await mkdtemp(join(tmpdir(), 'telltale-wrk-'));
  try {
    const script = join(dir, 'load.lua');
    await writeFile(script, wrkScript(load, host));
    const args = ['-t1', `-c${load.connections}`, `-d${load.durationSeconds}s`, '--timeout', '10s', '-s', script, load.url];
    const cpu0 = reapedChildrenCpuUs();
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      child.once('error', reject);
      child.once('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    });
    const cpu1 = reapedChildrenCpuUs();
    const line = stdout.split('\n').find((l) => l.startsWith('WRK_FIGURES '));
    if (code !== 0 || line === undefined) throw new Error(`wrk exited with ${code}: ${stderr.trim() || stdout.trim()}`);
    const r = JSON.parse(line.slice('WRK_FIGURES '.length)) as { requests: number; durationUs: number; non2xx: number; errors: number; p50: number; p90: number; p99: number; max: number };
    const ms = (us: number) => Math.round(us / 10) / 100;
    return {
      requestsPerSec: Math.round(r.requests / (r.durationUs / 1e6)),
      requests: r.requests,
      latencyMs: { p50: ms(r.p50), p90: ms(r.p90), p99: ms(r.p99), max: ms(r.max) },
      non2xx: r.non2xx,
      errors: r.errors,
      clientCpuUs: cpu0 === undefined || cpu1 === undefined ? Number.NaN : cpu1 - cpu0,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
