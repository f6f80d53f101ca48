/**
 * The web view's request listener: the stylesheet and the login/logout flow without a user, every other
 * page only for a user the cluster authenticated (a session cookie, or `Authorization: Bearer` on any
 * request) and authorized page by page (routes.ts). No error in one request reaches the process, and
 * no answer leaves without the security headers.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ChangeSource, Exporter, PoliciesSource, ReportSource, TenantDirectory, WorkloadSource } from './data.js';
import { bearerOf, clearedSessionCookie, readForm, redirect, sameOrigin, securityHeaders, sendBytes, sendHtml, sessionCookie, sessionIdOf } from './http.js';
import { ReleaseReadLimitError } from '../recorder/storage.js';
import { errorPage, loginPage, STYLESHEET_PATH } from './pages/layout.js';
import { createRenderLimit, type RenderLimitOptions } from './render-limit.js';
import type { Reviewer, UserIdentity } from './reviews.js';
import { createRoutes } from './routes.js';
import type { UiServerDeps } from './deps.js';
import type { SessionStore } from './sessions.js';

/** A token is a few KB at most (a service account JWT ~1 KB, OIDC ID tokens a few); 16 KiB is generous. */
export const DEFAULT_LOGIN_BODY_LIMIT = 16 * 1024;

/**
 * Pages rendering at once: 2 per user (a browser loads a page and an export at most), 4 in all. A
 * render may hold release records up to the readers' 32 MiB budget (secret-driver.ts) and a tenant's
 * rows (~20 MB at the 20,000-row cap): 4 at a time stay within the chart's 192 MB heap.
 */
export const DEFAULT_RENDER_LIMIT: Readonly<RenderLimitOptions> = Object.freeze({ perUser: 2, total: 4 });

/** Seconds a refused render or login waits: a page renders in well under a second. */
const RETRY_AFTER_SECONDS = '1';

export type { UiServerDeps } from './deps.js';


/** The server's parts. */
export interface UiServer {
  listener: RequestListener;
}

/** Who sent the request: a user, nobody, or a token/session the cluster refused. */
type Caller = { user: UserIdentity } | { none: true } | { refused: 'bearer' | 'session' };

