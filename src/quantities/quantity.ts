import type { Parsed } from '../errors.js';

/**
 * A Kubernetes `resource.Quantity` as an exact rational: value = num / den, with den > 0 and the fraction
 * reduced. `raw` is the text it was parsed from (a number input is kept as `String(n)`).
 */
export interface Quantity {
  readonly raw: string;
  readonly num: bigint;
  readonly den: bigint;
}

// Real quantities have a few dozen digits at most; 1000 keeps BigInt work trivial while refusing abuse.
const MAX_MANTISSA_DIGITS = 1000;
// 10^±1000 dwarfs any real quantity, yet bounds the BigInt a hostile `1e999999999` could make us build.
const MAX_EXPONENT = 1000;
// Kubernetes keeps quantities to nano precision and rounds any finer non-zero value away from zero.
const NANO = 1_000_000_000n;
// Kubernetes silently caps binary-suffixed quantities at the int64 maximum (`8Ei` parses as 2^63-1).
const BINARY_SI_MAX = 2n ** 63n - 1n;
// Error messages quote at most this much input so a hostile value cannot flood logs or responses.
const MAX_QUOTED = 64;

// Maps, not object literals: a suffix such as `constructor` must not hit Object.prototype.
const DECIMAL_SI = new Map<string, number>([
  ['n', -9], ['u', -6], ['m', -3], ['', 0], ['k', 3], ['M', 6], ['G', 9], ['T', 12], ['P', 15], ['E', 18],
]);
const BINARY_SI = new Map<string, number>([
  ['Ki', 10], ['Mi', 20], ['Gi', 30], ['Ti', 40], ['Pi', 50], ['Ei', 60],
]);
// Largest first, so formatting picks the biggest suffix that keeps an integer mantissa.
const DECIMAL_BY_EXPONENT = [...DECIMAL_SI].map(([s, e]) => [e, s] as const).sort((a, b) => b[0] - a[0]);
const BINARY_BY_EXPONENT = [...BINARY_SI].map(([s, e]) => [e, s] as const).sort((a, b) => b[0] - a[0]);

// The `s` flag lets the suffix group swallow newlines so they are reported as a bad suffix, not ignored.
const NUMBER_RE = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/s;
const EXPONENT_RE = /^[eE]([+-]?)([0-9]+)$/;

/**
 * Parses a Kubernetes quantity (`500m`, `1.5Mi`, `1e3`, `1E` = exa) or a finite JSON/YAML number.
 * Follows apimachinery's value semantics (nano rounding away from zero, binary-suffix cap at 2^63-1) but
 * is stricter than its scanner: a mantissa needs at least one digit (`Mi`, `.`, `+` are errors, not 0),
 * and surrounding whitespace is an error. Never throws.
 */
export function parseQuantity(input: unknown): Parsed<Quantity> {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return fail(`quantity must be a finite number, got ${String(input)}`);
    // String() of a finite number always fits the grammar (`1e+21`, `5e-324`) and keeps the written decimal.
    return parseText(String(input));
  }
  if (typeof input !== 'string') return fail(`quantity must be a string or a number, got ${describeType(input)}`);
  return parseText(input);
}

function parseText(raw: string): Parsed<Quantity> {
  // Quoted only on failure: valid quantities are the common case and never need it.
  const shown = () => quote(raw);
  if (raw === '') return fail('quantity is empty');
  const match = NUMBER_RE.exec(raw);
  if (match === null) return fail(`quantity ${shown()} is not a number with an optional suffix`);
  const [, sign = '', intDigits = '', fracDigits = '', suffix = ''] = match;
  if (intDigits === '' && fracDigits === '') return fail(`quantity ${shown()} has no digits before its suffix`);
  if (intDigits.length + fracDigits.length > MAX_MANTISSA_DIGITS) {
    return fail(`quantity ${shown()} has more than ${MAX_MANTISSA_DIGITS} digits`);
  }

  let exponent10 = 0;
  let exponent2 = 0;
  const decimal = DECIMAL_SI.get(suffix);
  const binary = BINARY_SI.get(suffix);
  if (decimal !== undefined) exponent10 = decimal;
  else if (binary !== undefined) exponent2 = binary;
  else {
    const exp = EXPONENT_RE.exec(suffix);
    if (exp === null) {
      return fail(`quantity ${shown()} has unknown suffix ${quote(suffix)} (expected n u m k M G T P E, ` +
        'Ki Mi Gi Ti Pi Ei, or e<integer>)');
    }
    // Leading zeros are legal; comparing the trimmed length first avoids Number() on a huge digit run.
    const digits = (exp[2] ?? '').replace(/^0+(?=.)/, '');
    if (digits.length > String(MAX_EXPONENT).length || Number(digits) > MAX_EXPONENT) {
      return fail(`quantity ${shown()} has an exponent beyond ±${MAX_EXPONENT}`);
    }
    exponent10 = exp[1] === '-' ? -Number(digits) : Number(digits);
  }

  const scale = exponent10 - fracDigits.length;
  let num = BigInt(intDigits + fracDigits) * 10n ** BigInt(Math.max(scale, 0)) * 2n ** BigInt(exponent2);
  let den = 10n ** BigInt(Math.max(-scale, 0));
  if ((num * NANO) % den !== 0n) {
    num = ceilDiv(num * NANO, den);
    den = NANO;
  }
  if (binary !== undefined && num > BINARY_SI_MAX * den) {
    num = BINARY_SI_MAX;
    den = 1n;
  }
  return { ok: true, value: make(raw, sign === '-' ? -num : num, den) };
}

