/**
 * The HTTP edges of the web view: the security headers every answer carries, HTML and file answers,
 * the session cookie, the bearer token, a capped form body, and a same-origin check for POSTs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SafeHtml } from './html.js';

/**
 * Nothing but the stylesheet and same-origin forms: no script, no inline style, no framing, no base
 * rewriting. A tenant's hostile annotation that slipped past escaping still could not run.
 */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** `__Host-`: the browser accepts it only with Secure, Path=/ and no Domain (RFC 6265bis cookie prefixes). */
export const SESSION_COOKIE = '__Host-tracegate-session';

/** Headers every answer carries, errors included. */
export function securityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Frame-Options', 'DENY');
  // HTTPS only, as the server is: a year, the usual preload-eligible minimum.
  res.setHeader('Strict-Transport-Security', 'max-age=31536000');
}

/** Sends a page. */
export function sendHtml(res: ServerResponse, status: number, page: SafeHtml, headers: Record<string, string> = {}): void {
  const body = page.text;
  res.writeHead(status, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body);
}

/** Sends bytes of a given type (stylesheet, exports). */
export function sendBytes(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) }).end(body);
}

/** Redirect after a POST (303: the browser follows with GET). */
export function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { ...headers, Location: location, 'Content-Length': 0 }).end();
}

/** The session cookie for a new session, living as long as the server keeps the session. */
export function sessionCookie(id: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${id}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}`;
}

/** The cookie that removes it. */
export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0`;
}

/** The session id from the Cookie header (the last one wins, as the header lists them in any order). */
export function sessionIdOf(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) found = part.slice(eq + 1).trim();
  }
  return found || undefined;
}

/** The token of `Authorization: Bearer …` (curl's way in). */
export function bearerOf(req: IncomingMessage): string | undefined {
  const m = /^Bearer +(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/** What reading a form body gave. */
export type FormResult = { ok: true; form: URLSearchParams } | { ok: false; status: 413 | 415 | 400; message: string };

/**
 * An `application/x-www-form-urlencoded` body of at most `limit` bytes. A longer one is refused (413)
 * as soon as it passes the limit, without reading the rest; the connection is then closed.
 */
export async function readForm(req: IncomingMessage, limit: number): Promise<FormResult> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return { ok: false, status: 415, message: 'send the form as application/x-www-form-urlencoded' };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return { ok: false, status: 413, message: 'the form is too large' };
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) return { ok: false, status: 413, message: 'the form is too large' };
      chunks.push(chunk);
    }
  } catch {
    return { ok: false, status: 400, message: 'the form could not be read' };
  }
  return { ok: true, form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) };
}

/**
 * A POST from another site is refused (the session cookie is SameSite=Strict already). Browsers say
 * where a request comes from in `Sec-Fetch-Site` (Fetch Metadata; every current browser sends it);
 * under `Referrer-Policy: no-referrer` their Origin header is `null` even for this site's own forms
 * (Fetch: "serializing a request origin"), but so it is for a form posted from a sandboxed frame or a
 * `data:` page on another site. So without Fetch Metadata an Origin of `null` is refused (a login
 * CSRF would sign the victim in as the attacker), an Origin naming this host passes, and a request
 * with neither (curl, scripts: no ambient cookie to abuse) passes.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (origin === 'null') return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
