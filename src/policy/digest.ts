/**
 * JSON text for digests and messages: canonical JSON (keys sorted at every level, for content digests
 * stable across formatting, comments and key order), JSON quoting, and bounded quoting of request
 * values for answers and logs.
 */
import { createHash } from 'node:crypto';

/** A string as JSON text. */
export function quoteJson(text: string): string {
  return JSON.stringify(text);
}

/** How much of a request value an answer or a log line quotes: enough to recognise it, never a payload. */
export const QUOTE_MAX_CHARS = 200;

/**
 * Characters a terminal or a log viewer would act on: the C0 controls, DEL and the C1 controls, the
 * line and paragraph separators, and the bidirectional marks and overrides.
 */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, for a yes/no test (a /g regex's test() is stateful). */
const HAS_INVISIBLE = new RegExp(INVISIBLE.source);

function unicodeEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** At most `max` UTF-16 units of `text`, never ending in the high half of a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** How a value that is not text appears: scalars as themselves, containers described (they can be megabytes deep). */
function describe(value: unknown): string {
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'a JSON object' : `a ${typeof value}`;
}

/**
 * A request value as plain text for a log field: at most `max` characters of it (never cutting a
 * surrogate pair), every control or invisible character written as `\uXXXX`, and, when cut, followed by
 * `…(N characters)` with the original length. The value itself when it needs none of that. Objects
 * and arrays are described, never serialised.
 */
export function boundText(value: unknown, max: number = QUOTE_MAX_CHARS): string {
  if (typeof value !== 'string') return describe(value);
  if (value.length <= max && !HAS_INVISIBLE.test(value)) return value;
  const text = cut(value, max).replace(INVISIBLE, unicodeEscape);
  return value.length <= max ? text : `${text}…(${value.length} characters)`;
}

/**
 * A request value quoted for a message (an answer's reason, a log message): JSON-quoted, at most `max`
 * characters of it, controls and invisible characters as `\uXXXX`, and when cut the original length:
 * `"admission.k8s.io/v1beta1"`, `"aaaa"…(6291456 characters)`. Objects and arrays are described.
 */
export function quoteBounded(value: unknown, max: number = QUOTE_MAX_CHARS): string {
  if (typeof value !== 'string') return describe(value);
  const quoted = quoteJson(cut(value, max)).replace(INVISIBLE, unicodeEscape);
  return value.length <= max ? quoted : `${quoted}…(${value.length} characters)`;
}

/**
 * An object's keys in the order Array.prototype.sort gives them: the canonical order. Keys already in
 * that order (labels, annotations and other maps, which Go writes sorted) are not sorted again.
 * Measured: stampHash 9.2 → 7.3 µs on the bench's CREATE, 29.7 → 24.9 µs on its UPDATE (best of 15).
 */
function sortedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  // `<` compares strings by UTF-16 code units, as sort's default comparison does.
  return keys.every((key, i) => i === 0 || keys[i - 1]! < key) ? keys : keys.sort();
}

/**
 * Open containers beyond this depth mean a cycle (JSON.parse never builds one, and requests are
 * refused far shallower, see MAX_REVIEW_DEPTH): the walk stops instead of growing its stack forever.
 */
const CANONICAL_MAX_DEPTH = 100_000;

/** A leaf as the recursive definition wrote it. */
function leafJson(value: unknown): string | undefined {
  return JSON.stringify(value);
}

/**
 * JSON with object keys sorted at every level, so equal documents serialise equally. One iterative
 * pass that appends to a string, with an explicit stack instead of recursion (no depth of input can
 * overflow the call stack): it hashes every admitted pod template, and its output must stay
 * byte-for-byte what the first recursive definition wrote, since stored change ids carry the hash.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return leafJson(value)!;
  // One frame per open container, in parallel arrays indexed by `depth`: the container, its sorted keys
  // (undefined for an array), the next index, and whether a member was written (a comma is due).
  const containers: object[] = [value];
  const keyLists: (string[] | undefined)[] = [];
  const next: number[] = [0];
  const written: boolean[] = [false];
  let depth = 0;
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    keyLists.push(undefined);
  } else {
    out = '{';
    keyLists.push(sortedKeys(value as Record<string, unknown>));
  }
  while (depth >= 0) {
    const keys = keyLists[depth];
    let i = next[depth]!;
    let v: unknown;
    if (keys === undefined) {
      const arr = containers[depth] as unknown[];
      if (i >= arr.length) {
        out += ']';
        depth--;
        continue;
      }
      next[depth] = i + 1;
      if (i > 0) out += ',';
      v = arr[i];
      if (v === null || typeof v !== 'object') {
        // As Array.prototype.join: an element that serialises to nothing (undefined, a function) leaves an empty slot.
        out += leafJson(v) ?? '';
        continue;
      }
    } else {
      const obj = containers[depth] as Record<string, unknown>;
      while (i < keys.length && (v = obj[keys[i]!]) === undefined) i++;
      if (i >= keys.length) {
        out += '}';
        depth--;
        continue;
      }
      next[depth] = i + 1;
      if (written[depth]) out += ',';
      else written[depth] = true;
      out += `${quoteJson(keys[i]!)}:`;
      if (v === null || typeof v !== 'object') {
        // A member that serialises to nothing (a function, a symbol) is written as `undefined`, as the first definition did.
        out += `${leafJson(v)}`;
        continue;
      }
    }
    if (++depth >= CANONICAL_MAX_DEPTH) throw new RangeError(`canonicalJson: nesting deeper than ${CANONICAL_MAX_DEPTH} levels (a cyclic structure?)`);
    containers[depth] = v as object;
    next[depth] = 0;
    written[depth] = false;
    if (Array.isArray(v)) {
      out += '[';
      keyLists[depth] = undefined;
    } else {
      out += '{';
      keyLists[depth] = sortedKeys(v as Record<string, unknown>);
    }
  }
  return out;
}

/** `sha256:<hex>` of the canonical JSON of `value`. */
export function sha256Digest(value: unknown): string {
  return `sha256:${createHash('sha256').update(typeof value === 'string' ? value : canonicalJson(value)).digest('hex')}`;
}
