/** Command-line flag checks shared by the `seal` commands: a wrong flag is a UsageError (exit 2, with the usage text). */

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
