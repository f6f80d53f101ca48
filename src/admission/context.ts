/** From an AdmissionRequest to the engine's RequestContext: who, with which tool, in which tenant. Pure. */
import type { ManagedFieldsEntry } from '../k8s/types.js';
import type { RequestContext } from '../policy/types.js';
import type { AdmissionRequest } from './types.js';

function entryKey(e: ManagedFieldsEntry): string {
  return `${e.manager ?? ''}\u0000${e.operation ?? ''}\u0000${e.subresource ?? ''}`;
}

/**
 * Whether JSON.stringify(a) === JSON.stringify(b), decided without writing either text when both are
 * plain JSON (what JSON.parse produces): same key order, same keys, same values. Anything JSON.stringify
 * treats specially (undefined, functions, toJSON, non-finite numbers, class instances) is left to it.
 */
function sameJsonText(a: unknown, b: unknown): boolean {
  const same = compareJson(a, b);
  return same === undefined ? JSON.stringify(a) === JSON.stringify(b) : same;
}

/** How JSON.stringify writes a value: as a primitive, an array, an object, or (undefined) specially. */
function jsonKind(v: unknown): 'primitive' | 'array' | 'object' | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return 'primitive';
  if (typeof v === 'number') return Number.isFinite(v) ? 'primitive' : undefined;
  if (typeof v !== 'object' || typeof (v as { toJSON?: unknown }).toJSON === 'function') return undefined;
  const proto: unknown = Object.getPrototypeOf(v);
  if (Array.isArray(v)) return proto === Array.prototype ? 'array' : undefined;
  return proto === Object.prototype || proto === null ? 'object' : undefined;
}

/** true or false when plainly decidable, undefined when only JSON.stringify can tell. */
function compareJson(a: unknown, b: unknown): boolean | undefined {
  const kind = jsonKind(a);
  const other = jsonKind(b);
  if (kind === undefined || other === undefined) return undefined;
  // A primitive, `[…]` and `{…}` never write the same text.
  if (kind !== other) return false;
  if (kind === 'primitive') return a === b;
  if (kind === 'array') {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      const same = compareJson(x[i], y[i]);
      if (same !== true) return same;
    }
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const xk = Object.keys(x);
  const yk = Object.keys(y);
  if (xk.length !== yk.length) return undefined;
  for (let i = 0; i < xk.length; i++) {
    const same = xk[i] === yk[i] ? compareJson(x[xk[i]!], y[yk[i]!]) : jsonKind(x[xk[i]!]) && jsonKind(y[yk[i]!]) ? false : undefined;
    if (same !== true) return same;
  }
  return true;
}

function managedFields(obj: AdmissionRequest['object']): ManagedFieldsEntry[] {
  const mf = obj?.metadata?.managedFields;
  return Array.isArray(mf) ? mf : [];
}

/**
 * The writer of this request when the client sent no fieldManager (kubectl scale, rollout undo,
 * controllers): the apiserver has already added or refreshed the writer's managedFields entry before
 * admission, named after the User-Agent prefix. The newest entry that is new or changed wins.
 */
export function inferFieldManager(request: AdmissionRequest): string | undefined {
  const now = managedFields(request.object);
  if (!now.length) return undefined;
  let before: Map<string, ManagedFieldsEntry> | undefined;
  const changed = (e: ManagedFieldsEntry): boolean => {
    before ??= new Map(managedFields(request.oldObject).map((o) => [entryKey(o), o]));
    const prev = before.get(entryKey(e));
    return !prev || prev.time !== e.time || !sameJsonText(prev.fieldsV1, e.fieldsV1);
  };
  // One pass, newest wins (a later entry on a tie). Whether an entry changed is asked only of an entry
  // that would be the newest so far: the writer's refreshed entry usually comes first, and the other
  // managers' fieldsV1 trees, the bulk of an UPDATE's metadata, are then never compared.
  let best: ManagedFieldsEntry | undefined;
  for (const e of now) if ((!best || (e.time ?? '') >= (best.time ?? '')) && changed(e)) best = e;
  if (best || request.operation !== 'CREATE') return best?.manager;
  // A CREATE whose entries all match an old object's (a CREATE has none, so only a hand-made request): the newest of all.
  for (const e of now) if (!best || (e.time ?? '') >= (best.time ?? '')) best = e;
  return best?.manager;
}

/** The field manager the request reports, else the one managedFields reveal. */
export function fieldManagerOf(request: AdmissionRequest): string | undefined {
  const fm = request.options?.fieldManager;
  return typeof fm === 'string' && fm !== '' ? fm : inferFieldManager(request);
}

/** Builds the engine's view of the request. */
export function requestContext(request: AdmissionRequest, tenant: string | undefined): RequestContext {
  const fieldManager = fieldManagerOf(request);
  return {
    operation: request.operation,
    namespace: request.namespace ?? request.object?.metadata?.namespace ?? '',
    ...(tenant !== undefined ? { tenant } : {}),
    username: request.userInfo.username ?? '',
    groups: request.userInfo.groups ?? [],
    ...(fieldManager !== undefined ? { fieldManager } : {}),
    ...(request.subResource ? { subResource: request.subResource } : {}),
    dryRun: request.dryRun === true,
  };
}
