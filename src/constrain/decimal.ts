/**
 * Number bounds (minimum, maximum, exclusiveMinimum, exclusiveMaximum) checked exactly on decimal text, so the
 * recognizer can refuse a digit as soon as no number starting with the text so far fits the range.
 *
 * Numbers have at most MAX_INTEGER_DIGITS digits before the point and MAX_FRACTION_DIGITS after it (integers none);
 * bounded numbers are written without an exponent. Values are compared exactly as decimals (BigInt in units of
 * 10^-scale) against the shortest decimal text of each bound (String(bound): 0.1 is "0.1", not the binary double).
 */

/** Most digits before the decimal point (keeps every integer exact in an f64, and documents finite). */
export const MAX_INTEGER_DIGITS = 15;
/** Most digits after the decimal point. */
export const MAX_FRACTION_DIGITS = 15;
/** Most exponent digits (unbounded numbers only): magnitudes stay within 1e±99, finite in every JSON parser. */
export const MAX_EXPONENT_DIGITS = 2;

/** A number's text so far, without exponent: [-] int [. frac]. */
export interface DecimalPrefix {
  negative: boolean;
  /** Integer digits so far ("" right after the sign). */
  int: string;
  /** Whether the decimal point has been written. */
  dot: boolean;
  frac: string;
}

export interface NumberBounds {
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

const pow10 = (k: number) => 10n ** BigInt(k);

/** x * 10^scale rounded down ('floor') or up ('ceil') to an integer, from x's shortest decimal text. */
function scaled(x: number, scale: number, mode: 'floor' | 'ceil'): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(String(x));
  if (!m) throw new RangeError(`not a finite number: ${x}`);
  const [, sign = '', int = '', frac = '', exp = '0'] = m;
  const digits = BigInt(sign + int + frac);
  const shift = Number(exp) - frac.length + scale;
  if (shift >= 0) return digits * pow10(shift);
  const d = pow10(-shift);
  const q = digits / d; // truncates toward zero
  if (digits % d === 0n) return q;
  if (mode === 'floor') return digits < 0n ? q - 1n : q;
  return digits > 0n ? q + 1n : q;
}

const max = (a: bigint | null, b: bigint) => (a === null || b > a ? b : a);
const min = (a: bigint | null, b: bigint) => (a === null || b < a ? b : a);

/** An inclusive range of decimals with at most `scale` fraction digits, as integers in units of 10^-scale. */
export class DecimalRange {
  private constructor(
    /** Smallest allowed value, or null (unbounded below). */
    readonly lo: bigint | null,
    /** Largest allowed value, or null. */
    readonly hi: bigint | null,
    readonly scale: number,
  ) {}

  static fromBounds(b: NumberBounds, integer: boolean): DecimalRange {
    const scale = integer ? 0 : MAX_FRACTION_DIGITS;
    let lo: bigint | null = null;
    let hi: bigint | null = null;
    if (b.minimum !== undefined) lo = max(lo, scaled(b.minimum, scale, 'ceil'));
    if (b.exclusiveMinimum !== undefined) lo = max(lo, scaled(b.exclusiveMinimum, scale, 'floor') + 1n);
    if (b.maximum !== undefined) hi = min(hi, scaled(b.maximum, scale, 'floor'));
    if (b.exclusiveMaximum !== undefined) hi = min(hi, scaled(b.exclusiveMaximum, scale, 'ceil') - 1n);
    return new DecimalRange(lo, hi, scale);
  }

  /** Whether no number we can write lies in the range. */
  isEmpty(): boolean {
    const start = (negative: boolean): DecimalPrefix => ({ negative, int: '', dot: false, frac: '' });
    return !this.feasible(start(false)) && !this.feasible(start(true));
  }

  /** Whether some complete number starting with this prefix lies in the range. */
  feasible(p: DecimalPrefix): boolean {
    // Magnitudes allowed by the sign: value = -m for negative numbers.
    const lo = p.negative ? (this.hi === null ? null : -this.hi) : this.lo;
    const hi = p.negative ? (this.lo === null ? null : -this.lo) : this.hi;
    // Whether [a, b] (magnitudes, every multiple of 10^-scale in it is writable) meets [lo, hi].
    const meets = (a: bigint, b: bigint) => (lo === null || a > lo ? a : lo) <= (hi === null || b < hi ? b : hi);
    const F = this.scale;
    if (p.int === '') return meets(0n, pow10(MAX_INTEGER_DIGITS + F) - 1n);
    const int = BigInt(p.int);
    if (p.dot) {
      const rest = F - p.frac.length;
      const start = int * pow10(F) + (p.frac ? BigInt(p.frac) * pow10(rest) : 0n);
      return meets(start, start + pow10(rest) - 1n);
    }
    // k more integer digits (none after a leading 0), then any fraction.
    const more = p.int === '0' ? 0 : MAX_INTEGER_DIGITS - p.int.length;
    for (let k = 0; k <= more; k++) {
      if (meets(int * pow10(k + F), (int + 1n) * pow10(k + F) - 1n)) return true;
    }
    return false;
  }

  /** Whether the complete number with this text lies in the range. */
  contains(p: DecimalPrefix): boolean {
    const m = BigInt(p.int) * pow10(this.scale) + (p.frac ? BigInt(p.frac) * pow10(this.scale - p.frac.length) : 0n);
    const v = p.negative ? -m : m;
    return (this.lo === null || v >= this.lo) && (this.hi === null || v <= this.hi);
  }
}
