/**
 * One admission webhook call on node's own request and response objects, so the same handler serves
 * the fast path in front of express and express's own routes. A well-formed review always gets HTTP 200
 * and a v1 review whose response.uid is the request's; an unusable request gets a 4xx JSON error; a
 * failure inside the gate is a 5xx so the webhook's failurePolicy applies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { reviewResponse } from '../admission/review.js';
import type { AdmissionRequest } from '../admission/types.js';
import type { Handled } from '../admission/validate.js';
import { TracegateError, errorTable, isTracegateError } from '../errors.js';
import type { DecisionWriter } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Deadlines } from './deadlines.js';
import { decodeReview, isJsonContentType, readBody } from './review-body.js';
import { requestBudgetMs } from './timeout.js';

/** What express's `res.type('application/json')` sets; every JSON answer carries exactly this. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Sends a JSON text with the headers express's `res.status().type('application/json').send()` would. */
export function sendJson(res: ServerResponse, status: number, body: string): void {
  // One writeHead with all headers: node's fast path when nothing was set before (else it merges).
  res.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) }).end(body);
}

function sendError(res: ServerResponse, err: TracegateError): void {
  sendJson(res, err.httpStatus, JSON.stringify({ error: { code: err.code, message: err.message } }));
}

/** Shared by the webhook handler and the express app. */
export interface WebhookDeps {
  metrics: Metrics;
  log: Logger;
  /** Writes the decision line of each answered review (see `createDecisionWriter`). */
  decisionLine: DecisionWriter;
  /** Where each review's body-reading deadline waits. */
  deadlines: Deadlines;
  bodyLimitBytes: number;
  maxRequestTimeoutMs: number;
}

/** Handles one call; `timeout` is the raw `?timeout=` query value (absent, a string, or repeated). */
export type WebhookHandler = (req: IncomingMessage, res: ServerResponse, timeout: unknown) => Promise<void>;

/** Creates the handler of one webhook; it catches every error of the review itself. */
export function createWebhookHandler(deps: WebhookDeps, name: 'validate' | 'mutate', handler: (r: AdmissionRequest) => Handled): WebhookHandler {
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
    try {
      if (!isJsonContentType(req.headers['content-type'])) {
        throw new TracegateError('REVIEW_MEDIA_TYPE', `content type must be application/json, got ${JSON.stringify(req.headers['content-type'] ?? null)}`);
      }
      const request = decodeReview(await readBody(req, deps.bodyLimitBytes, deadline, deadlines));
      const { response, decision } = handler(request);
      sendJson(res, 200, JSON.stringify(reviewResponse(response)));
      const seconds = (performance.now() - started) / 1000;
      metrics.duration.observe({ webhook: name, decision: decision.decision }, seconds);
      metrics.decisions.inc({ webhook: name, decision: decision.decision });
      for (const rule of decision.rules) metrics.violations.inc({ webhook: name, rule, decision: decision.decision });
      if (Date.now() > deadline) log.warn({ uid: request.uid, budgetMs: budget }, 'answered after the apiserver timeout');
      // One line per review; never the object itself (Secret data, env values).
      decisionLine(decision, Math.round(seconds * 1e6) / 1000);
    } catch (err) {
      const e = isTracegateError(err) ? err : new TracegateError('GATE_INTERNAL', 'internal error while handling the review', {}, { cause: err });
      metrics.badRequests.inc({ status: String(e.httpStatus) });
      (e.code === 'GATE_INTERNAL' ? log.error.bind(log) : log.warn.bind(log))(
        { webhook: name, code: e.code, err: e.code === 'GATE_INTERNAL' ? String((err as Error)?.stack ?? err) : e.message },
        'admission request failed',
      );
      // Not `req.destroyed`: a request is destroyed as soon as its body has been read, and the
      // client is still waiting for the answer then. Only a gone socket means nobody is listening.
      const clientGone = !res.socket || res.socket.destroyed;
      if (!res.headersSent && !clientGone) {
        // The rest of an unread body (too large, too slow) would be parsed as the next request: close instead.
        if (!req.complete) res.setHeader('Connection', 'close');
        sendError(res, e);
      }
    } finally {
      metrics.inFlight.dec();
    }
  };
}

/** The answer to an error that escaped a handler: logged, counted, 500, and the gate keeps serving. */
export function answerUnhandled(deps: Pick<WebhookDeps, 'log' | 'metrics'>, err: unknown, res: ServerResponse): void {
  deps.log.error({ err: String((err as Error)?.stack ?? err) }, 'unhandled error in request');
  deps.metrics.badRequests.inc({ status: '500' });
  if (!res.headersSent) sendJson(res, errorTable.GATE_INTERNAL.http, JSON.stringify({ error: { code: 'GATE_INTERNAL', message: 'internal error' } }));
}
