// Counters the server keeps for `/metrics`, rendered in Prometheus' text exposition format
// (version 0.0.4). Rates (appends/s, reads/s) are what Prometheus computes from the counters.
// Everything here is O(1) per request: a few additions, and a bucket search for latencies.

/** A cumulative histogram with fixed bucket bounds, in seconds. */
export class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (seconds <= this.bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  render(name: string, help: string, labels = ''): string[] {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    let cumulative = 0;
    const sep = labels === '' ? '' : `${labels},`;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i]!;
      lines.push(`${name}_bucket{${sep}le="${this.bounds[i]}"} ${cumulative}`);
    }
    lines.push(`${name}_bucket{${sep}le="+Inf"} ${this.count}`);
    const braces = labels === '' ? '' : `{${labels}}`;
    lines.push(`${name}_sum${braces} ${this.sum}`, `${name}_count${braces} ${this.count}`);
    return lines;
  }
}

const LATENCY_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A metric family produced on demand by another part (subscriptions, projections, the backend). */
export type MetricSource = () => readonly string[] | Promise<readonly string[]>;

export class ServerMetrics {
  appendRequests = 0;
  appendedEvents = 0;
  appendFailures = 0;
  readonly appendLatency = new Histogram(LATENCY_BOUNDS);
  readRequests = 0;
  readEvents = 0;
  readonly readLatency = new Histogram(LATENCY_BOUNDS);
  deletes = 0;
  longPollsWaiting = 0;
  liveFeeds = 0;
  readonly responses = new Map<number, number>();
  readonly #sources: MetricSource[] = [];
  readonly #started = Date.now();

  response(status: number): void {
    this.responses.set(status, (this.responses.get(status) ?? 0) + 1);
  }

  addSource(source: MetricSource): void {
    this.#sources.push(source);
  }

  async render(): Promise<string> {
    const counter = (name: string, help: string, value: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`];
    const gauge = (name: string, help: string, value: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
    const lines: string[] = [
      ...counter('telltale_http_append_requests_total', 'Append requests that wrote or confirmed events.', this.appendRequests),
      ...counter('telltale_http_appended_events_total', 'Events appended through the HTTP API.', this.appendedEvents),
      ...counter('telltale_http_append_failures_total', 'Append requests refused (bad input, wrong expected version, deleted stream, access).', this.appendFailures),
      ...this.appendLatency.render('telltale_http_append_duration_seconds', 'Time from request to acknowledged append.'),
      ...counter('telltale_http_read_requests_total', 'Stream, $all and event reads.', this.readRequests),
      ...counter('telltale_http_read_events_total', 'Events returned by reads.', this.readEvents),
      ...this.readLatency.render('telltale_http_read_duration_seconds', 'Time to answer a read, long polls excluded.'),
      ...counter('telltale_http_deletes_total', 'Stream deletes.', this.deletes),
      ...gauge('telltale_http_long_polls_waiting', 'Reads waiting for new events (LongPoll).', this.longPollsWaiting),
      ...gauge('telltale_http_live_feeds', 'Open server-sent event feeds.', this.liveFeeds),
      '# HELP telltale_http_responses_total HTTP responses by status code.',
      '# TYPE telltale_http_responses_total counter',
      ...[...this.responses].sort((a, b) => a[0] - b[0]).map(([status, n]) => `telltale_http_responses_total{code="${status}"} ${n}`),
      ...gauge('telltale_uptime_seconds', 'Seconds since the server started.', Math.round((Date.now() - this.#started) / 1000)),
    ];
    const memory = process.memoryUsage();
    lines.push(...gauge('telltale_process_heap_used_bytes', 'V8 heap in use.', memory.heapUsed), ...gauge('telltale_process_rss_bytes', 'Resident set size.', memory.rss));
    for (const source of this.#sources) lines.push(...(await source()));
    return `${lines.join('\n')}\n`;
  }
}
