/**
 * The test Kubernetes API server: HTTP or HTTPS on 127.0.0.1, bearer-token users, discovery, the
 * REST verbs and watches over an in-memory store, an admission hook for Deployments, a simulated
 * Deployment controller, fault injection and a request log.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueCa, issueServingCert } from '../../../src/certs/index.js';
import { makeKubeconfig } from '../tools.js';
import { createAuthenticator, splitPathToken } from './auth.js';
import type { HandlerDeps, HandlerResult, RequestContext } from './context.js';
import { startDeploymentController } from './controller.js';
import { coreVersions, group, groupList, openApiV3Document, openApiV3Index, resourceList, versionInfo } from './discovery.js';
import { createFaultRegistry } from './faults.js';
import type { Faults, InjectedError } from './faults.js';
import { mediaType, readBody, sendError, sendJson, sendText } from './http-io.js';
import { handleDelete } from './rest-delete.js';
import { handleGet, handleList } from './rest-read.js';
import { handleCreate, handlePatch, handleUpdate } from './rest-write.js';
import { route } from './router.js';
import type { Route } from './router.js';
import { ApiError, reasonForCode } from './status.js';
import { createObjectStore, createTestStore } from './store.js';
import type { TestStore } from './store.js';
import type { AdmissionHook, JsonObject, RequestLogEntry, UserInfo } from './types.js';
import { createWatchRegistry, isWatch, serveWatch } from './watch.js';

/** A running test API server. */
export interface TestApiServer {
  /** `http://127.0.0.1:<port>` or `https://…`. */
  url: string;
  /** The CA that signed the HTTPS serving certificate (PEM); `undefined` over HTTP. */
  caPem: string | undefined;
  /**
   * Writes `<dir>/kubeconfig` for this server with a token the server maps to `user` (default
   * `admin`, groups `system:masters`) and returns its path. Over HTTPS it trusts the server's CA.
   */
  kubeconfig(dir: string, opts?: { user?: string; groups?: string[]; namespace?: string }): Promise<string>;
  /** A bearer token for `user` (for direct HTTP calls). */
  token(user?: string, groups?: string[]): string;
  store: TestStore;
  faults: Faults;
  /** Every finished request, in order. */
  requests: RequestLogEntry[];
  /** Sets (or with `undefined` removes) the admission hook for Deployment writes. */
  setAdmission(hook: AdmissionHook | undefined): void;
  /** Sends a BOOKMARK to every open watch that allows bookmarks; returns how many. */
  sendBookmarks(): number;
  close(): Promise<void>;
}

/** Options of {@link startTestApiServer}. */
export interface TestApiServerOptions {
  /** Serve HTTPS with a fresh self-signed CA (default: plain HTTP). */
  https?: boolean;
  /** Run the simulated Deployment controller (default true). */
  controller?: boolean;
  /** The clock for timestamps (default: real time). */
  now?: () => Date;
}

const DEFAULT_USER = 'admin';
const DEFAULT_GROUPS = ['system:masters'];
/** The built-in namespaces of a fresh cluster. */
const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
/** Paths served without authentication, as `system:public-info-viewer` allows. */
const PUBLIC_ROUTES = new Set<Route['type']>(['version', 'health']);

function queryRecord(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of query) out[k] = k in out ? `${out[k]},${v}` : v;
  return out;
}

function discovery(r: Route, serverAddress: string): JsonObject | undefined {
  switch (r.type) {
    case 'version':
      return versionInfo();
    case 'coreVersions':
      return coreVersions(serverAddress);
    case 'groupList':
      return groupList();
    case 'group':
      return group(r.group);
    case 'resourceList':
      return resourceList(r.group, r.version);
    case 'openapiV3Index':
      return openApiV3Index();
    case 'openapiV3':
      return openApiV3Document(r.path);
    default:
      return undefined;
  }
}

/** The Status an injected fault answers with; 429 gets `Retry-After: 1` unless told otherwise. */
function faultError(fault: InjectedError): ApiError {
  const headers: Record<string, string> = {};
  const retryAfter = fault.retryAfterSeconds ?? (fault.status === 429 ? 1 : undefined);
  if (retryAfter !== undefined) headers['Retry-After'] = String(retryAfter);
  const details = retryAfter === undefined ? undefined : { retryAfterSeconds: retryAfter };
  const message = fault.message ?? (fault.status === 429 ? 'the server has received too many requests and has asked us to try again later' : 'injected fault');
  return new ApiError(fault.status, reasonForCode(fault.status), message, details, headers);
}

async function dispatch(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  const { method, route: r } = ctx;
  if (method === 'GET') return r.name === undefined ? handleList(ctx, deps) : handleGet(ctx, deps);
  if (method === 'POST') return handleCreate(ctx, deps);
  if (method === 'PUT') return handleUpdate(ctx, deps);
  if (method === 'PATCH') return handlePatch(ctx, deps);
  if (method === 'DELETE') return handleDelete(ctx, deps);
  throw new ApiError(405, 'MethodNotAllowed', `method ${method} is not allowed`);
}

