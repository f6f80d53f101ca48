/**
 * What the REST handlers get per request and share across requests.
 */
import type { TokenIdentity } from './auth.js';
import type { ResourceRegistry } from './crd-registry.js';
import type { Authorizer } from './rbac-authorizer.js';
import type { ResourceRoute } from './router.js';
import type { ObjectStore } from './store.js';
import type { AdmissionHook, ObjectCheck, UserInfo } from './types.js';

/** One parsed, authenticated resource request. */
export interface RequestContext {
  method: string;
  route: ResourceRoute;
  query: URLSearchParams;
  user: UserInfo;
  userAgent: string;
  /** The `Accept` header (Table requests). */
  accept: string;
  /** Media type of the body without parameters (`application/merge-patch+json`). */
  contentType: string;
  body: Buffer;
  /** Collected `Warning`s for the response. */
  warnings: string[];
  /** Set by handlers that decode a body, for the request log. */
  decodedBody?: unknown;
}

/** Authentication and authorization, for the review APIs and RBAC's checks on role and binding writes. */
export interface SecurityDeps {
  authorizer: Authorizer;
  /** A TokenReview's view of a token (`undefined`: not authenticated). */
  reviewToken(token: string, audiences: readonly string[]): TokenIdentity | undefined;
}

/** Shared server state the handlers use. */
export interface HandlerDeps {
  store: ObjectStore;
  /** What is served: the built-in resources and those of established CRDs. */
  resources: ResourceRegistry;
  hook: () => AdmissionHook | undefined;
  /** The extra validation a test set with `setObjectCheck`, if any. */
  objectCheck?: () => ObjectCheck | undefined;
  now: () => Date;
  /** Absent for handlers that run without a server (none answer reviews then, and nothing is guarded). */
  security?: SecurityDeps;
}

/** A non-streaming handler's answer. */
export interface HandlerResult {
  status: number;
  body: unknown;
}

/**
 * The field manager of a write: `?fieldManager=`, else the User-Agent up to its first `/`
 * (`kubectl/v1.35.2 (linux/amd64) …` → `kubectl`), as `managerOrUserAgent` in the apiserver.
 */
export function managerOf(ctx: RequestContext): string {
  const explicit = ctx.query.get('fieldManager');
  if (explicit !== null && explicit !== '') return explicit;
  const prefix = ctx.userAgent.split('/')[0] ?? '';
  return prefix === '' ? 'unknown' : prefix;
}
