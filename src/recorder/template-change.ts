/**
 * What changed between two live pod templates, as field-level operations a manifest can be patched
 * with: keyed list elements (containers by name, env by name, ports by containerPort …) are matched by
 * key as strategic merge patch does; apiserver defaults are stripped first, so they never reach a
 * manifest. Pure.
 */
import { isRecord, type PodTemplate } from '../k8s/types.js';
import { withoutTemplateDefaults } from '../workload/defaults.js';
import { jsonEqual } from '../workload/template-diff.js';

/** Picks an element of a list by a key field, e.g. `containers[name=web]`, `volumeMounts[mountPath=/data]`. */
export interface KeyedSegment {
  key: string;
  value: string | number;
}

/** A step into the pod template: a map key, or a keyed list element. */
export type PathSegment = string | KeyedSegment;

/** One field-level change of the pod template, path relative to the template (`metadata`, `spec`). */
export interface FieldChange {
  op: 'set' | 'remove';
  path: PathSegment[];
  /** New value for `set`, apiserver defaults removed. */
  value?: unknown;
  /** For a list element that is new: the key of the element it follows (`null`: first). */
  after?: string | number | null;
}

/**
 * What changed between two live pod templates, as field-level operations: images, resources, env
 * entries (by name), command/args, containers added/removed, template labels/annotations, and any other
 * template field. Fields equal in both templates, apiserver defaults and kubectl's restartedAt are absent.
 */
export interface TemplateChange {
  changes: FieldChange[];
}


/** List fields of a pod template whose elements are matched by a key, as strategic merge patch does. */
const LIST_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  resourceClaims: 'name',
  schedulingGates: 'name',
  ports: 'containerPort',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  hostAliases: 'ip',
  resizePolicy: 'resourceName',
};

function keyedBy(list: readonly unknown[], key: string): list is Record<string, unknown>[] {
  const seen = new Set<string>();
  for (const item of list) {
    if (!isRecord(item)) return false;
    const k = item[key];
    if ((typeof k !== 'string' && typeof k !== 'number') || seen.has(String(k))) return false;
    seen.add(String(k));
  }
  return true;
}

function diffValue(oldV: unknown, newV: unknown, path: PathSegment[], out: FieldChange[]): void {
  if (jsonEqual(oldV, newV)) return;
  if (!isRecord(oldV) || !isRecord(newV)) {
    out.push({ op: 'set', path, value: newV });
    return;
  }
  for (const key of Object.keys(oldV)) if (!Object.hasOwn(newV, key)) out.push({ op: 'remove', path: [...path, key] });
  for (const [key, value] of Object.entries(newV)) {
    if (!Object.hasOwn(oldV, key)) out.push({ op: 'set', path: [...path, key], value });
    else diffField(key, oldV[key], value, [...path, key], out);
  }
}

function diffField(field: string, oldV: unknown, newV: unknown, path: PathSegment[], out: FieldChange[]): void {
  const key = LIST_KEYS[field];
  if (!key || !Array.isArray(oldV) || !Array.isArray(newV) || !keyedBy(oldV, key) || !keyedBy(newV, key)) {
    diffValue(oldV, newV, path, out);
    return;
  }
  const before = new Map(oldV.map((item) => [String(item[key]), item]));
  const after = new Set(newV.map((item) => String(item[key])));
  for (const item of oldV) {
    if (!after.has(String(item[key]))) out.push({ op: 'remove', path: [...path, { key, value: item[key] as string | number }] });
  }
  newV.forEach((item, i) => {
    const seg: KeyedSegment = { key, value: item[key] as string | number };
    const prev = before.get(String(item[key]));
    if (prev) diffValue(prev, item, [...path, seg], out);
    else out.push({ op: 'set', path: [...path, seg], value: item, after: i === 0 ? null : (newV[i - 1]?.[key] as string | number) });
  });
}

/**
 * The field-level difference between two live pod templates (old → new). Both are stripped of
 * apiserver defaults first, so defaults never reach a manifest, even inside a new container.
 */
export function templateChange(oldTemplate: PodTemplate | undefined, newTemplate: PodTemplate | undefined): TemplateChange {
  const changes: FieldChange[] = [];
  diffValue(withoutTemplateDefaults(oldTemplate), withoutTemplateDefaults(newTemplate), [], changes);
  return { changes };
}