/** Starts a server on 127.0.0.1 with a random port. */
export async function startTestApiServer(opts: TestApiServerOptions = {}): Promise<TestApiServer> {
  const now = opts.now ?? (() => new Date());
  const store = createObjectStore();
  const testStore = createTestStore(store, now);
  for (const name of INITIAL_NAMESPACES) {
    testStore.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const auth = createAuthenticator();
  const watches = createWatchRegistry();
  const registry = createFaultRegistry({ dropWatches: (abrupt) => watches.dropAll(abrupt), compact: (below) => store.compact(below) });
  const requests: RequestLogEntry[] = [];
  let hook: AdmissionHook | undefined;
  const deps: HandlerDeps = { store, hook: () => hook, now };
  const stopController = opts.controller === false ? () => {} : startDeploymentController({ store, now });
  let serverAddress = '127.0.0.1:0';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = new URL(req.url ?? '/', 'http://localhost');
    const { token: pathToken, path } = splitPathToken(rawUrl.pathname);
    const url = new URL(`${path}${rawUrl.search}`, 'http://localhost');
    const target = `${url.pathname}${url.search}`;
    const entry: RequestLogEntry = {
      method,
      path: url.pathname,
      query: queryRecord(url.searchParams),
      contentType: req.headers['content-type'] ?? '',
      accept: req.headers['accept'] ?? '',
      userAgent: req.headers['user-agent'] ?? '',
      user: '',
      status: 0,
    };
    res.on('close', () => {
      entry.status = res.statusCode;
      requests.push(entry);
    });
    const warnings: string[] = [];
    try {
      const delay = registry.takeDelay(method, target);
      if (delay > 0) await new Promise((ok) => setTimeout(ok, delay));
      const r = route(url.pathname);
      let user: UserInfo | undefined;
      if (!PUBLIC_ROUTES.has(r.type)) {
        const who = auth.authenticate(req.headers, pathToken);
        if (who === 'forbidden-impersonation') throw new ApiError(403, 'Forbidden', 'impersonation is only allowed for system:masters');
        if (who === undefined) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
        user = who;
        entry.user = who.username;
      }
      const injected = registry.takeError(method, target);
      if (injected !== undefined) throw faultError(injected);
      if (r.type === 'health') {
        sendText(res, 200, 'ok');
        return;
      }
      if (r.type !== 'resource') {
        const doc = method === 'GET' ? discovery(r, serverAddress) : undefined;
        if (doc === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        sendJson(res, 200, doc);
        return;
      }
      if (user === undefined) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      const body = method === 'GET' ? Buffer.alloc(0) : await readBody(req);
      const ctx: RequestContext = {
        method,
        route: r,
        query: url.searchParams,
        user,
        userAgent: req.headers['user-agent'] ?? '',
        accept: req.headers['accept'] ?? '',
        contentType: mediaType(req.headers['content-type']),
        body,
        warnings,
      };
      try {
        if (method === 'GET' && isWatch(ctx)) {
          serveWatch(ctx, res, deps, watches);
          return;
        }
        const result = await dispatch(ctx, deps);
        sendJson(res, result.status, result.body, warnings);
      } finally {
        if (ctx.decodedBody !== undefined) entry.body = ctx.decodedBody;
      }
    } catch (err) {
      if (err instanceof ApiError) sendError(res, err, warnings);
      else sendError(res, new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).stack ?? String(err)}`), warnings);
    }
  }

  let server: Server;
  let caPem: string | undefined;
  if (opts.https) {
    const ca = issueCa({ commonName: 'tracegate-test-apiserver-ca' });
    const serving = issueServingCert({ ca, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    caPem = ca.certPem;
    server = createHttpsServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => void handle(req, res));
  } else {
    server = createHttpServer((req, res) => void handle(req, res));
  }
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  serverAddress = `127.0.0.1:${port}`;
  const url = `${opts.https ? 'https' : 'http'}://${serverAddress}`;

  return {
    url,
    caPem,
    async kubeconfig(dir, kOpts = {}) {
      const token = auth.tokenFor(kOpts.user ?? DEFAULT_USER, kOpts.groups ?? (kOpts.user === undefined ? DEFAULT_GROUPS : []));
      const options: Parameters<typeof makeKubeconfig>[2] = { token };
      if (caPem !== undefined) options.caData = caPem;
      // client-node refuses plain-HTTP clusters unless insecure-skip-tls-verify is set; kubectl and helm ignore it.
      else options.insecure = true;
      if (kOpts.namespace !== undefined) options.namespace = kOpts.namespace;
      // Over plain HTTP client-go drops bearer tokens, so the identity rides in the server URL too.
      return makeKubeconfig(dir, caPem === undefined ? `${url}/u/${token}` : url, options);
    },
    token: (user = DEFAULT_USER, groups = user === DEFAULT_USER ? DEFAULT_GROUPS : []) => auth.tokenFor(user, groups),
    store: testStore,
    faults: registry.faults,
    requests,
    setAdmission(h) {
      hook = h;
    },
    sendBookmarks: () => watches.bookmarkAll(),
    async close() {
      stopController();
      watches.dropAll(true);
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
