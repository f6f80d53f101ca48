/**
 * Calls the admission hook for a write and turns its answer into what the apiserver does: the
 * returned object is stored, a denial becomes a Status error with the hook's code and message, and
 * warnings (allowed or denied) become `Warning` headers.
 */
import type { ResourceInfo } from './resources.js';
import { ApiError, reasonForCode } from './status.js';
import type { AdmissionHook, AdmissionHookRequest, AdmissionOptions, GroupVersionKind, JsonObject, UserInfo } from './types.js';

/** Everything about a write the hook needs besides the objects. */
export interface AdmissionCall {
  operation: AdmissionHookRequest['operation'];
  info: ResourceInfo;
  subresource: string | undefined;
  /** The kind of `object`/`oldObject` (`autoscaling/v1 Scale` for `/scale`). */
  kind: GroupVersionKind;
  namespace: string;
  name: string;
  object: JsonObject | null;
  oldObject: JsonObject | null;
  user: UserInfo;
  dryRun: boolean;
  options: AdmissionOptions | null;
}

/** A denial below 400 is forced to 400, as the apiserver does with webhook Status codes. */
const MIN_ERROR_CODE = 400;

/**
 * Runs the hook if one is set and the resource is admitted. Resolves to the object to store
 * (`call.object` when no hook applies); rejects with an {@link ApiError} on denial or hook failure.
 * Warnings are appended to `warnings` either way.
 */
export async function runAdmission(hook: AdmissionHook | undefined, call: AdmissionCall, warnings: string[]): Promise<JsonObject | null> {
  if (hook === undefined || !call.info.admitted) return call.object;
  const request: AdmissionHookRequest = {
    operation: call.operation,
    kind: call.kind,
    resource: { group: call.info.group, version: call.info.version, resource: call.info.resource },
    namespace: call.namespace,
    name: call.name,
    object: call.object === null ? null : structuredClone(call.object),
    oldObject: call.oldObject === null ? null : structuredClone(call.oldObject),
    userInfo: { username: call.user.username, groups: [...call.user.groups] },
    dryRun: call.dryRun,
    options: call.options,
  };
  if (call.subresource !== undefined) request.subResource = call.subresource;
  let result: Awaited<ReturnType<AdmissionHook>>;
  try {
    result = await hook(request);
  } catch (err) {
    throw new ApiError(500, 'InternalError', `Internal error occurred: admission hook failed: ${(err as Error).message}`);
  }
  warnings.push(...(result.warnings ?? []));
  if (!result.allowed) {
    const code = result.status.code >= MIN_ERROR_CODE ? result.status.code : MIN_ERROR_CODE;
    // `details` (kind, name, causes) is what kubectl prints a 422 Invalid from (a ValidatingAdmissionPolicy denial).
    throw new ApiError(code, result.status.reason ?? reasonForCode(code), result.status.message, result.status.details);
  }
  if (call.object === null) return null;
  const returned: unknown = result.object;
  if (typeof returned !== 'object' || returned === null || Array.isArray(returned)) {
    throw new ApiError(500, 'InternalError', 'Internal error occurred: admission hook allowed the request but returned no object');
  }
  return structuredClone(returned as JsonObject);
}
