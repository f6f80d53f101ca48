/**
 * What a change did to a pod template, in words a person reads in a rejection, `helm history` or
 * `kubectl rollout history`. Pure. Env values and other container contents are never quoted: only
 * images, resource quantities and names appear, because templates can carry secrets in env values.
 */
import { CONTAINER_LISTS, CONTAINER_NOUN, isRecord, type Container, type PodTemplate } from '../k8s/types.js';

/** Template annotation kubectl sets on `rollout restart`; a restart is not a change of what runs. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** Structural equality for JSON values (key order ignored; a null field equals an absent one). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      // Holes of a sparse array are skipped, as Array.prototype.every skips them.
      if (i in a && !jsonEqual(a[i], b[i])) return false;
    }
    return true;
  }
  if (!isRecord(a) || !isRecord(b)) return false;
  return recordEqual(a, b);
}

/**
 * Maps equal under jsonEqual, leaving out the key `skip` (when given) on both sides: every key with a
 * value on either side must be equal on the other (null and absent are the same field to the apiserver:
 * omitempty, and clients send either).
 */
function recordEqual(a: Record<string, unknown>, b: Record<string, unknown>, skip?: string): boolean {
  for (const k of Object.keys(a)) if (k !== skip && !fieldEqual(a[k], b[k])) return false;
  for (const k of Object.keys(b)) if (k !== skip && !Object.hasOwn(a, k) && b[k] != null) return false;
  return true;
}

/** True when a field is equal in two maps under jsonEqual's rules: both null or absent, or equal values. */
function fieldEqual(a: unknown, b: unknown): boolean {
  return (a == null && b == null) || jsonEqual(a, b);
}

/** A map with a key other than restartedAt: without one, the annotations count as no map at all. */
function hasAnnotationBesidesRestartedAt(annotations: Record<string, unknown>): boolean {
  for (const k of Object.keys(annotations)) if (k !== RESTARTED_AT) return true;
  return false;
}

/**
 * Whether two templates' annotations are equal once restartedAt is left out, an empty map counting as
 * no map (as the apiserver stores it). Compared in place: no copy of either map.
 */
function annotationsEqual(oldT: PodTemplate | undefined, newT: PodTemplate | undefined): boolean {
  const a = oldT?.metadata?.annotations;
  const b = newT?.metadata?.annotations;
  const x = isRecord(a) && hasAnnotationBesidesRestartedAt(a) ? a : undefined;
  const y = isRecord(b) && hasAnnotationBesidesRestartedAt(b) ? b : undefined;
  if (x === undefined || y === undefined) return x === y;
  return recordEqual(x, y, RESTARTED_AT);
}

/**
 * True when the templates differ in labels, annotations other than kubectl's restartedAt, or spec —
 * what decides whether what runs changed. The rest of the metadata is bookkeeping: for a Pod, whose
 * own metadata is its template view, resourceVersion and managedFields change on every write.
 */
export function templateChanged(oldT: PodTemplate | undefined, newT: PodTemplate | undefined): boolean {
  // Without a template on one side only, what runs changed.
  if (!oldT || !newT) return !oldT !== !newT;
  return !(fieldEqual(oldT.metadata?.labels, newT.metadata?.labels) && annotationsEqual(oldT, newT) && fieldEqual(oldT.spec, newT.spec));
}

/** Shared by every template without a given list (most have no init or ephemeral containers); never written. */
const NO_CONTAINERS: ReadonlyMap<string, Container> = new Map();

function containersByName(t: PodTemplate | undefined, list: (typeof CONTAINER_LISTS)[number]): ReadonlyMap<string, Container> {
  const items = t?.spec?.[list];
  if (!Array.isArray(items)) return NO_CONTAINERS;
  const out = new Map<string, Container>();
  for (let i = 0; i < items.length; i++) {
    const c: unknown = items[i];
    if (isRecord(c)) out.set(typeof c.name === 'string' ? c.name : `#${i}`, c as Container);
  }
  return out;
}

const RESOURCE_KINDS = ['requests', 'limits'] as const;

