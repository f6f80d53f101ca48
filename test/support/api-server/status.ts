/**
 * Kubernetes `Status` errors exactly as clients parse them: kubectl prints
 * `Error from server (<reason>): <message>`, helm and client-go branch on `reason` and `code`.
 */
import type { JsonObject } from './types.js';

/** An error that becomes a `Status` response with the given HTTP code. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: JsonObject | undefined;
  /** Extra response headers, e.g. `Retry-After` on 429. */
  readonly headers: Record<string, string>;

  constructor(code: number, reason: string, message: string, details?: JsonObject, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.details = details;
    this.headers = headers;
  }

  /** The `Status` body (`kind: Status`, `status: Failure`). */
  toStatus(): JsonObject {
    const status: JsonObject = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details !== undefined) status['details'] = this.details;
    return status;
  }
}

/** The reason the apiserver uses for a bare HTTP code (admission denials carry only a code). */
export function reasonForCode(code: number): string {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    406: 'NotAcceptable',
    409: 'Conflict',
    410: 'Expired',
    413: 'RequestEntityTooLarge',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return reasons[code] ?? '';
}

/** `<resource>.<group>` as Status messages name a resource (`deployments.apps`, `secrets`). */
export function qualifiedResource(resource: string, group: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

/** 404 `<resource> "<name>" not found`. */
export function notFound(resource: string, group: string, name: string): ApiError {
  const qualified = qualifiedResource(resource, group);
  return new ApiError(404, 'NotFound', `${qualified} "${name}" not found`, { name, group, kind: resource });
}

/** 409 AlreadyExists, which helm turns into "release exists". */
export function alreadyExists(resource: string, group: string, name: string): ApiError {
  const qualified = qualifiedResource(resource, group);
  return new ApiError(409, 'AlreadyExists', `${qualified} "${name}" already exists`, { name, group, kind: resource });
}

/** 409 Conflict on a stale resourceVersion (optimistic concurrency). */
export function conflict(resource: string, group: string, name: string): ApiError {
  const qualified = qualifiedResource(resource, group);
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group, kind: resource },
  );
}

/** The `field.ErrorType` of a field error, from the wording `ErrorBody()` starts with. */
function causeReason(message: string): string {
  const reasons: [string, string][] = [
    ['Required value', 'FieldValueRequired'],
    ['Unsupported value', 'FieldValueNotSupported'],
    ['Too long', 'FieldValueTooLong'],
    ['Too many', 'FieldValueTooMany'],
    ['Forbidden', 'FieldValueForbidden'],
    ['Duplicate value', 'FieldValueDuplicate'],
    ['Not found', 'FieldValueNotFound'],
  ];
  return reasons.find(([prefix]) => message.startsWith(prefix))?.[1] ?? 'FieldValueInvalid';
}

/** 422 Invalid with the apiserver's `<Kind>.<group> "<name>" is invalid: <field>: <detail>` wording. */
export function invalid(kind: string, group: string, name: string, causes: { field: string; message: string }[]): ApiError {
  const qualified = group === '' ? kind : `${kind}.${group}`;
  const text = causes.map((c) => `${c.field}: ${c.message}`);
  const message = `${qualified} "${name}" is invalid: ${text.length === 1 ? text[0] : `[${text.join(', ')}]`}`;
  const details = { name, group, kind, causes: causes.map((c) => ({ reason: causeReason(c.message), message: c.message, field: c.field })) };
  return new ApiError(422, 'Invalid', message, details);
}

/** 400 BadRequest. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

/** 410 Expired: the watch's resourceVersion is older than what the server keeps. */
export function expired(requested: string, oldest: number): ApiError {
  return new ApiError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

/**
 * 409 Conflict of a server-side apply, worded as `NewConflictError` / `getConflictMessage`
 * (k8s.io/apiserver fieldmanager/internal/conflict.go) words it; helm wraps this text into
 * `conflict occurred while applying object …`. `conflicts` come sorted by manager identifier, then
 * path; `manager` is the printed manager (`"kubectl-set" using apps/v1`, `"helm"` for an applier).
 */
export function applyConflict(conflicts: { managerId: string; manager: string; field: string }[]): ApiError {
  const n = conflicts.length;
  const first = conflicts[0];
  let message: string;
  if (n === 1 && first !== undefined) {
    message = `Apply failed with 1 conflict: conflict with ${first.manager}: ${first.field}`;
  } else {
    const lines: string[] = [];
    for (const id of [...new Set(conflicts.map((c) => c.managerId))]) {
      const own = conflicts.filter((c) => c.managerId === id);
      lines.push(`conflicts with ${own[0]?.manager ?? ''}:`, ...own.map((c) => `- ${c.field}`));
    }
    message = `Apply failed with ${n} conflicts: ${lines.join('\n')}`;
  }
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.manager}`, field: c.field }));
  return new ApiError(409, 'Conflict', message, { causes });
}
