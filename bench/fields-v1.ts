/**
 * `managedFields[].fieldsV1` for an object, in the shape server-side apply records (`f:` for map keys,
 * `k:{…}` for keyed list items with a `.` marker, `{}` for leaves). Real reviews carry one such tree per
 * field manager, and on big workloads it is a large part of the body the gate must read.
 */

/** List fields the API merges by key, with the key fields (the Kubernetes OpenAPI `x-kubernetes-list-map-keys`). */
const LIST_KEYS: Readonly<Record<string, readonly string[]>> = {
  containers: ['name'],
  initContainers: ['name'],
  env: ['name'],
  volumeMounts: ['mountPath'],
  volumes: ['name'],
  ports: ['containerPort', 'protocol'],
  conditions: ['type'],
};

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function itemKey(item: Record<string, unknown>, keys: readonly string[]): string {
  const picked: Record<string, unknown> = {};
  for (const k of keys) picked[k] = item[k] ?? (k === 'protocol' ? 'TCP' : undefined);
  return `k:${JSON.stringify(picked)}`;
}

/** The fieldsV1 tree owning every field of `value` (a map), as one manager that applied all of it. */
export function fieldsV1Of(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const keys = LIST_KEYS[key];
    if (Array.isArray(child) && keys) {
      const list: Record<string, unknown> = {};
      for (const item of child) if (isMap(item)) list[itemKey(item, keys)] = { '.': {}, ...fieldsV1Of(item) };
      out[`f:${key}`] = list;
    } else out[`f:${key}`] = isMap(child) && Object.keys(child).length ? fieldsV1Of(child) : {};
  }
  return out;
}
