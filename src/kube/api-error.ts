/**
 * What a failed Kubernetes API call means, in one place: its HTTP status (also when wrapped as a
 * `cause`), the apiserver's own words (`Status.message`), and the one-line KUBE_API error every command
 * and the recorder report — never a stack or a raw response body.
 */
import { TracegateError, type ErrorCode } from '../errors.js';
import { isRecord } from '../k8s/types.js';

// Errors are wrapped (drivers keep the ApiException as `cause`): look a few levels down.
const MAX_CAUSE_DEPTH = 5;
/** A Status message is a sentence or two; anything longer is cut so a hostile server cannot flood a log. */
const MAX_REASON_CHARS = 300;

/** The error and its causes, outermost first. */
export function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && out.length < MAX_CAUSE_DEPTH; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

/**
 * The HTTP status of a client-node ApiException (or anything with a numeric `code`/`statusCode`),
 * also when it is the `cause` of a wrapping error.
 */
export function statusOf(err: unknown): number | undefined {
  for (const e of causes(err)) {
    const x = e as { code?: unknown; statusCode?: unknown };
    if (typeof x.code === 'number') return x.code;
    if (typeof x.statusCode === 'number') return x.statusCode;
  }
  return undefined;
}

/** The apiserver's own words (`Status.message`) when the body has them, else the error's first line. */
export function reasonOf(err: unknown): string {
  let body: unknown = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // not JSON: fall through to the error message
    }
  }
  const text = isRecord(body) && typeof body.message === 'string' ? body.message : err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
  return text.length <= MAX_REASON_CHARS ? text : `${text.slice(0, MAX_REASON_CHARS - 1)}…`;
}

/**
 * `op what failed (HTTP n): reason` as a TracegateError (KUBE_API unless `code` says otherwise), the
 * original error kept as `cause` for retries that look at its status and Retry-After.
 */
export function kubeApiError(op: string, what: string, err: unknown, code: ErrorCode = 'KUBE_API'): TracegateError {
  const status = statusOf(err);
  const http = status === undefined ? '' : ` (HTTP ${status})`;
  return new TracegateError(code, `${op} ${what} failed${http}: ${reasonOf(err)}`, { op, what, ...(status !== undefined ? { status } : {}) }, { cause: err });
}
