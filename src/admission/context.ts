/** From an AdmissionRequest to the engine's RequestContext: who, with which tool, in which tenant. Pure. */
import { isRecord, type ManagedFieldsEntry } from '../k8s/types.js';
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

/** Stands in a comparison stack for a key-name mismatch already judged: its verdict waits in the other stack. */
const VERDICT = Symbol('verdict');

/**
 * true or false when plainly decidable, undefined when only JSON.stringify can tell. Depth-first with an
 * explicit stack (no input depth can overflow the call stack), in the order a recursive walk would take,
 * so the first pair that is not plainly equal decides, exactly as it did.
 */
function compareJson(a: unknown, b: unknown): boolean | undefined {
  const left: unknown[] = [a];
  const right: unknown[] = [b];
  while (left.length > 0) {
    const x = left.pop();
    const y = right.pop();
    if (x === VERDICT) return y as boolean | undefined;
    const kind = jsonKind(x);
    const other = jsonKind(y);
    if (kind === undefined || other === undefined) return undefined;
    // A primitive, `[…]` and `{…}` never write the same text.
    if (kind !== other) return false;
    if (kind === 'primitive') {
      if (x !== y) return false;
      continue;
    }
    if (kind === 'array') {
      const xa = x as unknown[];
      const ya = y as unknown[];
      if (xa.length !== ya.length) return false;
      // Pushed last to first, so the first element is compared first.
      for (let i = xa.length - 1; i >= 0; i--) left.push(xa[i]), right.push(ya[i]);
      continue;
    }
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    const xk = Object.keys(xo);
    const yk = Object.keys(yo);
    if (xk.length !== yk.length) return undefined;
    for (let i = xk.length - 1; i >= 0; i--) {
      const xv = xo[xk[i]!];
      const yv = yo[yk[i]!];
      if (xk[i] === yk[i]) left.push(xv), right.push(yv);
      else left.push(VERDICT), right.push(jsonKind(xv) && jsonKind(yv) ? false : undefined);
    }
  }
  return true;
}

function managedFields(obj: AdmissionRequest['object']): ManagedFieldsEntry[] {
  const mf = obj?.metadata?.managedFields;
  // parseReview admits only arrays of objects; the filter keeps this function safe on its own.
  if (!Array.isArray(mf)) return [];
  return mf.every(isRecord) ? (mf as ManagedFieldsEntry[]) : mf.filter((e): e is ManagedFieldsEntry => isRecord(e));
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
