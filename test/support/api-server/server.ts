/**
 * The test Kubernetes API server: HTTP or HTTPS on 127.0.0.1, bearer-token users, discovery, the
 * REST verbs and watches over an in-memory store, CRDs and their custom resources, an admission hook
 * for the pod-bearing kinds and custom resources,
 * controller stand-ins (and, with `pods: true`, controller-created Pods and a one-node kubelet),
 * fault injection and a request log.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueCa, issueServingCert } from '../../../src/certs/index.js';
import { makeKubeconfig } from '../tools.js';
import { createApf, requestDigest, sendApfRejection, setApfHeaders } from './apf.js';
import { ANONYMOUS_USER, DEFAULT_API_AUDIENCES, createAuthenticator, splitPathToken } from './auth.js';
import { forbiddenRequest, requestAttributes } from './authz-attributes.js';
import type { HandlerDeps, RequestContext } from './context.js';
import { startDeploymentController } from './controller.js';
import { startCrdController } from './crd-controller.js';
import { createResourceRegistry } from './crd-registry.js';
import type { ResourceRegistry } from './crd-registry.js';
import { controllerUser, createInternalClient } from './internal-client.js';
import { startKubelet } from './kubelet.js';
import { coreVersions, group, groupList, openApiV3Document, openApiV3Index, resourceList, versionInfo } from './discovery.js';
import { createFaultRegistry } from './faults.js';
import { impersonate } from './impersonation.js';
import type { Faults, InjectedError } from './faults.js';
import { mediaType, readBody, sendError, sendJson, sendText } from './http-io.js';
import { dispatch } from './dispatch.js';
import { route } from './router.js';
import type { Route } from './router.js';
import { startClusterRoleAggregation } from './rbac-aggregation.js';
import { createAuthorizer } from './rbac-authorizer.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from './rbac-bootstrap.js';
import { ApiError, reasonForCode } from './status.js';
import { createObjectStore, createTestStore } from './store.js';
import type { TestStore } from './store.js';
import type { AdmissionHook, JsonObject, ObjectCheck, RequestLogEntry, UserInfo } from './types.js';
import { createWatchRegistry, isWatch, serveWatch } from './watch.js';
import { startWorkloadControllers } from './workload-controller.js';

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
  /**
   * A bearer token for `user` (for direct HTTP calls). With `audiences` the token is bound to them, like a
   * projected ServiceAccount token: a TokenReview for those audiences accepts it, the API itself only if
   * they include an API audience.
   */
  token(user?: string, groups?: string[], audiences?: string[]): string;
  store: TestStore;
  faults: Faults;
  /** Every finished request, in order. */
  requests: RequestLogEntry[];
  /** Sets (or with `undefined` removes) the admission hook for writes of the pod-bearing kinds and custom resources. */
  setAdmission(hook: AdmissionHook | undefined): void;
  /**
   * Sets (or with `undefined` removes) an extra validation of built-in writes, after the server's own:
   * its field errors are a 422 (the admission chain's dynamic mode checks stored webhook configurations
   * and admission policies with it, as the apiserver validates their CEL on write).
   */
  setObjectCheck(check: ObjectCheck | undefined): void;
  /** Sends a BOOKMARK to every open watch that allows bookmarks; returns how many. */
  sendBookmarks(): number;
  close(): Promise<void>;
}

/** Options of {@link startTestApiServer}. */
export interface TestApiServerOptions {
  /** Serve HTTPS with a fresh self-signed CA (default: plain HTTP). */
  https?: boolean;
  /** Run the controller stand-ins (Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job; default true). */
  controller?: boolean;
  /**
   * Controllers create and delete real Pods through the admission hook, and a one-node kubelet
   * ({@link TEST_NODE_NAME}) binds and runs every Pod (default false: statuses report the pods a
   * controller would have as ready, and Pods stay Pending).
   */
  pods?: boolean;
  /** The clock for timestamps (default: real time). */
  now?: () => Date;
  /**
   * `'rbac'`: authorize every request as kube-apiserver with `--authorization-mode=RBAC` does (the
   * bootstrap roles and bindings, ClusterRole aggregation, escalation checks on RBAC writes,
   * impersonation by permission). Default: every authenticated request is allowed (AlwaysAllow), and
   * only `system:masters` may impersonate.
   */
  authorization?: 'rbac';
  /** The API audiences tokens are checked against (default: kubeadm's issuer, `https://kubernetes.default.svc.cluster.local`). */
  apiAudiences?: string[];
}

/** The node the kubelet stand-in runs pods on (with `pods: true`). */
export const TEST_NODE_NAME = 'tracegate-node-1';
const DEFAULT_USER = 'admin';
const DEFAULT_GROUPS = ['system:masters'];
/** The built-in namespaces of a fresh cluster. */
const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
/**
 * `system-cluster-critical` and `system-node-critical`, which the scheduling REST storage creates
 * (pkg/apis/scheduling SystemPriorityClasses).
 */
const SYSTEM_PRIORITY_CLASSES: JsonObject[] = [
  { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'system-node-critical' }, value: 2000001000, description: 'Used for system critical pods that must not be moved from their current node.' },
  { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'system-cluster-critical' }, value: 2000000000, description: 'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.' },
];
/** Paths served without authentication, as `system:public-info-viewer` allows. */
const PUBLIC_ROUTES = new Set<Route['type']>(['version', 'health']);

function queryRecord(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of query) out[k] = k in out ? `${out[k]},${v}` : v;
  return out;
}

