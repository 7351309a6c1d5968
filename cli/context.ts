// What every command gets from `main`: where to print, and a place to leave its exit code.
import type { Output } from './output.js';

export interface CliContext {
  readonly output: Output;
  /** The arguments `main` was called with (after the program name). */
  readonly argv: readonly string[];
  /** Set by a command that fails without throwing (e.g. `test` with a difference). @defaultValue 0 */
  exitCode: number;
}
