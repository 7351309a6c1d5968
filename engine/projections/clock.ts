// Processing time, injected (STYLE habit 13): rates and lag use it, never the wall clock directly.
// Event time comes from events and never from here.

/** Milliseconds; only differences are used. */
export type Clock = () => number;

/** The one place engine/ reads the wall clock: the default when no clock is injected. */
export const systemClock: Clock = () => Date.now();
