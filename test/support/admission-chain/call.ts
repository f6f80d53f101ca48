/**
 * One webhook HTTP call as kube-apiserver's webhook client makes it (`K/apiserver/pkg/util/webhook`,
 * client-go `rest.Request`): HTTPS POST over HTTP/1.1 to `https://<svc>.<ns>.svc:<port><path>?timeout=Ns`,
 * trusting only the configuration's caBundle and verifying the Service DNS name; aborted at the
 * deadline; retried on 429/5xx with a numeric Retry-After while time is left. Failures come back in
 * client-go's words (`Post "<url>": context deadline exceeded`, `x509: certificate signed by unknown
 * authority`, `an error on the server ("…") has prevented the request from succeeding`), because
 * that text is what users see inside `failed calling webhook "…": failed to call webhook: …`.
 */
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest, type Agent, type RequestOptions } from 'node:https';
import type { ServiceResolver, WebhookClientConfig } from './types.js';

/** client-go's default `maxRetries`: a retryable answer is sent again at most this often. */
const MAX_RETRIES = 10;
/** client-go's maxUnstructuredResponseTextBytes: it quotes at most this much of a non-Status error body. */
const MAX_ERROR_BODY_CHARS = 2048;

/** Where a call goes: the URL the apiserver names in errors, and the address really dialled. */
export interface CallTarget {
  /** `https://tracegate.tracegate.svc:443/validate` (no query). */
  url: string;
  /** The host name the certificate must be valid for. */
  servername: string;
  /** The `Host` header. */
  hostHeader: string;
  path: string;
  dial: { host: string; port: number };
  /** PEM certificates of the caBundle; `undefined` means the default roots. */
  ca: string[] | undefined;
}

/** The parsed body of a successful (2xx) call, or why the call failed. */
export type CallResult = { ok: true; status: number; body: unknown } | { ok: false; error: string };

/**
 * The call target of a clientConfig. Fails like `GetRESTClient` when the caBundle holds no PEM
 * certificate (`could not get REST client: unable to load root certificates: …`), and like a dial
 * when the resolver throws (a Service that does not exist). Errors follow `failed calling webhook "…": `.
 */
export function callTarget(cc: WebhookClientConfig, resolve: ServiceResolver): { ok: true; value: CallTarget } | { ok: false; error: string } {
  let ca: string[] | undefined;
  if (cc.caBundle !== undefined && cc.caBundle !== '') {
    const pems = Buffer.from(cc.caBundle, 'base64').toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const valid = pems.filter((p) => {
      try {
        new X509Certificate(p);
        return true;
      } catch {
        return false;
      }
    });
    if (valid.length === 0) return { ok: false, error: 'could not get REST client: unable to load root certificates: unable to parse bytes as PEM block' };
    ca = valid;
  }
  if (cc.service !== undefined) {
    const { name, namespace, port } = cc.service;
    const servername = `${name}.${namespace}.svc`;
    const path = cc.service.path ?? '/';
    const url = `https://${servername}:${port}${path}`;
    let dial: { host: string; port: number };
    try {
      dial = resolve(namespace, name, port);
    } catch (err) {
      // The apiserver resolves the Service when it dials, so the error names the request.
      return { ok: false, error: `failed to call webhook: Post ${JSON.stringify(url)}: ${(err as Error).message}` };
    }
    return { ok: true, value: { url, servername, hostHeader: `${servername}:${port}`, path, dial, ca } };
  }
  let parsed: URL;
  try {
    parsed = new URL(cc.url ?? '');
  } catch (err) {
    return { ok: false, error: `could not get REST client: ${(err as Error).message}` };
  }
  // An https URL without a port means 443.
  const port = parsed.port === '' ? 443 : Number(parsed.port);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const path = parsed.pathname === '' ? '/' : parsed.pathname;
  return { ok: true, value: { url: `${parsed.protocol}//${parsed.host}${path}`, servername: host, hostHeader: parsed.host, path, dial: { host, port }, ca } };
}

