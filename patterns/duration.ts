import { Duration } from 'luxon';

/** A duration as a rule author writes it: ISO 8601 (`PT10M`, `P1D`), a short form (`10m`, `24h`,
 * `500ms`, `7d`, `1h30m`) or a number of milliseconds. */
export type DurationInput = string | number;

const SHORT_UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const SHORT_FORM = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const SHORT_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/**
 * Parses a duration to milliseconds. Months and years are refused: their length depends on the
 * calendar, and a rule's window must mean the same span on replay as live.
 */
export function parseDuration(input: DurationInput): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new TypeError(`duration must be a finite number of ms >= 0, got ${input}`);
    return input;
  }
  const text = input.trim();
  if (SHORT_FORM.test(text)) {
    let ms = 0;
    for (const m of text.matchAll(SHORT_PART)) ms += Number(m[1]) * (SHORT_UNIT_MS[m[2] as string] as number);
    return ms;
  }
  if (/^P/i.test(text)) {
    const d = Duration.fromISO(text.toUpperCase());
    if (!d.isValid) throw new TypeError(`not an ISO 8601 duration: "${input}" (${d.invalidExplanation ?? d.invalidReason})`);
    if (d.years !== 0 || d.months !== 0) throw new TypeError(`duration "${input}" uses months or years, whose length varies; use days or weeks`);
    return d.toMillis();
  }
  throw new TypeError(`not a duration: "${input}" (use ISO 8601 like PT10M, or 500ms, 10s, 10m, 24h, 7d)`);
}