/** The keys of either map, except those in `skip`, whose values differ, sorted. */
function changedKeys(a: Record<string, unknown>, b: Record<string, unknown>, skip: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const k of Object.keys(a)) if (!skip.has(k) && !jsonEqual(a[k], b[k])) out.push(k);
  for (const k of Object.keys(b)) if (!skip.has(k) && !Object.hasOwn(a, k) && !jsonEqual(a[k], b[k])) out.push(k);
  return out.sort();
}

/** Container fields describeContainer reports in words of their own; the rest are listed by name. */
const DESCRIBED_CONTAINER_FIELDS: ReadonlySet<string> = new Set(['image', 'resources', 'env', 'envFrom', 'name']);
const CONTAINER_LIST_FIELDS: ReadonlySet<string> = new Set(CONTAINER_LISTS);

function describeQuantity(out: string[], name: string, kind: string, res: string, ov: unknown, nv: unknown): void {
  if (String(ov) !== String(nv)) out.push(`resources ${name}: ${kind}.${res} ${ov ?? '(none)'} → ${nv ?? '(none)'}`);
}

function describeResources(out: string[], name: string, oldC: Container, newC: Container): void {
  for (const kind of RESOURCE_KINDS) {
    const o = isRecord(oldC.resources?.[kind]) ? oldC.resources![kind]! : {};
    const n = isRecord(newC.resources?.[kind]) ? newC.resources![kind]! : {};
    // The old list's names in its order, then names only the new list has.
    for (const res of Object.keys(o)) describeQuantity(out, name, kind, res, o[res], n[res]);
    for (const res of Object.keys(n)) if (!Object.hasOwn(o, res)) describeQuantity(out, name, kind, res, o[res], n[res]);
  }
}

function describeContainer(out: string[], noun: string, name: string, oldC: Container, newC: Container): void {
  const label = noun === 'container' ? name : `${noun} ${name}`;
  if (oldC.image !== newC.image) out.push(`image ${label}: ${oldC.image ?? '(none)'} → ${newC.image ?? '(none)'}`);
  if (!jsonEqual(oldC.resources, newC.resources)) describeResources(out, label, oldC, newC);
  if (!jsonEqual(oldC.env, newC.env) || !jsonEqual(oldC.envFrom, newC.envFrom)) out.push(`env ${label} changed`);
  const other = changedKeys(oldC, newC, DESCRIBED_CONTAINER_FIELDS);
  if (other.length) out.push(`${label}: ${other.join(', ')} changed`);
}

/**
 * Summaries of what changed between two pod templates, most important first:
 * `image web: nginx:1.26 → nginx:1.27`, `container sidecar added`, `resources web: limits.cpu 500m → 1`,
 * `env web changed`, `pod spec: volumes changed`, `template annotations changed`.
 * A CREATE (no old template) summarises the images it introduces.
 */
export function describeTemplateChange(oldT: PodTemplate | undefined, newT: PodTemplate | undefined): string[] {
  const out: string[] = [];
  if (!oldT && newT) {
    for (const list of CONTAINER_LISTS) {
      for (const [name, c] of containersByName(newT, list)) {
        const label = list === 'containers' ? name : `${CONTAINER_NOUN[list]} ${name}`;
        out.push(`image ${label}: ${c.image ?? '(none)'}`);
      }
    }
    return out;
  }
  for (const list of CONTAINER_LISTS) {
    const noun = CONTAINER_NOUN[list];
    const before = containersByName(oldT, list);
    const after = containersByName(newT, list);
    for (const [name, c] of after) {
      const prev = before.get(name);
      if (!prev) out.push(`${noun} ${name} added (${c.image ?? 'no image'})`);
      else describeContainer(out, noun, name, prev, c);
    }
    for (const name of before.keys()) if (!after.has(name)) out.push(`${noun} ${name} removed`);
  }
  const specChanged = changedKeys(oldT?.spec ?? {}, newT?.spec ?? {}, CONTAINER_LIST_FIELDS);
  if (specChanged.length) out.push(`pod spec: ${specChanged.join(', ')} changed`);
  if (!jsonEqual(oldT?.metadata?.labels, newT?.metadata?.labels)) out.push('template labels changed');
  if (!annotationsEqual(oldT, newT)) out.push('template annotations changed');
  return out;
}
