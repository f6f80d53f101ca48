/**
 * Server-side printing (`meta.k8s.io` Table), which `kubectl get` and `helm status` ask for: the
 * columns of the apiserver's built-in printers for the served kinds, and `Name`/`Age` otherwise.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { selectorToString } from './selectors.js';
import type { JsonObject } from './types.js';

interface Column {
  name: string;
  type: 'string' | 'integer';
  format?: string;
  /** 0 = always shown; 1 = only with `-o wide`. */
  priority: number;
  cell(obj: JsonObject, now: Date): string | number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;

/** `duration.HumanDuration` from apimachinery: `45s`, `3m12s`, `5h`, `2d3h`, `400d`, `3y5d`. */
export function humanDuration(ms: number): string {
  if (ms < -SECOND) return '<invalid>';
  if (ms < 0) return '0s';
  if (ms < 2 * MINUTE) return `${Math.floor(ms / SECOND)}s`;
  const minutes = Math.floor(ms / MINUTE);
  if (minutes < 10) {
    const s = Math.floor(ms / SECOND) % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 3 * 60) return `${minutes}m`;
  const hours = Math.floor(ms / HOUR);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 8 * 24) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (ms < 2 * YEAR) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(ms / YEAR);
  if (ms < 8 * YEAR) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${years}y` : `${years}y${days}d`;
  }
  return `${years}y`;
}

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** The Age column is computed by the server at request time. */
function age(obj: JsonObject, now: Date): string {
  const created = rec(obj['metadata'])['creationTimestamp'];
  if (typeof created !== 'string') return '<unknown>';
  return humanDuration(now.getTime() - Date.parse(created));
}

function containersOf(obj: JsonObject): JsonObject[] {
  const list = rec(rec(rec(obj['spec'])['template'])['spec'])['containers'];
  return Array.isArray(list) ? list.filter(isRecord) : [];
}

const name: Column = { name: 'Name', type: 'string', format: 'name', priority: 0, cell: (o) => String(rec(o['metadata'])['name'] ?? '') };
const ageColumn: Column = { name: 'Age', type: 'string', priority: 0, cell: age };
const templated: Column[] = [
  { name: 'Containers', type: 'string', priority: 1, cell: (o) => containersOf(o).map((c) => String(c['name'] ?? '')).join(',') },
  { name: 'Images', type: 'string', priority: 1, cell: (o) => containersOf(o).map((c) => String(c['image'] ?? '')).join(',') },
  { name: 'Selector', type: 'string', priority: 1, cell: (o) => selectorToString(rec(o['spec'])['selector']) },
];

/** Per kind, the columns of the apiserver's printers (`pkg/printers/internalversion`). */
const COLUMNS: Record<string, Column[]> = {
  Deployment: [
    name,
    { name: 'Ready', type: 'string', priority: 0, cell: (o) => `${num(rec(o['status'])['readyReplicas'])}/${num(rec(o['spec'])['replicas'])}` },
    { name: 'Up-to-date', type: 'integer', priority: 0, cell: (o) => num(rec(o['status'])['updatedReplicas']) },
    { name: 'Available', type: 'integer', priority: 0, cell: (o) => num(rec(o['status'])['availableReplicas']) },
    ageColumn,
    ...templated,
  ],
  ReplicaSet: [
    name,
    { name: 'Desired', type: 'integer', priority: 0, cell: (o) => num(rec(o['spec'])['replicas']) },
    { name: 'Current', type: 'integer', priority: 0, cell: (o) => num(rec(o['status'])['replicas']) },
    { name: 'Ready', type: 'integer', priority: 0, cell: (o) => num(rec(o['status'])['readyReplicas']) },
    ageColumn,
    ...templated,
  ],
  Namespace: [name, { name: 'Status', type: 'string', priority: 0, cell: (o) => String(rec(o['status'])['phase'] ?? '') }, ageColumn],
  Secret: [
    name,
    { name: 'Type', type: 'string', priority: 0, cell: (o) => String(o['type'] ?? '') },
    { name: 'Data', type: 'integer', priority: 0, cell: (o) => Object.keys(rec(o['data'])).length },
    ageColumn,
  ],
  ConfigMap: [name, { name: 'Data', type: 'integer', priority: 0, cell: (o) => Object.keys(rec(o['data'])).length + Object.keys(rec(o['binaryData'])).length }, ageColumn],
  Lease: [name, { name: 'Holder', type: 'string', priority: 0, cell: (o) => String(rec(o['spec'])['holderIdentity'] ?? '') }, ageColumn],
};

/** The Table version a request's `Accept` asks for (`v1` or `v1beta1`), if any. */
export function wantsTable(accept: string): string | undefined {
  for (const range of accept.split(',')) {
    const params = new Map(range.split(';').slice(1).map((p) => p.trim().split('=') as [string, string]));
    if (params.get('as') === 'Table' && params.get('g') === 'meta.k8s.io') return params.get('v') ?? 'v1';
  }
  return undefined;
}

/** A Table of `items`; `includeObject` is the query parameter (`None`, `Metadata` default, `Object`). */
export function toTable(kind: string, items: JsonObject[], listMeta: JsonObject, version: string, includeObject: string | null, now: Date): JsonObject {
  const columns = COLUMNS[kind] ?? [name, ageColumn];
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: listMeta,
    columnDefinitions: columns.map((c) => {
      const def: JsonObject = { name: c.name, type: c.type, format: c.format ?? '', description: '', priority: c.priority };
      return def;
    }),
    rows: items.map((item) => {
      const row: JsonObject = { cells: columns.map((c) => c.cell(item, now)) };
      if (includeObject === 'Object') row['object'] = item;
      else if (includeObject !== 'None') row['object'] = { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: item['metadata'] ?? {} };
      return row;
    }),
  };
}
