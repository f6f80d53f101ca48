/**
 * An in-process client for the controller stand-ins: requests go through the same routing, verb
 * handlers and write pipeline as HTTP requests (admission hook included) and are appended to the
 * request log like any other, so a test sees what a controller wrote and how the server answered.
 */
import type { HandlerDeps, RequestContext } from './context.js';
import { SERVER_VERSION } from './discovery.js';
import { dispatch } from './dispatch.js';
import { route } from './router.js';
import { ApiError } from './status.js';
import type { JsonObject, RequestLogEntry, UserInfo } from './types.js';

/** What a controller's request came back with: the status code and the object or Status. */
export interface InternalResponse {
  status: number;
  body: JsonObject;
}

/** Sends requests as a controller would. */
export interface InternalClient {
  request(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'GET', path: string, body?: unknown, contentType?: string): Promise<InternalResponse>;
}

/** Groups of every kube-system service account (`serviceaccount.MakeGroupNames` + authenticated). */
const SERVICE_ACCOUNT_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'];

/** The identity kube-controller-manager's `<controller>` uses with `--use-service-account-credentials`. */
export function controllerUser(controller: string): UserInfo {
  return { username: `system:serviceaccount:kube-system:${controller}`, groups: [...SERVICE_ACCOUNT_GROUPS] };
}

/** A client acting as `user`, with kube-controller-manager's User-Agent (so managedFields name it). */
export function createInternalClient(deps: HandlerDeps, log: RequestLogEntry[], user: UserInfo): InternalClient {
  const userAgent = `kube-controller-manager/${SERVER_VERSION.gitVersion} (linux/amd64) kubernetes/0000000/${user.username}`;
  return {
    async request(method, path, body, contentType = 'application/json') {
      const url = new URL(path, 'http://localhost');
      const r = route(url.pathname, deps.resources.find);
      const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body), 'utf8');
      const entry: RequestLogEntry = {
        method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: body === undefined ? '' : contentType,
        accept: 'application/json',
        userAgent,
        user: user.username,
        status: 0,
      };
      if (body !== undefined) entry.body = body;
      try {
        if (r.type !== 'resource') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        const ctx: RequestContext = { method, route: r, query: url.searchParams, user, userAgent, accept: 'application/json', contentType, body: payload, warnings: [] };
        const result = await dispatch(ctx, deps);
        entry.status = result.status;
        return { status: result.status, body: result.body as JsonObject };
      } catch (err) {
        const apiErr = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
        entry.status = apiErr.code;
        return { status: apiErr.code, body: apiErr.toStatus() };
      } finally {
        log.push(entry);
      }
    },
  };
}
