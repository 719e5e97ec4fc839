/** Command-line flag parsing and checks shared by the `seal` commands: a wrong flag is a UsageError (exit 2). */

import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import type { LoraTarget } from '../src/lora/config.ts';

export class UsageError extends Error {}

/** A flag's value when it is one of `allowed` (undefined when absent). */
export function oneOf<T extends string>(value: string | undefined, flag: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

/** The short names of the LoRA target projections (q, k, v, o, gate, up, down). */
export const SHORT_LORA_TARGETS: Readonly<Record<string, LoraTarget>> = {
  q: 'q_proj',
  k: 'k_proj',
  v: 'v_proj',
  o: 'o_proj',
  gate: 'gate_proj',
  up: 'up_proj',
  down: 'down_proj',
};

export function requireString(value: string | undefined, flag: string): string {
  if (value === undefined) throw new UsageError(`${flag} is required`);
  return value;
}

export interface NumberRange {
  min: number;
  max?: number;
  /** The range excludes min. */
  minOpen?: boolean;
  integer?: boolean;
}

/** A flag's number (fallback when absent), checked: `integer` and the range [min, max] (open at min with minOpen). */
export function numberFlag(value: string | undefined, flag: string, fallback: number, range: NumberRange): number {
  return optionalNumberFlag(value, flag, range) ?? fallback;
}

/** A flag's number, or undefined when absent; checked like numberFlag. */
export function optionalNumberFlag(value: string | undefined, flag: string, range: NumberRange): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const { min, max = Infinity, minOpen = false, integer = false } = range;
  const inRange = Number.isFinite(n) && (minOpen ? n > min : n >= min) && n <= max && (!integer || Number.isInteger(n));
  if (value.trim() === '' || !inRange) {
    const bounds = `${minOpen ? '(' : '['}${min}, ${max === Infinity ? 'inf)' : `${max}]`}`;
    throw new UsageError(`${flag} must be ${integer ? 'an integer' : 'a number'} in ${bounds}, got '${value}'`);
  }
  return n;
}

/**
 * The flags of one command, parsed strictly (no positionals), with two differences from node's parseArgs: a
 * value-taking flag followed by a negative number takes it as its value (parseArgs reads `--seed -5` as an option
 * `-5`), so the command's range check can say what is allowed; and parseArgs' errors become one-line UsageErrors.
 */
export function parseFlags<const O extends ParseArgsOptionsConfig>(args: readonly string[], options: O) {
  try {
    return parseArgs({ args: negativeValuesJoined(args, options), options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw isParseArgsError(e) ? new UsageError(parseArgsMessage(e.message)) : e;
  }
}

const NEGATIVE_NUMBER = /^-(\d|\.\d|inf|Infinity\b)/i;

/** `--flag -5` as `--flag=-5` for the flags that take a value (up to a `--` terminator). */
function negativeValuesJoined(args: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : null;
    if (name !== null && next !== undefined && NEGATIVE_NUMBER.test(next) && options[name]?.type === 'string') {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** parseArgs' messages (several sentences, some over lines) in the CLI's words, by the pattern that matches. */
const PARSE_ARGS_MESSAGES: readonly [RegExp, (name: string) => string][] = [
  [/^Unknown option '([^']+)'/, (o) => `unknown option '${o}'`],
  [/^Option '(?:-\w, )?([^' ]+)(?: <value>)?' argument missing/, (o) => `${o} needs a value`],
  [/^Option '(?:-\w, )?([^' ]+)(?: <value>)?' argument is ambiguous/, (o) => `${o} needs a value (a value that starts with '-' is written ${o}=VALUE)`],
  [/^Option '(?:-\w, )?([^' ]+)' does not take an argument/, (o) => `${o} takes no value`],
  [/^Unexpected argument '([^']*)'/, (a) => `unexpected argument '${a}' (every value follows its --flag)`],
];

/** An error node's parseArgs throws (a flag it does not know, a value missing). */
export function isParseArgsError(e: unknown): e is Error {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

/** A parseArgs error message as one line. */
export function parseArgsMessage(message: string): string {
  for (const [pattern, say] of PARSE_ARGS_MESSAGES) {
    const m = pattern.exec(message);
    if (m) return say(m[1] ?? '');
  }
  return (message.split('\n')[0] ?? message).replace(/^./, (c) => c.toLowerCase());
}
