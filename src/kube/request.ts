/**
 * GET requests to the API server over node:http(s), for the gate's lean namespace cache: open a
 * request with the connection's current settings, read a bounded JSON body, and turn a non-2xx answer
 * into a KUBE_API error carrying the Status message. Messages name the path only, never the server URL
 * (its path may carry a secret) or any header.
 */
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { TracegateError } from '../errors.js';
import { isRecord } from '../k8s/types.js';
import type { KubeConnection } from './connection.js';

/** Sent on every request, so the API server's audit log names the caller. */
const USER_AGENT = 'tracegate';
/** Enough for a Status body; anything longer is cut, never buffered whole. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** One GET. */
export interface KubeGet {
  /** Path below the server URL, e.g. `/api/v1/namespaces`. */
  path: string;
  /** Query parameters; `undefined` values are left out. */
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** The request fails when the socket is silent this long (before or during the body). */
  idleTimeoutMs: number;
}

/** Resolves with the response once its headers arrive (any status); rejects on connection errors. */
export async function kubeGet(connection: KubeConnection, get: KubeGet): Promise<IncomingMessage> {
  const settings = await connection.settings();
  const base = connection.server;
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(get.query ?? {})) if (v !== undefined) query.set(k, v);
  const qs = query.toString();
  const secure = base.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  return new Promise<IncomingMessage>((ok, fail) => {
    let response: IncomingMessage | undefined;
    const req = send(
      {
        method: 'GET',
        // URL keeps IPv6 hosts in brackets; the socket layer wants the bare address.
        hostname: base.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: base.port === '' ? undefined : Number(base.port),
        path: `${base.pathname.replace(/\/$/, '')}${get.path}${qs === '' ? '' : `?${qs}`}`,
        headers: { Accept: 'application/json', 'User-Agent': USER_AGENT, ...settings.headers },
        ...(secure ? settings.tls : {}),
        ...(settings.agent ? { agent: settings.agent } : {}),
        ...(get.signal ? { signal: get.signal } : {}),
      },
      (res) => {
        response = res;
        ok(res);
      },
    );
    req.setTimeout(get.idleTimeoutMs, () => {
      const err = new Error(`GET ${get.path}: no data from the API server for ${Math.round(get.idleTimeoutMs / 1000)} s`);
      if (response) response.destroy(err);
      else req.destroy(err);
    });
    req.on('error', fail);
    req.end();
  });
}

/** The whole body as text; fails past `maxBytes` rather than buffering without bound. */
export async function readText(res: IncomingMessage, maxBytes: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      res.destroy();
      throw new TracegateError('KUBE_API', `${what}: response larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A KUBE_API error for a non-2xx answer, with the Status message when the body has one; `details.status` is the HTTP status. */
export async function apiError(res: IncomingMessage, what: string): Promise<TracegateError> {
  const status = res.statusCode ?? 0;
  let message = res.statusMessage ?? '';
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (size < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
      size += chunk.length;
    }
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY_BYTES));
    if (isRecord(body) && typeof body['message'] === 'string') message = body['message'];
  } catch {
    // Not a Status (a proxy's HTML page, a cut body): the status line is all there is.
  }
  return new TracegateError('KUBE_API', `${what}: HTTP ${status}${message ? `: ${message}` : ''}`, { status });
}

/** The HTTP status of an error from {@link apiError}, if it is one. */
export function apiErrorStatus(err: unknown): number | undefined {
  if (!(err instanceof TracegateError) || err.code !== 'KUBE_API') return undefined;
  const status = err.details['status'];
  return typeof status === 'number' ? status : undefined;
}
