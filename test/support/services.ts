// Reachability of the services some suites need (Redis, Kafka). A suite that needs one calls
// `requireService` in its `before` hook: when the service answers, the suite runs; when it does
// not, the suite fails under CI (CI=true) and is skipped elsewhere, with a line saying how to run it.
import { connect } from 'node:net';

export interface ServiceProbe {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** What a user runs to make the suite run. */
  readonly howToEnable: string;
}

export const skippedSuites: string[] = [];

export function isReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function requireService(ctx: Mocha.Context, probe: ServiceProbe): Promise<void> {
  if (await isReachable(probe.host, probe.port)) return;
  const where = `${probe.name} at ${probe.host}:${probe.port}`;
  if (process.env.CI === 'true') {
    throw new Error(`${where} is not reachable, and CI requires every suite to run`);
  }
  skippedSuites.push(`${ctx.test?.parent?.fullTitle() ?? probe.name}: ${where} not reachable; ${probe.howToEnable}`);
  ctx.skip();
}
