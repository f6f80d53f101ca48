/** From an AdmissionRequest to the engine's RequestContext: who, with which tool, in which tenant. Pure. */
import type { ManagedFieldsEntry } from '../k8s/types.js';
import type { RequestContext } from '../policy/types.js';
import type { AdmissionRequest } from './types.js';

function entryKey(e: ManagedFieldsEntry): string {
  return `${e.manager ?? ''}\u0000${e.operation ?? ''}\u0000${e.subresource ?? ''}`;
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
  const before = new Map(managedFields(request.oldObject).map((e) => [entryKey(e), e]));
  const changed = now.filter((e) => {
    const prev = before.get(entryKey(e));
    return !prev || prev.time !== e.time || JSON.stringify(prev.fieldsV1) !== JSON.stringify(e.fieldsV1);
  });
  const candidates = changed.length ? changed : request.operation === 'CREATE' ? now : [];
  let best: ManagedFieldsEntry | undefined;
  for (const e of candidates) if (!best || (e.time ?? '') >= (best.time ?? '')) best = e;
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
