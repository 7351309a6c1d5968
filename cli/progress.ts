// The progress bar of `import` and `export`: on stderr, only when stderr is a terminal, so a pipe
// or a redirected file never sees a control character. Shows rate and, when the total is known,
// the ETA (cli-progress computes it from recent updates).
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number): void;
  stop(): void;
}

const silent: Progress = { update: () => undefined, stop: () => undefined };

export function progressBar(label: string, options: { total?: number; enabled: boolean; unit?: string }): Progress {
  if (!options.enabled || !process.stderr.isTTY) return silent;
  const unit = options.unit ?? 'events';
  const started = Date.now();
  const rate = (done: number) => {
    const seconds = (Date.now() - started) / 1000;
    return seconds > 0 ? Math.round(done / seconds).toLocaleString('en-US') : '0';
  };
  const total = options.total;
  const format =
    total !== undefined
      ? `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`
      : `${label} {value} ${unit} | {rate} ${unit}/s | {duration_formatted}`;
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 10, barsize: 30 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0, { rate: '0' });
  return {
    update(done) {
      bar.update(done, { rate: rate(done) });
    },
    stop() {
      bar.stop();
    },
  };
}
