/**
 * The gate's HTTP surface and its one router: POST /validate and /mutate (AdmissionReview v1), GET
 * /healthz, /readyz, /metrics and /policies, 405 for another method on a known path, 404 for the rest.
 * Six fixed routes need no router library: express cost 180-210 µs per review here (32-74% of the gate's
 * CPU per review, `npm run bench`'s routing phase), far over what a routing layer may cost. No error in
 * one request reaches the process.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AdmissionRequest } from '../admission/types.js';
import type { Handled } from '../admission/validate.js';
import { createDecisionWriter, type DecisionLogger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { BodyBudget } from './body-budget.js';
import { createDeadlines } from './deadlines.js';
import { answerUnhandled, createWebhookHandler, sendJson, type WebhookDeps, type WebhookHandler } from './webhook.js';

/** What the HTTP surface needs: the two handlers, metrics, logging, readiness and the request limits. */
export interface AppDeps {
  /** Synchronous, or a promise when the review's approval is verified first (see src/admission/approval-edge.ts). */
  validate: (request: AdmissionRequest) => Handled | Promise<Handled>;
  mutate: (request: AdmissionRequest) => Handled | Promise<Handled>;
  metrics: Metrics;
  log: Logger;
  /** Reasons the gate is not ready (empty when ready). */
  notReady: () => string[];
  policiesView: () => unknown;
  /** True once shutdown began: every answer then closes its connection, so none stays open to drain. */
  closing?: () => boolean;
  bodyBudget: BodyBudget;
  bodyLimitBytes: number;
  minBodyBytesPerSecond: number;
  bodyRateGraceMs: number;
  maxRequestTimeoutMs: number;
  /** Publishes who deleted a recorded workload (see WebhookDeps.onDeletion). */
  onDeletion?: WebhookDeps['onDeletion'];
  /** Writes the decision lines: `log`'s unredacting twin from createLoggers; `log` itself when absent. */
  decisionLog?: DecisionLogger;
}

/** Body-reading deadlines are checked this often: webhook timeouts are whole seconds, a tenth is precise enough. */
const DEADLINE_TICK_MS = 100;

/** Only the path and query of a request line matter; the base makes an origin-form target a full URL. */
const URL_BASE = 'http://gate.invalid';

/** Plain segments (letters, digits, `-`, `_`) from the root: a path the URL parser returns unchanged. */
const PLAIN_PATH = /^\/(?:[\w-]+\/)*[\w-]*$/;

/** What the URL parser does not keep as it is in a query: a fragment, tabs and newlines (removed), trailing spaces and controls (trimmed). */
const URL_SPECIAL_QUERY = /[\u0000-\u0020#]/;

/** A request target's path and query parameters (undefined when there is no query). */
export interface Target {
  path: string;
  params: URLSearchParams | undefined;
}

/**
 * The path and query of a request target, as the WHATWG URL parser reads it. The apiserver's
 * `/validate?timeout=10s` is split at `?` and its query parsed only when there is one; every other target
 * (absolute-form, `//host/…`, dot segments, percent-encoding, a fragment, controls) goes through the URL
 * parser. Undefined when the target is no URL at all.
 */
export function parseTarget(target: string): Target | undefined {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? undefined : target.slice(q + 1);
  if (PLAIN_PATH.test(path) && (query === undefined || !URL_SPECIAL_QUERY.test(query))) {
    return { path, params: query === undefined ? undefined : new URLSearchParams(query) };
  }
  let url: URL;
  try {
    url = new URL(target, URL_BASE);
  } catch {
    return undefined;
  }
  return { path: url.pathname, params: url.searchParams };
}

type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

function sendText(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) }).end(body);
}

function notFound(res: ServerResponse): void {
  sendJson(res, 404, JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such endpoint; the gate serves /validate, /mutate, /healthz, /readyz, /metrics, /policies' } }));
}

function methodNotAllowed(res: ServerResponse, allow: string, message: string): void {
  res.setHeader('Allow', allow);
  sendJson(res, 405, JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message } }));
}

/** The `?timeout=` the apiserver appends: absent, one value, or (from anyone else) several. */
function timeoutParam(params: URLSearchParams | undefined): unknown {
  if (!params) return undefined;
  const all = params.getAll('timeout');
  return all.length === 0 ? undefined : all.length === 1 ? all[0] : all;
}

/** The GET routes; HEAD answers them too (node leaves the body out). */
function readRoutes(deps: AppDeps): Record<string, Route> {
  const { metrics } = deps;
  return {
    '/healthz': (_req, res) => sendText(res, 200, 'text/plain; charset=utf-8', 'ok'),
    '/readyz': (_req, res) => {
      const reasons = deps.notReady();
      sendText(res, reasons.length ? 503 : 200, 'text/plain; charset=utf-8', reasons.length ? `not ready: ${reasons.join('; ')}` : 'ready');
    },
    '/metrics': async (_req, res) => sendText(res, 200, metrics.registry.contentType, await metrics.registry.metrics()),
    '/policies': (_req, res) => sendText(res, 200, 'application/json; charset=utf-8', JSON.stringify(deps.policiesView(), null, 2)),
  };
}

/** Creates the server's request listener. */
export function createRequestListener(deps: AppDeps): RequestListener {
  const closing = deps.closing ?? (() => false);
  const webhookDeps: WebhookDeps = {
    metrics: deps.metrics,
    log: deps.log,
    decisionLine: createDecisionWriter(deps.log, deps.decisionLog),
    deadlines: createDeadlines({ tickMs: DEADLINE_TICK_MS }),
    bodyBudget: deps.bodyBudget,
    bodyLimitBytes: deps.bodyLimitBytes,
    minBodyBytesPerSecond: deps.minBodyBytesPerSecond,
    bodyRateGraceMs: deps.bodyRateGraceMs,
    maxRequestTimeoutMs: deps.maxRequestTimeoutMs,
    closing,
    ...(deps.onDeletion ? { onDeletion: deps.onDeletion } : {}),
  };
  const webhooks: Record<string, WebhookHandler> = {
    '/validate': createWebhookHandler(webhookDeps, 'validate', deps.validate),
    '/mutate': createWebhookHandler(webhookDeps, 'mutate', deps.mutate),
  };
  const reads = readRoutes(deps);

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = parseTarget(req.url ?? '/');
    if (!target) {
      notFound(res);
      return;
    }
    // `/validate/` is `/validate`, as the apiserver's webhook paths may be written either way.
    const path = target.path.length > 1 && target.path.endsWith('/') ? target.path.slice(0, -1) : target.path;
    if (Object.hasOwn(webhooks, path)) {
      if (req.method === 'POST') return webhooks[path]!(req, res, timeoutParam(target.params));
      return methodNotAllowed(res, 'POST', 'use POST with an AdmissionReview');
    }
    if (Object.hasOwn(reads, path)) {
      if (req.method === 'GET' || req.method === 'HEAD') return reads[path]!(req, res);
      return methodNotAllowed(res, 'GET, HEAD', `${path} answers GET`);
    }
    notFound(res);
  }

  return (req: IncomingMessage, res: ServerResponse) => {
    // A keep-alive (or pipelining) client would otherwise keep its connection busy through the whole drain.
    // (A webhook call checks again when it answers: its body may have started arriving before the drain.)
    if (closing()) res.setHeader('Connection', 'close');
    route(req, res).catch((err: unknown) => answerUnhandled(webhookDeps, err, res));
  };
}
