// Reading a rule or projection file. Its syntax is checked here, before anything is deployed or
// run, so a typo is reported as `file:line:column` with the line and a caret, whatever runs it
// later (a server, the local runtime). esbuild parses it: the same parser the engine bundles with.
import { basename, extname } from 'node:path';
import { transform, type Message } from 'esbuild';
import { TelltaleError } from '../store/errors.js';
import { readUserFile } from './arguments.js';

export interface RuleFile {
  readonly path: string;
  /** The file name without extension: the default projection name. */
  readonly name: string;
  readonly source: string;
}

export class RuleSyntaxError extends TelltaleError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    detail: string,
  ) {
    super('projection-invalid', `${file}:${line}:${column}: ${detail}`);
  }
}

function describeMessage(path: string, m: Message): RuleSyntaxError {
  const loc = m.location;
  if (!loc) return new RuleSyntaxError(path, 1, 1, `SyntaxError: ${m.text}`);
  const caret = `${' '.repeat(loc.column)}${'^'.repeat(Math.max(1, loc.length))}`;
  // esbuild counts columns from 0; editors and Node's stack traces count from 1.
  return new RuleSyntaxError(path, loc.line, loc.column + 1, `SyntaxError: ${m.text}\n  ${loc.lineText}\n  ${caret}`);
}

export async function checkRuleSyntax(path: string, source: string): Promise<void> {
  try {
    await transform(source, { loader: 'js', sourcefile: path, logLevel: 'silent', target: 'es2022' });
  } catch (e) {
    const first = (e as { errors?: Message[] }).errors?.[0];
    if (first) throw describeMessage(path, first);
    throw e;
  }
}

export async function loadRuleFile(path: string): Promise<RuleFile> {
  const source = await readUserFile(path, 'The rule file');
  await checkRuleSyntax(path, source);
  return { path, name: basename(path, extname(path)), source };
}
