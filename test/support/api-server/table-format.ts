/**
 * Cell helpers of the server-side printers (pkg/printers/internalversion/printers.go): the column
 * shape, `duration.HumanDuration`, `translateTimestampSince`, `layoutContainerCells` and the label
 * formatting of `labels.FormatLabels` / `metav1.FormatLabelSelector`.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { selectorToString } from './selectors.js';
import type { JsonObject } from './types.js';

/** One Table column and how its cell is computed. */
export interface Column {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  /** The column's description (custom resource columns carry one; the built-in printers' are left empty). */
  description?: string;
  /** 0 = always shown; 1 = only with `-o wide`. */
  priority: number;
  /** `null` is a missing value (kubectl prints `<none>`). */
  cell(obj: JsonObject, now: Date): string | number | boolean | null;
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

export function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

export function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** `translateTimestampSince`: the age of a timestamp, `<unknown>` when unset. */
export function since(timestamp: unknown, now: Date): string {
  if (typeof timestamp !== 'string' || timestamp === '') return '<unknown>';
  return humanDuration(now.getTime() - Date.parse(timestamp));
}

/** `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty. */
export function formatLabels(labels: unknown): string {
  const text = selectorToString({ matchLabels: rec(labels) });
  return text === '' ? '<none>' : text;
}

/** `metav1.FormatLabelSelector`: `<none>` for a missing or empty selector. */
export function formatSelector(selector: unknown): string {
  const text = selectorToString(selector);
  return text === '' ? '<none>' : text;
}

/** The containers of a pod spec. */
export function containersOfSpec(podSpec: unknown): JsonObject[] {
  const list = rec(podSpec)['containers'];
  return Array.isArray(list) ? list.filter(isRecord) : [];
}

export const nameColumn: Column = { name: 'Name', type: 'string', format: 'name', priority: 0, cell: (o) => String(rec(o['metadata'])['name'] ?? '') };
/** The Age column is computed by the server at request time. */
export const ageColumn: Column = { name: 'Age', type: 'string', priority: 0, cell: (o, now) => since(rec(o['metadata'])['creationTimestamp'], now) };

/** The wide `Containers` and `Images` columns (`layoutContainerCells`) of the pod spec found by `specOf`. */
export function templateColumns(specOf: (o: JsonObject) => unknown): Column[] {
  return [
    { name: 'Containers', type: 'string', priority: 1, cell: (o) => containersOfSpec(specOf(o)).map((c) => String(c['name'] ?? '')).join(',') },
    { name: 'Images', type: 'string', priority: 1, cell: (o) => containersOfSpec(specOf(o)).map((c) => String(c['image'] ?? '')).join(',') },
  ];
}
