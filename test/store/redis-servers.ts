// Redis servers a test owns: spawned from /usr/bin/redis-server on free loopback ports in a temp
// directory, stopped and started by the test to make outages happen for real, and removed after.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
export const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli';

export function hasRedisServer(): boolean {
  return spawnSync(REDIS_SERVER, ['--version']).status === 0;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function answers(port: number, check: (r: Redis) => Promise<boolean> = async (r) => (await r.ping()) === 'PONG'): Promise<boolean> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await check(r);
  } finally {
    r.disconnect();
  }
}

/** One redis-server process, restartable on the same port and directory. */
export class RedisServerProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly args: readonly string[],
  ) {}

  static async start(options: { dir?: string; args?: readonly string[] } = {}): Promise<RedisServerProcess> {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'telltale-redis-'));
    const server = new RedisServerProcess(await freePort(), dir, options.args ?? []);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', ...this.args], {
      stdio: 'ignore',
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor(`redis-server on port ${this.port}`, () => answers(this.port));
  }

  /** Stops the server: SIGKILL is a crash; `save` first writes a snapshot the next start loads. */
  async stop(options: { signal?: NodeJS.Signals; save?: boolean } = {}): Promise<void> {
    if (!this.#child) return;
    if (options.save) await answers(this.port, async (r) => (await r.save()) === 'OK');
    this.#child.kill(options.signal ?? 'SIGKILL');
    await this.#exited;
    this.#child = undefined;
  }

  /** SIGSTOP / SIGCONT: the server keeps its connections but stops answering. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    this.resume();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A real Redis Cluster: three masters on loopback ports, no replicas, joined with redis-cli. */
export class RedisClusterProcess {
  private constructor(
    readonly dir: string,
    readonly servers: readonly RedisServerProcess[],
  ) {}

  static async start(size = 3): Promise<RedisClusterProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'telltale-redis-cluster-'));
    const servers: RedisServerProcess[] = [];
    for (let i = 0; i < size; i++) {
      const port = await freePort();
      servers.push(
        await RedisServerProcess.start({
          dir,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'],
        }).catch(async (e: unknown) => {
          for (const s of servers) await s.dispose();
          throw e;
        }),
      );
    }
    const cluster = new RedisClusterProcess(dir, servers);
    const create = spawnSync(REDIS_CLI, ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
    });
    if (create.status !== 0) {
      await cluster.dispose();
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    }
    for (const s of servers) {
      await waitFor(`cluster_state:ok on ${s.port}`, () => answers(s.port, async (r) => (await r.cluster('INFO')).includes('cluster_state:ok')));
    }
    return cluster;
  }

  get url(): string {
    return `redis+cluster://${this.servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  }

  async dispose(): Promise<void> {
    for (const s of this.servers) await s.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
