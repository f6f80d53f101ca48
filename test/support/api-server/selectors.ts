/**
 * Label and field selectors as the apiserver parses them from `?labelSelector=` / `?fieldSelector=`.
 * Pure: parse errors come back as `Parsed` failures that the server turns into 400s.
 */
import type { Parsed } from '../../../src/errors.js';
import type { JsonObject } from './types.js';

/** Decides whether an object matches. */
export type ObjectMatcher = (obj: JsonObject) => boolean;

type LabelTest = (labels: Record<string, string>) => boolean;

/** Splits on commas that are not inside `( … )`, as in `env in (a,b),tier!=db`. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseRequirement(req: string): Parsed<LabelTest> {
  const setMatch = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(req);
  if (setMatch !== null) {
    const [, key = '', op, list = ''] = setMatch;
    const values = list.split(',').map((v) => v.trim());
    return op === 'in'
      ? { ok: true, value: (l) => key in l && values.includes(l[key] ?? '') }
      : { ok: true, value: (l) => !(key in l) || !values.includes(l[key] ?? '') };
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(req);
  if (cmp !== null) {
    const [, key = '', op, value = ''] = cmp;
    // `!=` also matches objects without the label, as in the apiserver.
    return op === '!=' ? { ok: true, value: (l) => l[key] !== value } : { ok: true, value: (l) => key in l && l[key] === value };
  }
  const exists = /^(!?)([^=!\s()]+)$/.exec(req);
  if (exists !== null) {
    const [, negate, key = ''] = exists;
    return negate === '!' ? { ok: true, value: (l) => !(key in l) } : { ok: true, value: (l) => key in l };
  }
  return { ok: false, error: `unable to parse requirement: ${JSON.stringify(req)}` };
}

/** Parses a label selector; the empty selector matches everything. */
export function parseLabelSelector(text: string): Parsed<ObjectMatcher> {
  const tests: LabelTest[] = [];
  for (const req of splitTopLevel(text)) {
    const parsed = parseRequirement(req);
    if (!parsed.ok) return parsed;
    tests.push(parsed.value);
  }
  return { ok: true, value: (obj) => tests.every((t) => t(labelsOf(obj))) };
}

function labelsOf(obj: JsonObject): Record<string, string> {
  const meta = obj['metadata'] as { labels?: Record<string, string> } | undefined;
  return meta?.labels ?? {};
}

/** A value at a dotted path, as the string a field selector compares with (`''` when absent). */
function fieldValue(obj: JsonObject, field: string): string {
  let node: unknown = obj;
  for (const part of field.split('.')) node = typeof node === 'object' && node !== null ? (node as JsonObject)[part] : undefined;
  return node === undefined || node === null ? '' : String(node);
}

type FieldGetter = (obj: JsonObject) => string;

function paths(...fields: string[]): Record<string, FieldGetter> {
  return Object.fromEntries(fields.map((f) => [f, (obj: JsonObject) => fieldValue(obj, f)]));
}

/**
 * Field selector fields beyond metadata.name/namespace, per kind: the `ToSelectableFields` /
 * `GetAttrs` of each registry strategy (pkg/registry/core/{pod,event,replicationcontroller,namespace},
 * apps/replicaset, batch/job).
 */
const KIND_FIELDS: Readonly<Record<string, Record<string, FieldGetter>>> = {
  Secret: paths('type'),
  Namespace: paths('status.phase'),
  Pod: {
    ...paths('spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.nominatedNodeName'),
    'spec.hostNetwork': (obj) => String(fieldValue(obj, 'spec.hostNetwork') === 'true'),
    'status.podIP': (obj) => {
      const ips = (obj['status'] as { podIPs?: { ip?: string }[] } | undefined)?.podIPs;
      return Array.isArray(ips) ? String(ips[0]?.ip ?? '') : '';
    },
  },
  ReplicationController: { 'status.replicas': (obj) => fieldValue(obj, 'status.replicas') || '0' },
  ReplicaSet: { 'status.replicas': (obj) => fieldValue(obj, 'status.replicas') || '0' },
  Job: { 'status.successful': (obj) => fieldValue(obj, 'status.succeeded') || '0' },
  Event: {
    ...paths(
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'type',
    ),
    // `source` is source.component, or the reporting controller of events written through events.k8s.io.
    source: (obj) => fieldValue(obj, 'source.component') || fieldValue(obj, 'reportingComponent'),
  },
};

/**
 * Parses a field selector (`metadata.name=web,metadata.namespace!=kube-system`) for objects of
 * `kind`, or of a custom resource (`custom`: its scope and selectable fields).
 */
export function parseFieldSelector(text: string, kind: string, custom?: { namespaced: boolean; fields: readonly string[] }): Parsed<ObjectMatcher> {
  const tests: { field: string; value: string; negate: boolean }[] = [];
  for (const req of splitTopLevel(text)) {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(req);
    if (m === null) return { ok: false, error: `invalid selector: '${text}'; can't understand '${req}'` };
    const [, field = '', op, value = ''] = m;
    tests.push({ field: field.trim(), value: value.trim(), negate: op === '!=' });
  }
  const getters: Record<string, FieldGetter> =
    custom === undefined
      ? { ...paths('metadata.name', 'metadata.namespace'), ...(KIND_FIELDS[kind] ?? {}) }
      : { ...paths('metadata.name', ...(custom.namespaced ? ['metadata.namespace'] : []), ...custom.fields) };
  const bound: { get: FieldGetter; value: string; negate: boolean }[] = [];
  for (const t of tests) {
    const get = getters[t.field];
    if (get === undefined) return { ok: false, error: `field label not supported: ${t.field}` };
    bound.push({ get, value: t.value, negate: t.negate });
  }
  return {
    ok: true,
    value: (obj) => bound.every((t) => (t.get(obj) === t.value) !== t.negate),
  };
}

/** A label selector object (`matchLabels` + `matchExpressions`) as the string form Scale status uses. */
export function selectorToString(selector: unknown): string {
  if (typeof selector !== 'object' || selector === null) return '';
  const s = selector as { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  const parts = Object.entries(s.matchLabels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    const op = e.operator;
    if (op === 'In' || op === 'NotIn') parts.push(`${e.key} ${op.toLowerCase()} (${(e.values ?? []).join(',')})`);
    else if (op === 'Exists') parts.push(e.key);
    else if (op === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
