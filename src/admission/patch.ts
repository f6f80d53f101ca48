/**
 * JSONPatch operations the apiserver will accept (reference/admission-protocol.md §7): RFC 6901
 * escaping, and a map-level `add` when the annotations map is absent or empty (a key-level add under a
 * missing map fails the whole request with a 500). Pure.
 */
import { isRecord } from '../k8s/types.js';
import { quoteJson } from '../policy/digest.js';

export interface PatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

/** RFC 6901: `~` → `~0` first, then `/` → `~1`. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** True when a map has no key at all (without listing its keys). */
function isEmptyMap(map: Record<string, unknown>): boolean {
  for (const k in map) if (Object.hasOwn(map, k)) return false;
  return true;
}

/** Distinct keys a path memo holds before it starts over: one gate writes a dozen or so annotation keys. */
const PATH_MEMO_MAX_ENTRIES = 256;

/**
 * The JSON pointer of each annotation key under `base`, remembered: the gate writes the same few keys
 * (its own, the policies' provenance keys) on every review, so each is escaped once, not per review.
 */
export function createAnnotationPaths(base: string): (key: string) => string {
  const paths = new Map<string, string>();
  return (key) => {
    let path = paths.get(key);
    if (path === undefined) {
      if (paths.size >= PATH_MEMO_MAX_ENTRIES) paths.clear();
      paths.set(key, (path = `${base}/annotations/${escapePointer(key)}`));
    }
    return path;
  };
}

/**
 * Ops that make `base + /annotations` contain `wanted`, without touching other keys and with no op at
 * all for keys that already hold the wanted value (idempotent under reinvocation). `pathOf` gives each
 * key's pointer; a caller on the hot path passes one from {@link createAnnotationPaths}.
 */
export function ensureAnnotationsOps(
  base: string,
  current: unknown,
  wanted: Readonly<Record<string, string>>,
  pathOf: (key: string) => string = (key) => `${base}/annotations/${escapePointer(key)}`,
): PatchOp[] {
  const existing = isRecord(current) ? current : {};
  const keys = Object.keys(wanted);
  if (isEmptyMap(existing)) {
    // The apiserver re-encodes an empty map as absent: add the whole map in one op. (No wanted value
    // can equal what an empty map holds, so every one of them is a change.)
    return keys.length ? [{ op: 'add', path: `${base}/annotations`, value: { ...wanted } }] : [];
  }
  const ops: PatchOp[] = [];
  for (const k of keys) {
    const v = wanted[k]!;
    if (existing[k] !== v) ops.push({ op: 'add', path: pathOf(k), value: v });
  }
  return ops;
}

/** One op's JSON, as JSON.stringify writes an op built here: `op`, `path` and `value` in that order. */
function opJson(op: PatchOp): string {
  const head = `{"op":${quoteJson(op.op)},"path":${quoteJson(op.path)}`;
  if (op.value === undefined) return `${head}}`;
  return `${head},"value":${typeof op.value === 'string' ? quoteJson(op.value) : JSON.stringify(op.value)}}`;
}

/**
 * The `patch` field of an AdmissionResponse: base64 of the JSON array, encoded once. The JSON is
 * written op by op: JSON.stringify's generic walk over the small op objects cost more than the text.
 */
export function encodePatch(ops: readonly PatchOp[]): string {
  let json = '[';
  for (let i = 0; i < ops.length; i++) json += `${i > 0 ? ',' : ''}${opJson(ops[i]!)}`;
  return Buffer.from(`${json}]`).toString('base64');
}
