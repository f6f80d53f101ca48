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

/**
 * Ops that make `base + /annotations` contain `wanted`, without touching other keys and with no op at
 * all for keys that already hold the wanted value (idempotent under reinvocation).
 */
export function ensureAnnotationsOps(base: string, current: unknown, wanted: Readonly<Record<string, string>>): PatchOp[] {
  const existing = isRecord(current) ? current : {};
  const changes = Object.entries(wanted).filter(([k, v]) => existing[k] !== v);
  if (!changes.length) return [];
  if (Object.keys(existing).length === 0) {
    // The apiserver re-encodes an empty map as absent: add the whole map in one op.
    return [{ op: 'add', path: `${base}/annotations`, value: Object.fromEntries(changes) }];
  }
  return changes.map(([k, v]) => ({ op: 'add' as const, path: `${base}/annotations/${escapePointer(k)}`, value: v }));
}

/** The `patch` field of an AdmissionResponse: base64 of the JSON array, encoded once. */
export function encodePatch(ops: readonly PatchOp[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}
