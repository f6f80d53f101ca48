/**
 * Change ids: `<id>.<template hash>`. The id part is new for every template change and survives
 * reinvocation; the hash part is the pod template's digest, so a template changed while the gate was
 * bypassed no longer matches the change id it carries — the recorder flags such changes unverified.
 */
import { hash, randomBytes, randomFillSync } from 'node:crypto';
import { canonicalJson } from '../policy/digest.js';
import type { PodTemplate } from '../k8s/types.js';
import { RESTARTED_AT } from '../workload/template-diff.js';

/** 16 hex characters (64 bits) of the template digest: collisions are not a practical concern here. */
const TEMPLATE_HASH_CHARS = 16;

/**
 * Digest of a pod template, ignoring kubectl's restartedAt (a restart is not a change of what runs) and
 * the template's creationTimestamp (null or absent depending on the cluster and the client library).
 */
export function templateHash(template: PodTemplate | undefined): string {
  let t: unknown = template ?? null;
  const meta = template?.metadata;
  if (meta && (RESTARTED_AT in (meta.annotations ?? {}) || 'creationTimestamp' in meta)) {
    const annotations = { ...meta.annotations };
    delete annotations[RESTARTED_AT];
    const { creationTimestamp: _ignored, ...rest } = meta;
    t = { ...template, metadata: { ...rest, annotations: Object.keys(annotations).length ? annotations : undefined } };
  }
  // One-shot hash: no Hash object per admitted change.
  return hash('sha256', canonicalJson(t), 'hex').slice(0, TEMPLATE_HASH_CHARS);
}

/** Time-ordered id: base-36 milliseconds then 40 random bits, so ids sort by when the gate issued them. */
export function newChangeIdPart(now: number = Date.now(), random: (n: number) => Buffer = randomBytes): string {
  return `${now.toString(36)}${random(5).toString('hex')}`;
}

/** Random bytes drawn per refill: 819 ids per call into the CSPRNG instead of one call per id. */
const RANDOM_POOL_BYTES = 4096;

/**
 * A source of id parts whose random bits come from a pool refilled from the CSPRNG, as node's own
 * randomUUID does: the same 40 random bits per id, without a CSPRNG call and a buffer per admitted change.
 */
export function createChangeIdSource(now: () => number = Date.now, fill: (buf: Buffer) => void = randomFillSync): () => string {
  const pool = Buffer.alloc(RANDOM_POOL_BYTES);
  let offset = pool.length;
  const random = (n: number): Buffer => {
    if (n > pool.length) return randomBytes(n);
    if (offset + n > pool.length) {
      fill(pool);
      offset = 0;
    }
    offset += n;
    return pool.subarray(offset - n, offset);
  };
  return () => newChangeIdPart(now(), random);
}

/** Splits `<id>.<hash>`; tolerates values written by others (no hash part). */
export function parseChangeId(value: unknown): { id: string; hash?: string } | undefined {
  if (typeof value !== 'string' || !value) return undefined;
  const dot = value.lastIndexOf('.');
  return dot > 0 ? { id: value.slice(0, dot), hash: value.slice(dot + 1) } : { id: value };
}

/** True when a change id was issued by the gate for exactly this template. */
export function changeIdMatches(value: unknown, template: PodTemplate | undefined): boolean {
  const parsed = parseChangeId(value);
  return parsed?.hash !== undefined && parsed.hash === templateHash(template);
}