function discovery(r: Route, serverAddress: string, resources: ResourceRegistry): JsonObject | undefined {
  switch (r.type) {
    case 'version':
      return versionInfo();
    case 'coreVersions':
      return coreVersions(serverAddress);
    case 'groupList':
      return groupList(resources);
    case 'group':
      return group(resources, r.group);
    case 'resourceList':
      return resourceList(resources, r.group, r.version);
    case 'openapiV3Index':
      return openApiV3Index(resources);
    case 'openapiV3':
      return openApiV3Document(resources, r.path);
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

/** Starts a server on 127.0.0.1 with a random port. */
export async function startTestApiServer(opts: TestApiServerOptions = {}): Promise<TestApiServer> {
  const now = opts.now ?? (() => new Date());
  const store = createObjectStore();
  const resources = createResourceRegistry(store);
  const testStore = createTestStore(store, now, resources);
  for (const name of INITIAL_NAMESPACES) {
    testStore.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const rbac = opts.authorization === 'rbac';
  const auth = createAuthenticator(opts.apiAudiences ?? DEFAULT_API_AUDIENCES);
  const authorizer = createAuthorizer({ store, rbac });
  const watches = createWatchRegistry();
  const registry = createFaultRegistry({ dropWatches: (abrupt) => watches.dropAll(abrupt), compact: (below) => store.compact(below) });
  const requests: RequestLogEntry[] = [];
  let hook: AdmissionHook | undefined;
  let objectCheck: ObjectCheck | undefined;
  const deps: HandlerDeps = { store, resources, hook: () => hook, objectCheck: () => objectCheck, now, security: { authorizer, reviewToken: (token, audiences) => auth.review(token, audiences) } };
  const controllers = opts.controller !== false;
  const pods = opts.pods === true;
  // The CRD naming/establishing controllers are part of the apiserver itself: always on.
  const stoppers: (() => void)[] = [startCrdController({ store, now }), () => resources.close(), () => authorizer.stop()];
  if (rbac) {
    // The rbac/bootstrap-roles post-start hook, and kube-controller-manager's aggregation controller.
    for (const obj of [...bootstrapClusterRoles(), ...bootstrapClusterRoleBindings()]) testStore.put(obj);
    stoppers.push(startClusterRoleAggregation({ store, client: createInternalClient(deps, requests, controllerUser('clusterrole-aggregation-controller')) }));
  }
  if (controllers) {
    stoppers.push(startDeploymentController({ store, now, pods }));
    const clientFor = (controller: string): ReturnType<typeof createInternalClient> => createInternalClient(deps, requests, controllerUser(controller));
    stoppers.push(startWorkloadControllers({ store, now, clientFor, pods, node: TEST_NODE_NAME }));
  }
  if (pods) stoppers.push(startKubelet({ store, now, node: TEST_NODE_NAME }));
  // The apiserver's own objects: APF's mandatory and suggested configuration, the system PriorityClasses.
  for (const pc of SYSTEM_PRIORITY_CLASSES) testStore.put(pc);
  const apf = createApf({ store, now, put: (obj) => void testStore.put(obj) });
  stoppers.push(() => apf.stop());
  const stopController = (): void => {
    for (const stop of stoppers) stop();
  };
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
      const r = route(url.pathname, resources.find);
      let user: UserInfo | undefined;
      const who = auth.authenticate(req.headers, pathToken);
      // With RBAC a request without a token is system:anonymous, for RBAC to judge; a bad token is always a 401.
      if (who.kind === 'invalid' && (rbac || !PUBLIC_ROUTES.has(r.type))) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      if (who.kind === 'anonymous' && !rbac && !PUBLIC_ROUTES.has(r.type)) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      if (who.kind === 'user') {
        user = impersonate(who.user, req.headers, authorizer);
        entry.user = user.username;
      } else if (rbac) {
        user = ANONYMOUS_USER;
      }
      // API Priority and Fairness runs after authentication and impersonation, before authorization.
      const flow = apf.classify(requestDigest(method, r, url.pathname, url.searchParams, user ?? ANONYMOUS_USER));
      if (flow !== undefined) {
        setApfHeaders(res, flow);
        entry.flowSchema = flow.flowSchema;
        entry.priorityLevel = flow.priorityLevel;
        const retryAfter = registry.takeThrottle(flow);
        if (retryAfter !== undefined) {
          sendApfRejection(res, retryAfter);
          return;
        }
      }
      if (rbac) {
        const attributes = requestAttributes(method, url.pathname, url.searchParams, user ?? ANONYMOUS_USER);
        const decision = authorizer.authorize(attributes);
        if (decision.decision !== 'allow') throw forbiddenRequest(attributes, decision.reason);
      }
      const injected = registry.takeError(method, target);
      if (injected !== undefined) throw faultError(injected);
      if (r.type === 'health') {
        sendText(res, 200, 'ok');
        return;
      }
      if (r.type !== 'resource') {
        const doc = method === 'GET' ? discovery(r, serverAddress, resources) : undefined;
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
          if (!r.info.verbs.includes('watch')) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
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
    token: (user = DEFAULT_USER, groups = user === DEFAULT_USER ? DEFAULT_GROUPS : [], audiences) => auth.tokenFor(user, groups, audiences),
    store: testStore,
    faults: registry.faults,
    requests,
    setAdmission(h) {
      hook = h;
    },
    setObjectCheck(check) {
      objectCheck = check;
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
