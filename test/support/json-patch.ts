/**
 * RFC 6902 JSON Patch applied the way kube-apiserver applies a mutating webhook's patch: with
 * gopkg.in/evanphx/json-patch.v4 (v4.13.0), after re-encoding the object with Go's omitempty rules
 * (reference/admission-protocol.md §7). Tests use it as the oracle for "would the apiserver accept
 * this patch, and what object results". The library's quirks are reproduced on purpose:
 * - `add` on an existing object key replaces it; `add`/`remove`/`replace`/`test`/`move`/`copy` whose
 *   PARENT is missing (or null, or a scalar) fail with "doc is missing path";
 * - `replace` of a missing key inside an existing object succeeds (non-RFC); `remove` of one fails;
 * - array indices: `-` or `len` appends on add, negative indices count from the end, beyond fails;
 * - pointer segments are unescaped `~1` → `/` then `~0` → `~`; the segment before the first `/` is
 *   ignored (the library never checks the leading slash) and the root path "" only works for
 *   `replace` and `test`; a root `replace` with a scalar value is silently ignored (a wrapped nil error);
 * - `add` without a `value` member inserts null; `copy` from a missing object key inserts null.
 * Known difference: Go compares `test` scalars by their compact JSON text (1 ≠ 1.0); here by value.
 */
import type { Parsed } from '../../src/errors.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type Container = JsonObject | Json[];

/** A failed operation, with the library's message (pkg/errors `Wrapf` style: `message: cause`). */
class PatchError extends Error {}

const MISSING = 'missing value';
const INVALID_INDEX = 'invalid index referenced';
const TEST_FAILED = 'test failed';

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Own-property write: plain assignment to `__proto__` would change the prototype instead. */
function setKey(obj: JsonObject, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** RFC 6901 unescaping in the library's single pass: `~1` → `/`, `~0` → `~`; other `~x` stay as they are. */
export function decodePatchKey(segment: string): string {
  return segment.replace(/~[01]/g, (m) => (m === '~1' ? '/' : '~'));
}

/** Go's strconv.Atoi: optional sign, decimal digits (leading zeros allowed). */
function atoi(key: string): number {
  if (!/^[+-]?[0-9]+$/.test(key)) throw new PatchError(`strconv.Atoi: parsing ${JSON.stringify(key)}: invalid syntax`);
  const n = Number(key);
  if (!Number.isSafeInteger(n)) throw new PatchError(`strconv.Atoi: parsing ${JSON.stringify(key)}: value out of range`);
  return n;
}

function invalidIndex(idx: number): PatchError {
  return new PatchError(`Unable to access invalid index: ${idx}: ${INVALID_INDEX}`);
}

/** The library's container methods on a JS object or array. `undefined` from get means Go's nil node. */
function get(con: Container, key: string): Json | undefined {
  if (!Array.isArray(con)) return Object.hasOwn(con, key) ? con[key] : undefined;
  let idx = atoi(key);
  if (idx < 0) {
    if (idx < -con.length) throw invalidIndex(idx);
    idx += con.length;
  }
  if (idx >= con.length) throw invalidIndex(idx);
  return con[idx];
}

function add(con: Container, key: string, value: Json): void {
  if (!Array.isArray(con)) return setKey(con, key, value);
  if (key === '-') {
    con.push(value);
    return;
  }
  let idx: number;
  try {
    idx = atoi(key);
  } catch (err) {
    throw new PatchError(`value was not a proper array index: '${key}': ${(err as Error).message}`);
  }
  const size = con.length + 1;
  if (idx >= size) throw invalidIndex(idx);
  if (idx < 0) {
    if (idx < -size) throw invalidIndex(idx);
    idx += size;
  }
  con.splice(idx, 0, value);
}

/** `set` backs `replace` only, after `get` has checked the index. */
function set(con: Container, key: string, value: Json): void {
  if (!Array.isArray(con)) return setKey(con, key, value);
  let idx = atoi(key);
  if (idx < 0) {
    if (idx < -con.length) throw invalidIndex(idx);
    idx += con.length;
  }
  con[idx] = value;
}

function remove(con: Container, key: string): void {
  if (!Array.isArray(con)) {
    if (!Object.hasOwn(con, key)) throw new PatchError(`Unable to remove nonexistent key: ${key}: ${MISSING}`);
    delete con[key];
    return;
  }
  let idx = atoi(key);
  if (idx >= con.length) throw invalidIndex(idx);
  if (idx < 0) {
    if (idx < -con.length) throw invalidIndex(idx);
    idx += con.length;
  }
  con.splice(idx, 1);
}

/** findObject: walks to the parent of the last segment; undefined when any step is absent, null or a scalar. */
function findObject(root: Container, path: string): { con: Container; key: string } | undefined {
  const split = path.split('/');
  if (split.length < 2) return undefined;
  let doc: Container = root;
  for (const part of split.slice(1, -1)) {
    let next: Json | undefined;
    try {
      next = get(doc, decodePatchKey(part));
    } catch {
      return undefined;
    }
    if (next === undefined || next === null || typeof next !== 'object') return undefined;
    doc = next;
  }
  return { con: doc, key: decodePatchKey(split[split.length - 1]!) };
}

/** Go's lazyNode.equal, on parsed values; null elements compare equal only to null. */
function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === undefined || a === null || b === undefined || b === null) return (a ?? null) === (b ?? null);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return a === b;
}

