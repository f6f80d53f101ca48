/**
 * One admission webhook call on node's own request and response objects, so the same handler serves
 * the gate's router (app.ts). A well-formed review always gets HTTP 200
 * and a v1 review whose response.uid is the request's; an unusable request gets a 4xx JSON error; a
 * failure inside the gate is a 5xx so the webhook's failurePolicy applies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { reviewResponse } from '../admission/review.js';
import type { AdmissionRequest } from '../admission/types.js';
import type { Handled } from '../admission/validate.js';
import type { DeletionNote } from '../provenance/deletion-event.js';
import { TracegateError, errorTable, isTracegateError } from '../errors.js';
import type { DecisionWriter } from '../log.js';
import type { Metrics } from '../metrics.js';
import { boundText, quoteBounded } from '../policy/digest.js';
import type { BodyBudget } from './body-budget.js';
import type { Deadlines } from './deadlines.js';
import { decodeReview, isJsonContentType, readBody } from './review-body.js';
import { requestBudgetMs } from './timeout.js';

/** The content type of every JSON answer. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Sends a JSON text with its type and length in one writeHead. */
export function sendJson(res: ServerResponse, status: number, body: string): void {
  // One writeHead with all headers: node's fast path when nothing was set before (else it merges).
  res.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) }).end(body);
}

function sendError(res: ServerResponse, err: TracegateError): void {
  sendJson(res, err.httpStatus, JSON.stringify({ error: { code: err.code, message: err.message } }));
}

/**
 * Seconds a 429 asks the apiserver to wait. client-go's REST client (which calls webhooks) retries a
 * 429 or 5xx that carries Retry-After, up to 10 times within the webhook's timeout (rest/with_retry.go
 * checkWait); one second is what kube-apiserver's own overload answer asks for.
 */
const RETRY_AFTER_SECONDS = '1';

/** An error message in a log line: a reason, never a payload. */
const MAX_LOGGED_MESSAGE_CHARS = 1000;

/** Stack frames kept in an internal error's log line: where it happened, not a wall of text. */
const LOGGED_STACK_FRAMES = 12;

/**
 * An unexpected error for the log: its name, its message bounded (V8's messages quote values, e.g.
 * `Cannot create property 'x' on string '<value>'`, and the value is request data), and its frames.
 */
export function describeInternalError(err: unknown): string {
  if (!(err instanceof Error)) return `non-error thrown: ${boundText(typeof err === 'string' ? err : typeof err)}`;
  const frames = (err.stack ?? '').split('\n').filter((line) => line.startsWith('    at ')).slice(0, LOGGED_STACK_FRAMES);
  return [`${boundText(err.name, 50)}: ${boundText(err.message)}`, ...frames].join('\n');
}

/** Shared by the webhook handlers and the router. */
export interface WebhookDeps {
  metrics: Metrics;
  log: Logger;
  /** Writes the decision line of each answered review (see `createDecisionWriter`). */
  decisionLine: DecisionWriter;
  /** Where each review's body-reading deadline waits. */
  deadlines: Deadlines;
  /** Memory shared by the bodies being read. */
  bodyBudget: BodyBudget;
  bodyLimitBytes: number;
  /** The rate floor of body uploads (see GateConfig.minBodyBytesPerSecond); 0 disables. */
  minBodyBytesPerSecond: number;
  bodyRateGraceMs: number;
  maxRequestTimeoutMs: number;
  /** True once the drain began: an answer then closes its connection (it may have started long before). */
  closing: () => boolean;
  /** Publishes who deleted a recorded workload, after the deletion was answered (never awaited). */
  onDeletion?: (note: DeletionNote) => void;
}

/** Handles one call; `timeout` is the raw `?timeout=` query value (absent, a string, or repeated). */
export type WebhookHandler = (req: IncomingMessage, res: ServerResponse, timeout: unknown) => Promise<void>;