/** Exact three-way comparison of two quantities' values. */
export function compareQuantities(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const left = a.num * b.den;
  const right = b.num * a.den;
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * Exact product, e.g. `ratio × request` for "limit ≤ ratio × request" checks. Not rounded to nano, so
 * comparisons stay exact; `raw` of the result is its {@link formatQuantity} rendering.
 */
export function multiplyQuantity(a: Quantity, factor: Quantity): Quantity {
  const num = a.num * factor.num;
  const den = a.den * factor.den;
  const g = gcd(num, den);
  return make(canonical(num / g, den / g), num / g, den / g);
}

/** True when the quantity's value is exactly zero (`0`, `-0`, `0.000Mi`). */
export function isZero(q: Quantity): boolean {
  return q.num === 0n;
}

/**
 * Human form for messages: `raw` when it parses back to the same value, otherwise a canonical form with
 * the largest suffix that keeps an integer mantissa (`1500m`, `2Gi`, `1536Mi`). A value finer than nano
 * (only possible from {@link multiplyQuantity}) is rounded up to nano and prefixed with `~`.
 */
export function formatQuantity(q: Quantity): string {
  const reparsed = parseText(q.raw);
  if (reparsed.ok && reparsed.value.num === q.num && reparsed.value.den === q.den) return q.raw;
  return canonical(q.num, q.den);
}

/** Approximate value as a float, for display and metrics only; huge values become ±Infinity. */
export function quantityToNumber(q: Quantity): number {
  if (q.num === 0n) return 0;
  const negative = q.num < 0n;
  const abs = negative ? -q.num : q.num;
  // Scale so the integer quotient carries ~20 significant digits (more than a double holds), then let
  // the float parser apply the power of ten: that never overflows an intermediate the way Number(num) can.
  const shift = 20 - (abs.toString().length - q.den.toString().length);
  const quotient = shift >= 0 ? (abs * 10n ** BigInt(shift)) / q.den : abs / (q.den * 10n ** BigInt(-shift));
  const value = Number(`${quotient}e${-shift}`);
  return negative ? -value : value;
}

function make(raw: string, num: bigint, den: bigint): Quantity {
  const g = gcd(num, den);
  return Object.freeze({ raw, num: num / g, den: den / g });
}

function canonical(num: bigint, den: bigint): string {
  if (num === 0n) return '0';
  const sign = num < 0n ? '-' : '';
  const abs = num < 0n ? -num : num;
  const exact = (abs * NANO) % den === 0n;
  const nanos = ceilDiv(abs * NANO, den);
  let best = `${nanos}n`;
  for (const [exponent, suffix] of DECIMAL_BY_EXPONENT) {
    const unit = 10n ** BigInt(exponent + 9);
    if (nanos % unit === 0n) {
      best = `${nanos / unit}${suffix}`;
      break;
    }
  }
  if (nanos % NANO === 0n && nanos / NANO >= 1024n) {
    const whole = nanos / NANO;
    for (const [exponent, suffix] of BINARY_BY_EXPONENT) {
      const unit = 2n ** BigInt(exponent);
      const mantissa = `${whole / unit}`;
      // Prefer binary only when it is shorter: 2Gi over 2147483648, but 1024k over 1000Ki.
      if (whole % unit === 0n && mantissa.length + suffix.length < best.length) {
        best = `${mantissa}${suffix}`;
        break;
      }
    }
  }
  return `${exact ? '' : '~'}${sign}${best}`;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x === 0n ? 1n : x;
}

function quote(text: string): string {
  return JSON.stringify(text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text);
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

function fail(error: string): Parsed<Quantity> {
  return { ok: false, error };
}