interface Operation {
  [key: string]: unknown;
}

/** Operation.Path()/From(): a string member; absent or null is "missing", another type is a decode error. */
function pointerField(op: Operation, field: 'path' | 'from'): string {
  const v = op[field];
  if (v === undefined || v === null) throw new PatchError(field === 'path' ? `operation missing path field: ${MISSING}` : `operation, missing from field: ${MISSING}`);
  if (typeof v !== 'string') throw new PatchError(`json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into Go value of type string`);
  return v;
}

/** Operation.value(): Go's nil node when the member is absent (written out as null), else the value. */
function valueOf(op: Operation): { present: boolean; value: Json } {
  return Object.hasOwn(op, 'value') ? { present: true, value: clone(op.value as Json) } : { present: false, value: null };
}

function wrap(fn: () => void, message: string): void {
  try {
    fn();
  } catch (err) {
    throw new PatchError(`${message}: ${(err as Error).message}`);
  }
}

function decodePath(op: Operation, field: 'path' | 'from', message: string, keepCause: boolean): string {
  try {
    return pointerField(op, field);
  } catch (err) {
    // Some call sites wrap the decode error, others replace it with ErrMissing.
    throw new PatchError(`${message}: ${keepCause ? (err as Error).message : MISSING}`);
  }
}

function applyOne(box: { root: Container }, op: Operation): void {
  const kind = typeof op.op === 'string' ? op.op : 'unknown';
  switch (kind) {
    case 'add': {
      const path = decodePath(op, 'path', 'add operation failed to decode path', false);
      const found = findObject(box.root, path);
      if (!found) throw new PatchError(`add operation does not apply: doc is missing path: "${path}": ${MISSING}`);
      wrap(() => add(found.con, found.key, valueOf(op).value), `error in add for path: '${path}'`);
      return;
    }
    case 'remove': {
      const path = decodePath(op, 'path', 'remove operation failed to decode path', false);
      const found = findObject(box.root, path);
      if (!found) throw new PatchError(`remove operation does not apply: doc is missing path: "${path}": ${MISSING}`);
      wrap(() => remove(found.con, found.key), `error in remove for path: '${path}'`);
      return;
    }
    case 'replace': {
      const path = decodePath(op, 'path', 'replace operation failed to decode path', true);
      if (path === '') {
        const { value } = valueOf(op);
        // Any other value is a no-op: the library wraps a nil error, and Wrapf(nil) is nil.
        if (typeof value === 'object' && value !== null) box.root = value;
        return;
      }
      const found = findObject(box.root, path);
      if (!found) throw new PatchError(`replace operation does not apply: doc is missing path: ${path}: ${MISSING}`);
      try {
        get(found.con, found.key);
      } catch {
        throw new PatchError(`replace operation does not apply: doc is missing key: ${path}: ${MISSING}`);
      }
      wrap(() => set(found.con, found.key, valueOf(op).value), `error in remove for path: '${path}'`);
      return;
    }
    case 'move': {
      const from = decodePath(op, 'from', 'move operation failed to decode from', true);
      const src = findObject(box.root, from);
      if (!src) throw new PatchError(`move operation does not apply: doc is missing from path: ${from}: ${MISSING}`);
      let value: Json | undefined;
      wrap(() => (value = get(src.con, src.key)), `error in move for path: '${src.key}'`);
      wrap(() => remove(src.con, src.key), `error in move for path: '${src.key}'`);
      const path = decodePath(op, 'path', 'move operation failed to decode path', true);
      const dst = findObject(box.root, path);
      if (!dst) throw new PatchError(`move operation does not apply: doc is missing destination path: ${path}: ${MISSING}`);
      wrap(() => add(dst.con, dst.key, value ?? null), `error in move for path: '${path}'`);
      return;
    }
    case 'copy': {
      const from = decodePath(op, 'from', 'copy operation failed to decode from', true);
      const src = findObject(box.root, from);
      if (!src) throw new PatchError(`copy operation does not apply: doc is missing from path: ${from}: ${MISSING}`);
      let value: Json | undefined;
      wrap(() => (value = get(src.con, src.key)), `error in copy for from: '${from}'`);
      const path = decodePath(op, 'path', 'copy operation failed to decode path', false);
      const dst = findObject(box.root, path);
      if (!dst) throw new PatchError(`copy operation does not apply: doc is missing destination path: ${path}: ${MISSING}`);
      wrap(() => add(dst.con, dst.key, clone(value ?? null)), 'error while adding value during copy');
      return;
    }
    case 'test': {
      const path = decodePath(op, 'path', 'test operation failed to decode path', true);
      const want = valueOf(op);
      if (path === '') {
        if (want.present && jsonEqual(box.root, want.value)) return;
        throw new PatchError(`testing value ${path} failed: ${TEST_FAILED}`);
      }
      const found = findObject(box.root, path);
      if (!found) throw new PatchError(`test operation does not apply: is missing path: ${path}: ${MISSING}`);
      let actual: Json | undefined;
      wrap(() => (actual = get(found.con, found.key)), `error in test for path: '${path}'`);
      if (actual === undefined || actual === null) {
        // The library dereferences the missing value here and panics; the apiserver would answer 500 as well.
        if (!want.present) throw new PatchError(`test operation without a value on a missing key (the library panics): ${path}`);
        if (want.value === null) return;
        throw new PatchError(`testing value ${path} failed: ${TEST_FAILED}`);
      }
      if (want.present && jsonEqual(actual, want.value)) return;
      throw new PatchError(`testing value ${path} failed: ${TEST_FAILED}`);
    }
    default:
      throw new PatchError(`Unexpected kind: ${kind}`);
  }
}

