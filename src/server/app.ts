/**
 * The gate's HTTP surface: POST /validate and /mutate (AdmissionReview v1), GET /healthz, /readyz,
 * /metrics and /policies. The two webhook calls, the only hot path, go straight to their handler; express
 * serves everything else, including webhook URLs in any other spelling, with the same handlers. No error
 * in one request reaches the process.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { AdmissionRequest } from '../admission/types.js';
import type { Handled } from '../admission/validate.js';
import { createDecisionWriter } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createDeadlines } from './deadlines.js';
import { answerUnhandled, createWebhookHandler, type WebhookDeps, type WebhookHandler } from './webhook.js';

/** What the HTTP surface needs: the two handlers, metrics, logging, readiness and the request limits. */
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

/** Body-reading deadlines are checked this often: webhook timeouts are whole seconds, a tenth is precise enough. */
const DEADLINE_TICK_MS = 100;

/**
 * `/validate` or `/mutate` with an optional query, in the form express's URL parser (parseurl) takes
 * apart without falling back to `url.parse`: no `#` and no whitespace. Anything else goes to express.
 */
const WEBHOOK_URL = /^\/(validate|mutate)(?:\?([^#\s\u00a0\ufeff]*))?$/;

/** `timeout=<value>` alone, with nothing querystring.parse would decode (`%`, `+`) or split (`&`, `=`). */
const PLAIN_TIMEOUT_QUERY = /^timeout=([\w.]*)$/;

/** The `timeout` value express's default ("simple") query parser, node's querystring.parse, would find. */
function timeoutParam(query: string | undefined): unknown {
  if (query === undefined) return undefined;
  // The apiserver's own query (`timeout=10s`) is read without building a parsed-query object.
  const plain = PLAIN_TIMEOUT_QUERY.exec(query);
  return plain ? plain[1] : parseQuery(query).timeout;
}

/** The express application for everything but the fast path; `webhooks` serve its webhook routes. */
function createExpressApp(deps: AppDeps, webhooks: Record<'validate' | 'mutate', WebhookHandler>, webhookDeps: WebhookDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const { metrics } = deps;

  app.post('/validate', (req, res) => webhooks.validate(req, res, req.query.timeout));
  app.post('/mutate', (req, res) => webhooks.mutate(req, res, req.query.timeout));
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
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => answerUnhandled(webhookDeps, err, res));
  return app;
}

/**
 * Creates the server's request listener. A POST to `/validate` or `/mutate` skips express's router,
 * its request/response decoration and its query getter (a third of a small review's CPU time before);
 * the handler and its answers are the same ones express's routes use.
 */
export function createRequestListener(deps: AppDeps): RequestListener {
  const webhookDeps: WebhookDeps = {
    metrics: deps.metrics,
    log: deps.log,
    decisionLine: createDecisionWriter(deps.log),
    deadlines: createDeadlines({ tickMs: DEADLINE_TICK_MS }),
    bodyLimitBytes: deps.bodyLimitBytes,
    maxRequestTimeoutMs: deps.maxRequestTimeoutMs,
  };
  const webhooks = {
    validate: createWebhookHandler(webhookDeps, 'validate', deps.validate),
    mutate: createWebhookHandler(webhookDeps, 'mutate', deps.mutate),
  };
  const app = createExpressApp(deps, webhooks, webhookDeps);
  return (req: IncomingMessage, res: ServerResponse) => {
    const m = req.method === 'POST' ? WEBHOOK_URL.exec(req.url ?? '') : null;
    if (!m) {
      app(req, res);
      return;
    }
    webhooks[m[1] as 'validate' | 'mutate'](req, res, timeoutParam(m[2])).catch((err: unknown) => answerUnhandled(webhookDeps, err, res));
  };
}
