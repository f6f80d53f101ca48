/**
 * The gate's HTTP surface (express 5): POST /validate and /mutate (AdmissionReview v1), GET /healthz,
 * /readyz, /metrics and /policies. A well-formed review always gets HTTP 200 and a v1 review whose
 * response.uid is the request's; an unusable request gets a 4xx JSON error; a failure inside the gate
 * is a 5xx so the webhook's failurePolicy applies. No error in one request reaches the process.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { reviewResponse } from '../admission/review.js';
import type { Decision } from '../admission/decision.js';
import type { AdmissionRequest } from '../admission/types.js';
import type { Handled } from '../admission/validate.js';
import { TracegateError, errorTable, isTracegateError } from '../errors.js';
import { createDecisionLogger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { decodeReview, isJsonContentType, readBody } from './review-body.js';
import { requestBudgetMs } from './timeout.js';

export interface AppDeps {
  validate: (request: AdmissionRequest) => Handled;
  mutate: (request: AdmissionRequest) => Handled;
  metrics: Metrics;
  log: Logger;
  /** Reasons the gate is not ready (empty when ready). */
  notReady: () => string[];
  policiesView: () => unknown;
  bodyLimitBytes: number;
  maxRequestTimeoutMs: number;
}

function sendError(res: Response, err: TracegateError): void {
  res.status(err.httpStatus).type('application/json').send(JSON.stringify({ error: { code: err.code, message: err.message } }));
}

function logDecision(log: Logger, d: Decision, ms: number): void {
  // One line per review; never the object itself (Secret data, env values).
  log.info({ ...d, durationMs: Math.round(ms * 1000) / 1000 }, 'admission decision');
}

/** Creates the express application. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const { metrics, log } = deps;
  const decisionLog = createDecisionLogger(log);

  const webhook = (name: 'validate' | 'mutate', handler: (r: AdmissionRequest) => Handled) =>
    async function handle(req: Request, res: Response): Promise<void> {
      const started = performance.now();
      const budget = requestBudgetMs(req.query.timeout, deps.maxRequestTimeoutMs);
      const deadline = Date.now() + budget;
      metrics.inFlight.inc();
      try {
        if (!isJsonContentType(req.headers['content-type'])) {
          throw new TracegateError('REVIEW_MEDIA_TYPE', `content type must be application/json, got ${JSON.stringify(req.headers['content-type'] ?? null)}`);
        }
        const request = decodeReview(await readBody(req, deps.bodyLimitBytes, deadline));
        const { response, decision } = handler(request);
        res.status(200).type('application/json').send(JSON.stringify(reviewResponse(response)));
        const seconds = (performance.now() - started) / 1000;
        metrics.duration.observe({ webhook: name, decision: decision.decision }, seconds);
        metrics.decisions.inc({ webhook: name, decision: decision.decision });
        for (const rule of decision.rules) metrics.violations.inc({ webhook: name, rule, decision: decision.decision });
        if (Date.now() > deadline) log.warn({ uid: request.uid, budgetMs: budget }, 'answered after the apiserver timeout');
        logDecision(decisionLog, decision, seconds * 1000);
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
          if (!req.complete) res.set('Connection', 'close');
          sendError(res, e);
        }
      } finally {
        metrics.inFlight.dec();
      }
    };

  app.post('/validate', webhook('validate', deps.validate));
  app.post('/mutate', webhook('mutate', deps.mutate));
  app.all(['/validate', '/mutate'], (_req, res) => {
    res.status(405).set('Allow', 'POST').json({ error: { code: 'METHOD_NOT_ALLOWED', message: 'use POST with an AdmissionReview' } });
  });
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const reasons = deps.notReady();
    res.status(reasons.length ? 503 : 200).type('text/plain').send(reasons.length ? `not ready: ${reasons.join('; ')}` : 'ready');
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/policies', (_req, res) => {
    res.type('application/json').send(JSON.stringify(deps.policiesView(), null, 2));
  });
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such endpoint; the gate serves /validate, /mutate, /healthz, /readyz, /metrics, /policies' } });
  });
  // Express 5 routes thrown errors and rejected promises here; answer 500 and keep serving.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    log.error({ err: String((err as Error)?.stack ?? err) }, 'unhandled error in request');
    metrics.badRequests.inc({ status: '500' });
    if (!res.headersSent) res.status(errorTable.GATE_INTERNAL.http).json({ error: { code: 'GATE_INTERNAL', message: 'internal error' } });
  });
  return app;
}
