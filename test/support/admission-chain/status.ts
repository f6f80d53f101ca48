/**
 * The Status errors the apiserver's admission chain ends a request with, worded as
 * `k8s.io/apimachinery/pkg/api/errors` and the webhook `ToStatusErr` word them.
 */

/** A request-ending error: the API server turns it into a `Status` with this code and reason. */
export interface ChainError {
  code: number;
  /** `''` when the webhook's Status had none (kubectl then prints `Error from server: …`). */
  reason: string;
  message: string;
  /** `StatusDetails` (name, group, kind, causes): kubectl words a 422 Invalid from them. */
  details?: Record<string, unknown>;
}

/** Admission denials below 400 are raised to 400 (statuserror.go). */
const MIN_DENIAL_CODE = 400;

/** `apierrors.NewInternalError(err)`: 500 `Internal error occurred: <err>`. */
export function internalError(message: string): ChainError {
  return { code: 500, reason: 'InternalError', message: `Internal error occurred: ${message}` };
}

/** `apierrors.NewBadRequest(message)`. */
export function badRequest(message: string): ChainError {
  return { code: 400, reason: 'BadRequest', message };
}

/** The 404 the namespace matcher returns when the request's namespace does not exist. */
export function namespaceNotFound(namespace: string): ChainError {
  return { code: 404, reason: 'NotFound', message: `namespaces "${namespace}" not found` };
}

/**
 * `apierrors.NewForbidden(groupResource, name, err)`: 403 `<resource>[.<group>] ["<name>"] is forbidden: <err>`.
 */
export function forbidden(resource: { group: string; resource: string }, name: string, message: string): ChainError {
  const qualified = resource.group === '' ? resource.resource : `${resource.resource}.${resource.group}`;
  return { code: 403, reason: 'Forbidden', message: `${qualified}${name === '' ? '' : ` ${JSON.stringify(name)}`} is forbidden: ${message}` };
}

/** `apierrors.NewTimeoutError(message, 0)`: 504 `Timeout: <message>`. */
export function timeoutError(message: string): ChainError {
  return { code: 504, reason: 'Timeout', message: `Timeout: ${message}` };
}

/**
 * `webhookerrors.ToStatusErr`: a webhook's denial as the user sees it. The message is prefixed with
 * `admission webhook "<name>" denied the request`, falling back to the reason, then to "without
 * explanation"; codes below 400 (or none) become 400; the reason is kept as the webhook sent it.
 */
export function denial(webhook: string, status: unknown): ChainError {
  const s = typeof status === 'object' && status !== null ? (status as Record<string, unknown>) : {};
  const rawCode = typeof s['code'] === 'number' ? s['code'] : 0;
  const message = typeof s['message'] === 'string' ? s['message'] : '';
  const reason = typeof s['reason'] === 'string' ? s['reason'] : '';
  const deniedBy = `admission webhook "${webhook}" denied the request`;
  const text = message !== '' ? `${deniedBy}: ${message}` : reason !== '' ? `${deniedBy}: ${reason}` : `${deniedBy} without explanation`;
  return { code: rawCode < MIN_DENIAL_CODE ? MIN_DENIAL_CODE : rawCode, reason, message: text };
}
