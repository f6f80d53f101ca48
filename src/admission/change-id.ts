/**
 * The parts of a change id the gate makes (stamps.ts adds the MAC): a time-ordered random id, new for
 * every template change, and the pod template's digest, so the id is bound to what runs.
 */
import { hash, randomBytes } from 'node:crypto';
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
  return hash('sha256', canonicalJson(t), 'hex').slice(0, TEMPLATE_HASH_CHARS);
}

/** Time-ordered id: base-36 milliseconds then 40 random bits, so ids sort by when the gate issued them. */
export function newChangeIdPart(now: number = Date.now(), random: (n: number) => Buffer = randomBytes): string {
  return `${now.toString(36)}${random(5).toString('hex')}`;
}

/** A source of id parts for the mutating webhook (the clock and the random bytes injectable for tests). */
export function createChangeIdSource(now: () => number = Date.now, random: (n: number) => Buffer = randomBytes): () => string {
  return () => newChangeIdPart(now(), random);
}