/** Go's `time.Duration.String()` for whole seconds: `5s`, `1m0s`. */
export function goSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${m}m${s}s` : `${m}m${s}s`;
}

/** Node's TLS and socket errors in the words of Go's crypto/tls, x509 and net packages. */
function goNetError(err: NodeJS.ErrnoException, target: CallTarget): string {
  const code = err.code ?? '';
  const dial = `${target.dial.host}:${target.dial.port}`;
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_SIGNATURE_FAILURE':
      return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID': {
      const names = /Cert's? (?:altnames|is): (.*)$/.exec(err.message)?.[1] ?? '';
      const list = names.split(',').map((n) => n.trim().replace(/^(DNS|IP Address):/, '')).filter(Boolean);
      return `tls: failed to verify certificate: x509: certificate is valid for ${list.join(', ')}, not ${target.servername}`;
    }
    case 'ECONNREFUSED':
      return `dial tcp ${dial}: connect: connection refused`;
    case 'ENOTFOUND':
      return `dial tcp: lookup ${target.dial.host}: no such host`;
    case 'ECONNRESET':
    case 'EPIPE':
      return 'EOF';
    default:
      return err.message;
  }
}

/** client-go's `NewGenericServerResponse` message for a non-Status error body. */
function genericServerMessage(code: number, text: string): string {
  switch (code) {
    case 400:
      return 'the server rejected our request for an unknown reason';
    case 401:
      return 'the server has asked for the client to provide credentials';
    case 403:
      return text;
    case 404:
      return 'the server could not find the requested resource';
    case 405:
      return 'the server does not allow this method on the requested resource';
    case 406:
      return text === '' || text === 'unknown' ? 'the server was unable to respond with a content type that the client supports' : text;
    case 409:
      return 'the server reported a conflict';
    case 415:
      return text;
    case 422:
      return 'the server rejected our request due to an error in our request';
    case 429:
      return 'the server has received too many requests and has asked us to try again later';
    case 503:
      return 'the server is currently unable to handle the request';
    case 504:
      return 'the server was unable to return a response in the time allotted, but may still be processing the request';
    default:
      return code >= 500 ? `an error on the server (${JSON.stringify(text)}) has prevented the request from succeeding` : `the server responded with the status code ${code} but did not return more information`;
  }
}

/** The error client-go makes of a non-2xx answer: the Status it carries, else a generic one. */
function statusError(code: number, contentType: string, text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && (parsed as Record<string, unknown>)['kind'] === 'Status') {
      const message = (parsed as Record<string, unknown>)['message'];
      if (typeof message === 'string' && message !== '') return message;
    }
  } catch {
    // Not JSON: fall through to the generic message.
  }
  // client-go quotes the body only for text/* responses.
  const quoted = /^text\//i.test(contentType) ? text.slice(0, MAX_ERROR_BODY_CHARS).trim() : 'unknown';
  return genericServerMessage(code, quoted);
}

interface RawAnswer {
  status: number;
  contentType: string;
  retryAfter: string | undefined;
  text: string;
}

function post(target: CallTarget, pathWithQuery: string, body: string, agent: Agent, signal: AbortSignal): Promise<RawAnswer> {
  return new Promise((ok, fail) => {
    // ALPNProtocols is passed on to tls.connect, though https.RequestOptions does not declare it.
    const options: RequestOptions & { ALPNProtocols: string[] } = {
      host: target.dial.host,
      port: target.dial.port,
      method: 'POST',
      path: pathWithQuery,
      servername: target.servername,
      ...(target.ca !== undefined ? { ca: target.ca } : {}),
      // Service-referenced webhooks are forced to HTTP/1.1 (kubernetes/kubernetes#75791).
      ALPNProtocols: ['http/1.1'],
      agent,
      signal,
      headers: {
        Host: target.hostHeader,
        'Content-Type': 'application/json',
        Accept: 'application/json, */*',
        'User-Agent': 'kube-apiserver-admission',
        'Content-Length': Buffer.byteLength(body),
      },
    };
    const req = httpsRequest(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        const retry = res.headers['retry-after'];
        ok({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'] ?? '',
          retryAfter: Array.isArray(retry) ? retry[0] : retry,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.on('error', fail);
    req.end(body);
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((ok) => {
    const timer = setTimeout(ok, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      ok();
    });
  });
}

/**
 * POSTs `body` to the webhook and resolves (never rejects) with the decoded 2xx body or the
 * error text that follows `failed to call webhook: `. `deadline` is absolute (ms since epoch).
 */
export async function callWebhook(target: CallTarget, query: string, body: string, deadline: number, agent: Agent): Promise<CallResult> {
  const suffix = query === '' ? '' : `?${query}`;
  const url = `${target.url}${suffix}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - Date.now()));
  try {
    for (let attempt = 1; ; attempt++) {
      let answer: RawAnswer;
      try {
        answer = await post(target, `${target.path}${suffix}`, body, agent, controller.signal);
      } catch (err) {
        if (controller.signal.aborted) return { ok: false, error: `Post ${JSON.stringify(url)}: context deadline exceeded` };
        return { ok: false, error: `Post ${JSON.stringify(url)}: ${goNetError(err as NodeJS.ErrnoException, target)}` };
      }
      const retryAfter = answer.retryAfter !== undefined && /^\d+$/.test(answer.retryAfter) ? Number(answer.retryAfter) : undefined;
      const retryable = (answer.status === 429 || answer.status >= 500) && retryAfter !== undefined;
      if (retryable && attempt <= MAX_RETRIES && Date.now() + retryAfter * 1000 < deadline) {
        await sleep(retryAfter * 1000, controller.signal);
        continue;
      }
      if (answer.status < 200 || answer.status > 299) return { ok: false, error: statusError(answer.status, answer.contentType, answer.text) };
      if (answer.text.length === 0) return { ok: false, error: `0-length response with status code: ${answer.status} and content type: ${answer.contentType}` };
      try {
        return { ok: true, status: answer.status, body: JSON.parse(answer.text) as unknown };
      } catch (err) {
        return { ok: false, error: `couldn't get version/kind; json parse error: ${(err as Error).message}` };
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
