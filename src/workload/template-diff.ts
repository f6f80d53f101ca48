/**
 * What a change did to a pod template, in words a person reads in a rejection, `helm history` or
 * `kubectl rollout history`. Pure. Env values and other container contents are never quoted: only
 * images, resource quantities and names appear, because templates can carry secrets in env values.
 */
import { CONTAINER_LISTS, CONTAINER_NOUN, isRecord, type Container, type PodTemplate } from '../k8s/types.js';

/** Template annotation kubectl sets on `rollout restart`; a restart is not a change of what runs. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/**
 * Structural equality for JSON values (key order ignored; a null field equals an absent one). Loops
 * instead of filtered key arrays: UPDATE reviews compare whole pod templates, several times.
 */
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
  // null and absent are the same field to the apiserver (omitempty), and clients send either.
  let unmatched = 0;
  for (const k of Object.keys(b)) if (b[k] !== undefined && b[k] !== null) unmatched++;
  for (const k of Object.keys(a)) {
    const v = a[k];
    if (v === undefined || v === null) continue;
    if (--unmatched < 0 || !Object.hasOwn(b, k) || !jsonEqual(v, b[k])) return false;
  }
  return unmatched === 0;
}

/** Template annotations without restartedAt; an empty map is no map, as the apiserver stores it. */
function annotationsWithoutRestartedAt(template: PodTemplate | undefined): Record<string, unknown> | undefined {
  const annotations = template?.metadata?.annotations;
  if (!isRecord(annotations)) return undefined;
  const rest: Record<string, unknown> = { ...annotations };
  delete rest[RESTARTED_AT];
  return Object.keys(rest).length ? rest : undefined;
}

/**
 * What decides whether what runs changed: labels, annotations (except restartedAt) and spec. The rest of
 * the metadata is bookkeeping — for a Pod, whose own metadata is its template view, resourceVersion and
 * managedFields change on every write.
 */
function comparable(template: PodTemplate | undefined): unknown {
  if (!template) return undefined;
  return { labels: template.metadata?.labels, annotations: annotationsWithoutRestartedAt(template), spec: template.spec };
}

/** True when the templates differ in labels, annotations other than kubectl's restartedAt, or spec. */
export function templateChanged(oldT: PodTemplate | undefined, newT: PodTemplate | undefined): boolean {
  return !jsonEqual(comparable(oldT), comparable(newT));
}

function containersByName(t: PodTemplate | undefined, list: (typeof CONTAINER_LISTS)[number]): Map<string, Container> {
  const out = new Map<string, Container>();
  const items = t?.spec?.[list];
  if (!Array.isArray(items)) return out;
  items.forEach((c, i) => {
    if (isRecord(c)) out.set(typeof c.name === 'string' ? c.name : `#${i}`, c);
  });
  return out;
}

function describeResources(name: string, oldC: Container, newC: Container): string[] {
  const out: string[] = [];
  for (const kind of ['requests', 'limits'] as const) {
    const o = isRecord(oldC.resources?.[kind]) ? oldC.resources![kind]! : {};
    const n = isRecord(newC.resources?.[kind]) ? newC.resources![kind]! : {};
    for (const res of new Set([...Object.keys(o), ...Object.keys(n)])) {
      const ov = o[res];
      const nv = n[res];
      if (String(ov) === String(nv)) continue;
      out.push(`resources ${name}: ${kind}.${res} ${ov ?? '(none)'} → ${nv ?? '(none)'}`);
    }
  }
  return out;
}

function describeContainer(noun: string, name: string, oldC: Container, newC: Container): string[] {
  const out: string[] = [];
  const label = noun === 'container' ? name : `${noun} ${name}`;
  if (oldC.image !== newC.image) out.push(`image ${label}: ${oldC.image ?? '(none)'} → ${newC.image ?? '(none)'}`);
  if (!jsonEqual(oldC.resources, newC.resources)) out.push(...describeResources(label, oldC, newC));
  if (!jsonEqual(oldC.env, newC.env) || !jsonEqual(oldC.envFrom, newC.envFrom)) out.push(`env ${label} changed`);
  const rest = new Set([...Object.keys(oldC), ...Object.keys(newC)]);
  for (const k of ['image', 'resources', 'env', 'envFrom', 'name']) rest.delete(k);
  const other = [...rest].filter((k) => !jsonEqual(oldC[k], newC[k])).sort();
  if (other.length) out.push(`${label}: ${other.join(', ')} changed`);
  return out;
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
      else out.push(...describeContainer(noun, name, prev, c));
    }
    for (const name of before.keys()) if (!after.has(name)) out.push(`${noun} ${name} removed`);
  }
  const oldSpec = oldT?.spec ?? {};
  const newSpec = newT?.spec ?? {};
  const specKeys = new Set([...Object.keys(oldSpec), ...Object.keys(newSpec)]);
  for (const list of CONTAINER_LISTS) specKeys.delete(list);
  const specChanged = [...specKeys].filter((k) => !jsonEqual(oldSpec[k], newSpec[k])).sort();
  if (specChanged.length) out.push(`pod spec: ${specChanged.join(', ')} changed`);
  if (!jsonEqual(oldT?.metadata?.labels, newT?.metadata?.labels)) out.push('template labels changed');
  if (!jsonEqual(annotationsWithoutRestartedAt(oldT), annotationsWithoutRestartedAt(newT))) out.push('template annotations changed');
  return out;
}
