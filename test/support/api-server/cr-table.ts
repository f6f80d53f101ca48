/**
 * Server-side Tables of custom resources (apiextensions-apiserver/pkg/registry/customresource/
 * tableconvertor): a Name column, then one per `additionalPrinterColumns` entry (or `Age` when there
 * are none) whose cell is the first result of its JSONPath — printed as text for `string` columns
 * (`PrintResults`: scalars as Go prints them, maps and lists as JSON), converted by
 * `cellForJSONValue` otherwise (`date` as an age), and `null` when missing.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { PrinterColumn } from './resources.js';
import { since } from './table-format.js';
import type { Column } from './table-format.js';
import { goJson } from './validation-common.js';

/** `swaggerMetadataDescriptions["name"]`: the Name column's description. */
const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';

type Step = { field: string } | { index: number } | { all: true } | { filter: string[]; equals: string };

/** Parses the JSONPath subset printer columns use: `.a.b`, `[0]`, `[*]`, `[?(@.type=="Ready")]`. */
function parsePath(path: string): Step[] {
  const steps: Step[] = [];
  const re = /\.((?:\\.|[^.[\\])+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([\w.]+)\s*==\s*["']([^"']*)["']\)\]/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path)) !== null) {
    if (m[1] !== undefined) steps.push({ field: m[1].replace(/\\\./g, '.') });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ filter: m[3].split('.'), equals: m[4] ?? '' });
    else steps.push({ all: true });
    if (re.lastIndex >= path.length) break;
  }
  return steps;
}

function dig(value: unknown, fields: string[]): unknown {
  let node = value;
  for (const f of fields) node = isRecord(node) ? node[f] : undefined;
  return node;
}

/** The values a JSONPath finds in `obj` (missing keys allowed: `AllowMissingKeys(true)`). */
function findResults(obj: unknown, path: string): unknown[] {
  let nodes: unknown[] = [obj];
  for (const step of parsePath(path)) {
    const next: unknown[] = [];
    for (const node of nodes) {
      if ('field' in step) {
        if (isRecord(node) && step.field in node) next.push(node[step.field]);
      } else if ('index' in step) {
        if (Array.isArray(node) && step.index < node.length) next.push(node[step.index]);
      } else if ('all' in step) {
        if (Array.isArray(node)) next.push(...node);
        else if (isRecord(node)) next.push(...Object.values(node));
      } else if (Array.isArray(node)) {
        next.push(...node.filter((item) => String(dig(item, step.filter)) === step.equals));
      }
    }
    nodes = next;
  }
  return nodes;
}

/** `fmt.Fprint` of a decoded JSON scalar, or compact JSON for maps and lists (`PrintResults`). */
function printText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return goJson(value);
  return String(value);
}

/** `cellForJSONValue`: the typed cell of a non-string column, `null` when the value does not fit. */
function typedCell(type: string, value: unknown, now: Date): string | number | boolean | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date':
      if (typeof value !== 'string') return null;
      return Number.isNaN(Date.parse(value)) ? '<invalid>' : since(value, now);
    default:
      return null;
  }
}

/** The Table columns of a custom resource version. */
export function customColumns(columns: readonly PrinterColumn[]): Column[] {
  const name: Column = { name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION, priority: 0, cell: (o) => String((isRecord(o['metadata']) ? o['metadata']['name'] : '') ?? '') };
  return [
    name,
    ...columns.map(
      (c): Column => ({
        name: c.name,
        type: c.type as Column['type'],
        format: c.format,
        description: c.description,
        priority: c.priority,
        cell: (o, now) => {
          const results = findResults(o, c.jsonPath);
          if (results.length === 0 || results[0] === null) return null;
          return c.type === 'string' ? printText(results[0]) : typedCell(c.type, results[0], now);
        },
      }),
    ),
  ];
}