/**
 * Applies `patch` (the decoded JSON array) to a copy of `doc` with json-patch v4 semantics. Operations
 * run in order and the first failure fails the whole patch, as in the apiserver (HTTP 500 for the user).
 * Never throws; `doc` is not modified.
 */
export function applyJsonPatch(doc: unknown, patch: unknown): Parsed<unknown> {
  if (patch !== null && !Array.isArray(patch)) return { ok: false, error: 'json: cannot unmarshal a non-array into Go value of type jsonpatch.Patch' };
  const ops = (patch ?? []) as unknown[];
  for (const op of ops) {
    if (op !== null && !isObject(op)) return { ok: false, error: 'json: cannot unmarshal a non-object into Go value of type jsonpatch.Operation' };
  }
  if (typeof doc !== 'object' || doc === null) return { ok: false, error: 'json: cannot unmarshal a scalar into Go value of type jsonpatch.partialDoc' };
  const box = { root: clone(doc) as Container };
  try {
    for (const op of ops) applyOne(box, (op ?? {}) as Operation);
  } catch (err) {
    if (err instanceof PatchError) return { ok: false, error: err.message };
    throw err;
  }
  return { ok: true, value: box.root };
}

/**
 * Map-typed fields of the Kubernetes API (Go maps with omitempty): the apiserver writes an empty one
 * as absent. Struct-typed fields (`status`, `resources`, `strategy`, `securityContext`, …) are kept
 * even when empty, because Go's omitempty never drops a struct.
 */
export const GO_MAP_FIELDS: ReadonlySet<string> = new Set([
  'annotations',
  'labels',
  'matchLabels',
  'nodeSelector',
  'limits',
  'requests',
  'data',
  'stringData',
  'binaryData',
  'capacity',
  'allocatable',
  'volumeAttributes',
]);

/** Slices without omitempty in the pod spec: `containers` is required, so Go writes `[]`, not nothing. */
export const GO_SLICES_WITHOUT_OMITEMPTY: ReadonlySet<string> = new Set(['containers']);

/**
 * What the apiserver's re-encoding of a typed object does before it applies a patch: null members
 * vanish (nil pointers, maps and slices; unset timestamps since 1.35), empty slices vanish (but
 * `containers`), and empty maps in {@link GO_MAP_FIELDS} vanish — so a patch that adds a key under
 * `metadata.annotations: {}` fails there exactly as it would in the cluster. Returns a new value.
 */
export function omitEmptyLikeApiserver(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => omitEmptyLikeApiserver(v));
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, raw] of Object.entries(value)) {
    if (raw === null || raw === undefined) continue;
    const v = omitEmptyLikeApiserver(raw) as Json;
    if (Array.isArray(v) && v.length === 0 && !GO_SLICES_WITHOUT_OMITEMPTY.has(key)) continue;
    if (isObject(v) && Object.keys(v).length === 0 && GO_MAP_FIELDS.has(key)) continue;
    setKey(out, key, v);
  }
  return out;
}

/**
 * Decodes an AdmissionResponse `patch` as the apiserver does: strict standard base64 (JSON `[]byte`)
 * of a JSON array. Fails on double encoding, which decodes to a JSON string rather than an array.
 */
export function decodeResponsePatch(patch: unknown): Parsed<unknown[]> {
  if (typeof patch !== 'string') return { ok: false, error: 'patch must be a base64 string' };
  const compact = patch.replace(/[\r\n]/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return { ok: false, error: 'patch is not standard padded base64' };
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(compact, 'base64').toString('utf8'));
  } catch (err) {
    return { ok: false, error: `patch does not decode to JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(decoded)) return { ok: false, error: `patch decodes to ${typeof decoded}, not a JSON array (encoded twice?)` };
  return { ok: true, value: decoded };
}

/** The whole apiserver step: decode the response patch, re-encode the object with omitempty, apply. */
export function applyPatchAsApiserver(object: unknown, patch: unknown): Parsed<unknown> {
  const ops = decodeResponsePatch(patch);
  if (!ops.ok) return ops;
  return applyJsonPatch(omitEmptyLikeApiserver(object), ops.value);
}
