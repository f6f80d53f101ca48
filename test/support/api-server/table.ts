/**
 * Server-side printing (`meta.k8s.io` Table), which `kubectl get` and `helm status` ask for: the
 * columns of the apiserver's built-in printers for the served kinds (`table-columns.ts`), and
 * `Name`/`Age` otherwise.
 */
import { customColumns } from './cr-table.js';
import type { ResourceInfo } from './resources.js';
import { ADDON_COLUMNS } from './table-columns-addon.js';
import { COLUMNS, DEFAULT_COLUMNS } from './table-columns.js';
import type { Column } from './table-format.js';
import type { JsonObject } from './types.js';

export { humanDuration } from './table-format.js';

/** The Table version a request's `Accept` asks for (`v1` or `v1beta1`), if any. */
export function wantsTable(accept: string): string | undefined {
  for (const range of accept.split(',')) {
    const params = new Map(range.split(';').slice(1).map((p) => p.trim().split('=') as [string, string]));
    if (params.get('as') === 'Table' && params.get('g') === 'meta.k8s.io') return params.get('v') ?? 'v1';
  }
  return undefined;
}

/** The columns of a resource: its printer's, a custom resource's (CRD printer columns), or Name/Age. */
export function columnsFor(info: ResourceInfo): readonly Column[] {
  if (info.custom !== undefined) return customColumns(info.custom.columns);
  return COLUMNS[info.kind] ?? ADDON_COLUMNS[info.kind] ?? DEFAULT_COLUMNS;
}

/** A Table of `items`; `includeObject` is the query parameter (`None`, `Metadata` default, `Object`). */
export function toTable(columns: readonly Column[], items: JsonObject[], listMeta: JsonObject, version: string, includeObject: string | null, now: Date): JsonObject {
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: listMeta,
    columnDefinitions: columns.map((c) => {
      const def: JsonObject = { name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority };
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
