/**
 * Keyed MACs (HMAC-SHA-256, node:crypto) over tracegate's provenance, with a keyring so the key can be
 * rotated with overlap: sign with the current key, accept any key still in the ring. The gate signs
 * what it admits; the recorder calls a change verified only when the MAC checks. Pure given its keys.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** One shared key; `id` names it inside every MAC, so verification knows which key to use. */
export interface MacKey {
  id: string;
  secret: Buffer;
}

/** A keyring: the first key signs, every key verifies. */
export interface MacKeyring {
  /** `<key id>.<MAC>` over the fields, with the current key. */
  sign(fields: readonly string[]): string;
  /** True when `mac` was made over exactly these fields by a key in the ring. */
  verify(fields: readonly string[], mac: unknown): boolean;
  /** The ids in the ring, current first (for logs and `/healthz`-style diagnostics; never the secrets). */
  readonly ids: readonly string[];
}

/** 128 bits of the HMAC: forging one is a 2^-128 guess per attempt, and the stamp stays short. */
const MAC_BYTES = 16;
/** A shared key shorter than the hash's block security (256 bits) would be the weak link. */
export const MIN_KEY_BYTES = 32;
/** Key ids are short, safe in annotations and file names. */
const KEY_ID = /^[a-z0-9][a-z0-9-]{0,15}$/;

/**
 * The fields as one unambiguous byte string: each is length-prefixed, so no choice of values (a `.` or
 * a NUL inside one) can make two different field lists produce the same input.
 */
function encode(fields: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    const bytes = Buffer.from(field, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

function macWith(key: MacKey, input: Buffer): Buffer {
  return createHmac('sha256', key.secret).update(input).digest().subarray(0, MAC_BYTES);
}

/** Checks a key's shape; a problem is returned as text so loaders can name the file. */
export function checkMacKey(key: MacKey): string | undefined {
  if (!KEY_ID.test(key.id)) return `key id ${JSON.stringify(key.id)} must be 1-16 lowercase letters, digits or '-'`;
  if (key.secret.length < MIN_KEY_BYTES) return `key ${key.id} has ${key.secret.length} bytes; at least ${MIN_KEY_BYTES} are needed`;
  return undefined;
}

/** Builds a keyring; `keys[0]` is the current (signing) key. Throws on a malformed key or none. */
export function createMacKeyring(keys: readonly MacKey[]): MacKeyring {
  if (keys.length === 0) throw new Error('a keyring needs at least one key');
  for (const key of keys) {
    const problem = checkMacKey(key);
    if (problem) throw new Error(problem);
  }
  const byId = new Map(keys.map((k) => [k.id, k]));
  const current = keys[0]!;
  return {
    ids: keys.map((k) => k.id),
    sign(fields) {
      return `${current.id}.${macWith(current, encode(fields)).toString('base64url')}`;
    },
    verify(fields, mac) {
      if (typeof mac !== 'string') return false;
      const dot = mac.indexOf('.');
      const key = dot > 0 ? byId.get(mac.slice(0, dot)) : undefined;
      if (!key) return false;
      const given = Buffer.from(mac.slice(dot + 1), 'base64url');
      const expected = macWith(key, encode(fields));
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
