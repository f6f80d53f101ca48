/**
 * JSONPatch operations the apiserver will accept (reference/admission-protocol.md §7): RFC 6901
 * escaping, and a map-level `add` when the annotations map is absent or empty (a key-level add under a
 * missing map fails the whole request with a 500). Pure.
 */
import { isRecord } from '../k8s/types.js';

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

/**
 * Ops that make `base + /annotations` contain `wanted`, without touching other keys and with no op at
 * all for keys that already hold the wanted value (idempotent under reinvocation).
 */
export function ensureAnnotationsOps(
  base: string,
  current: unknown,
  wanted: Readonly<Record<string, string>>,
): PatchOp[] {
  const pathOf = (key: string) => `${base}/annotations/${escapePointer(key)}`;
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

/** The `patch` field of an AdmissionResponse: base64 of the JSON array. */
export function encodePatch(ops: readonly PatchOp[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}
