/** Content digests for policies: stable across formatting, comments and key order. */
import { createHash } from 'node:crypto';

/**
 * Printable ASCII without the double quote and the backslash: exactly the strings JSON.stringify writes
 * as `"<text>"` with nothing escaped, so they can be quoted without calling it.
 */
const PLAIN_JSON_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** JSON.stringify(text), without the call for the common text that needs no escaping. */
export function quoteJson(text: string): string {
  return PLAIN_JSON_STRING.test(text) ? `"${text}"` : JSON.stringify(text);
}

/** Up to this many keys are sorted by insertion: a Kubernetes struct has a few dozen fields at most. */
const INSERTION_SORT_MAX_KEYS = 32;

/**
 * An object's keys in sorted order (the order Array.prototype.sort gives them). Maps arrive sorted
 * and need nothing; a struct's fields arrive in declaration order and are few, and an insertion sort
 * in place puts them in order without the scratch arrays a sort() call allocates.
 */
function sortedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  let i = 1;
  while (i < keys.length && keys[i - 1]! < keys[i]!) i++;
  if (i >= keys.length) return keys;
  if (keys.length > INSERTION_SORT_MAX_KEYS) return keys.sort();
  for (; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}

/**
 * JSON with object keys sorted at every level, so equal documents serialise equally. Written as one
 * pass that appends to a string (no per-object arrays of entries): it hashes every admitted pod
 * template, and its output must stay byte-for-byte what it has always been, since stored change ids
 * carry the hash.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return quoteJson(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      // As Array.prototype.join: an element that serialises to nothing (undefined, a function) leaves an empty slot.
      out += `${i > 0 ? ',' : ''}${canonicalJson(value[i]) ?? ''}`;
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  let out = '{';
  for (const key of sortedKeys(obj)) {
    const v = obj[key];
    if (v === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${quoteJson(key)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** `sha256:<hex>` of the canonical JSON of `value`. */
export function sha256Digest(value: unknown): string {
  return `sha256:${createHash('sha256').update(typeof value === 'string' ? value : canonicalJson(value)).digest('hex')}`;
}