/** Creates the listener. */
export function createUiServer(deps: UiServerDeps): UiServer {
  const { sessions, reviewer, log } = deps;
  const limit = deps.loginBodyLimit ?? DEFAULT_LOGIN_BODY_LIMIT;
  const routes = createRoutes(deps);
  const renders = createRenderLimit(deps.renderLimit ?? DEFAULT_RENDER_LIMIT);

  async function identify(req: IncomingMessage): Promise<Caller> {
    const bearer = bearerOf(req);
    if (bearer !== undefined) {
      const user = await reviewer.authenticate(bearer);
      return user ? { user } : { refused: 'bearer' };
    }
    const id = sessionIdOf(req);
    const session = sessions.get(id);
    if (!session) return id ? { refused: 'session' } : { none: true };
    if (sessions.needsRecheck(session)) {
      // A revoked or expired token ends the session at the next look, not at the session's TTL.
      const user = await reviewer.authenticate(session.token);
      if (!user) {
        sessions.delete(session.id);
        log.info({ user: session.user.username }, 'session ended: the token no longer authenticates');
        return { refused: 'session' };
      }
      sessions.rechecked(session, user);
    }
    return { user: session.user };
  }

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!sameOrigin(req)) return sendHtml(res, 403, errorPage('Forbidden', 'a login from another site is refused'));
    const body = await readForm(req, limit);
    if (!body.ok) {
      if (body.status === 413) res.setHeader('Connection', 'close');
      return sendHtml(res, body.status, loginPage(body.message));
    }
    const token = (body.form.get('token') ?? '').trim();
    if (!token) return sendHtml(res, 400, loginPage('Enter a bearer token.'));
    const user = await reviewer.authenticate(token);
    if (!user) {
      log.info('login refused: the token does not authenticate');
      return sendHtml(res, 401, loginPage('The cluster did not accept this token.'));
    }
    sessions.delete(sessionIdOf(req));
    const session = sessions.create(user, token);
    if (!session) {
      log.warn({ user: user.username }, 'login refused: the session store is full');
      return sendHtml(res, 503, loginPage('Too many people are signed in right now; try again shortly.'), { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    log.info({ user: user.username }, 'login');
    redirect(res, '/', { 'Set-Cookie': sessionCookie(session.id, Math.floor(deps.sessionTtlMs / 1000)) });
  }

  function logout(req: IncomingMessage, res: ServerResponse): void {
    if (!sameOrigin(req)) return sendHtml(res, 403, errorPage('Forbidden', 'a logout from another site is refused'));
    const session = sessions.get(sessionIdOf(req));
    if (session) log.info({ user: session.user.username }, 'logout');
    sessions.delete(sessionIdOf(req));
    redirect(res, '/login', { 'Set-Cookie': clearedSessionCookie() });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    securityHeaders(res);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'https://ui.invalid');
    } catch {
      return sendHtml(res, 400, errorPage('Bad request', 'not a URL'));
    }
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (path === STYLESHEET_PATH && (method === 'GET' || method === 'HEAD')) return sendBytes(res, 200, 'text/css; charset=utf-8', deps.stylesheet);
    if (path === '/healthz') return sendBytes(res, 200, 'text/plain; charset=utf-8', 'ok');
    // Browsers ask for it on every first visit; there is none, and that is no error.
    if (path === '/favicon.ico') return void res.writeHead(204).end();
    if (path === '/login') {
      if (method === 'POST') return login(req, res);
      if (method !== 'GET' && method !== 'HEAD') return sendHtml(res, 405, errorPage('Method not allowed', 'use GET or POST'), { Allow: 'GET, HEAD, POST' });
      return sendHtml(res, 200, loginPage());
    }
    if (path === '/logout') {
      if (method !== 'POST') return sendHtml(res, 405, errorPage('Method not allowed', 'log out with the button (POST)'), { Allow: 'POST' });
      return logout(req, res);
    }
    if (method !== 'GET' && method !== 'HEAD') return sendHtml(res, 405, errorPage('Method not allowed', 'these pages are read-only'), { Allow: 'GET, HEAD' });
    const caller = await identify(req);
    if ('refused' in caller) {
      if (caller.refused === 'bearer') return sendHtml(res, 401, errorPage('Unauthorized', 'the cluster did not accept this bearer token'), { 'WWW-Authenticate': 'Bearer' });
      return sendHtml(res, 401, loginPage('Your session ended. Sign in again.'), { 'Set-Cookie': clearedSessionCookie() });
    }
    if ('none' in caller) return redirect(res, '/login');
    const release = renders.acquire(caller.user.username);
    if (!release) return sendHtml(res, 503, errorPage('Busy', 'too many pages are being prepared at once; try again in a moment', caller.user), { 'Retry-After': RETRY_AFTER_SECONDS });
    try {
      await routes.handle(caller.user, url, res);
    } finally {
      release();
    }
  }

  return {
    listener(req, res) {
      handle(req, res).catch((err: unknown) => {
        if (err instanceof ReleaseReadLimitError) {
          // Records a tenant wrote, too large to show: the page says so; nothing partial is shown.
          log.warn({ namespace: err.namespace, release: err.release, limit: err.limit }, 'release records over the read limit');
          if (res.headersSent) return void res.destroy();
          securityHeaders(res);
          return sendHtml(res, 413, errorPage('Too large', err.message));
        }
        log.error({ err: (err as Error)?.message ?? String(err), path: req.url?.split('?')[0] }, 'web view request failed');
        if (res.headersSent) return void res.destroy();
        securityHeaders(res);
        sendHtml(res, 503, errorPage('Unavailable', 'the cluster could not be asked; try again shortly'));
      });
    },
  };
}