/** Creates the handler of one webhook; it catches every error of the review itself. */
export function createWebhookHandler(deps: WebhookDeps, name: 'validate' | 'mutate', handler: (r: AdmissionRequest) => Handled | Promise<Handled>): WebhookHandler {
  const { metrics, log, decisionLine, deadlines } = deps;
  let lastTimeout: unknown = undefined;
  let lastBudget = requestBudgetMs(undefined, deps.maxRequestTimeoutMs);
  return async function handle(req, res, timeout) {
    const started = performance.now();
    // Every call from the apiserver carries the same `timeout=`: parse it once per distinct value.
    if (timeout !== lastTimeout) {
      lastTimeout = timeout;
      lastBudget = requestBudgetMs(timeout, deps.maxRequestTimeoutMs);
    }
    const budget = lastBudget;
    const deadline = Date.now() + budget;
    metrics.inFlight.inc();
    const lease = deps.bodyBudget.lease();
    try {
      if (!isJsonContentType(req.headers['content-type'])) {
        throw new TracegateError('REVIEW_MEDIA_TYPE', `content type must be application/json, got ${quoteBounded(req.headers['content-type'] ?? null)}`);
      }
      const body = await readBody(req, {
        limit: deps.bodyLimitBytes,
        deadline,
        deadlines,
        lease,
        minBytesPerSecond: deps.minBodyBytesPerSecond,
        rateGraceMs: deps.bodyRateGraceMs,
      });
      const request = decodeReview(body);
      // Most reviews are answered synchronously; one carrying an approval waits for its verification.
      const handled = handler(request);
      const { response, decision, deletion } = handled instanceof Promise ? await handled : handled;
      if (deps.closing()) res.setHeader('Connection', 'close');
      sendJson(res, 200, JSON.stringify(reviewResponse(response)));
      if (deletion) deps.onDeletion?.(deletion);
      const seconds = (performance.now() - started) / 1000;
      metrics.duration.observe({ webhook: name, decision: decision.decision }, seconds);
      const tenant = metrics.tenantLabel(decision.tenant);
      metrics.decisions.inc({ webhook: name, decision: decision.decision, tenant });
      for (const rule of decision.rules) metrics.violations.inc({ webhook: name, rule, decision: decision.decision, tenant });
      if (Date.now() > deadline) log.warn({ uid: boundText(request.uid), budgetMs: budget }, 'answered after the apiserver timeout');
      // One line per review; never the object itself (Secret data, env values).
      decisionLine(decision, Math.round(seconds * 1e6) / 1000);
    } catch (err) {
      const e = isTracegateError(err) ? err : new TracegateError('GATE_INTERNAL', 'internal error while handling the review', {}, { cause: err });
      metrics.badRequests.inc({ status: String(e.httpStatus) });
      // Messages are built from bounded quotes; bounding them again keeps any future message from carrying a payload.
      (e.code === 'GATE_INTERNAL' ? log.error.bind(log) : log.warn.bind(log))(
        { webhook: name, code: e.code, err: e.code === 'GATE_INTERNAL' ? describeInternalError(err) : boundText(e.message, MAX_LOGGED_MESSAGE_CHARS) },
        'admission request failed',
      );
      // A pipelined request's response waits in node's queue with no socket of its own (`res.socket` is
      // null until the answers before it are written), yet it must be answered, or the connection stalls
      // forever. Only a destroyed connection means nobody is listening. (Not `req.destroyed` either: a
      // request is destroyed as soon as its body has been read, and the client is still waiting then.)
      if (!res.headersSent && !req.socket.destroyed) {
        // The rest of an unread body (too large, too slow, no room) is read and dropped before the next request.
        if (deps.closing()) res.setHeader('Connection', 'close');
        if (!req.complete) drainAfterAnswer(req, e.code === 'REVIEW_TIMEOUT' ? SLOW_LINGER_MS : DRAIN_MS);
        if (e.code === 'GATE_BUSY') res.setHeader('Retry-After', RETRY_AFTER_SECONDS);
        sendError(res, e);
      }
    } finally {
      lease.release();
      metrics.inFlight.dec();
    }
  };
}

/**
 * How long a client that is too slow for the rate floor or the deadline still has, after its 408, before
 * the connection is cut: enough to read the answer (Go's own HTTP server lingers 500 ms before a close).
 */
const SLOW_LINGER_MS = 500;
/** How long the rest of a refused body (413, 429, 415) may take to arrive: a LAN sends 7 MiB in well under this. */
const DRAIN_MS = 5_000;

/**
 * After an answer sent before its request body was read: the rest of the body is read and dropped (never
 * buffered), so the keep-alive connection stays in step and serves the next request — the answer goes
 * out like any other, with no reset that could destroy it at the client before it is read. A body that
 * does not finish within `ms` has its connection destroyed. Public request/socket API only.
 */
function drainAfterAnswer(req: IncomingMessage, ms: number): void {
  req.resume();
  if (req.complete) return;
  const timer = setTimeout(() => req.socket.destroy(), ms);
  timer.unref();
  const done = () => clearTimeout(timer);
  req.once('end', done);
  req.socket.once('close', done);
}

/** The answer to an error that escaped a handler: logged, counted, 500, and the gate keeps serving. */
export function answerUnhandled(deps: Pick<WebhookDeps, 'log' | 'metrics'>, err: unknown, res: ServerResponse): void {
  deps.log.error({ err: describeInternalError(err) }, 'unhandled error in request');
  deps.metrics.badRequests.inc({ status: '500' });
  if (!res.headersSent) sendJson(res, errorTable.GATE_INTERNAL.http, JSON.stringify({ error: { code: 'GATE_INTERNAL', message: 'internal error' } }));
}
