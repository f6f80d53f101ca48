/**
 * The real gate, started in-process on 127.0.0.1:0 with development certificates in a temp dir, and
 * an HTTPS client that trusts only the gate's CA bundle and checks a Service DNS name from the
 * certificate — as the apiserver does. Also builds AdmissionReviews (mutating-stage shape) from real
 * kubectl objects and reads the admission fixtures in test/fixtures/admission. One harness per test file keeps suites fast.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { buildConfig, type GateConfig } from '../../src/config.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { createLoggers } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { startGate, type RunningGate } from '../../src/server/gate.js';

/** The repository root; the gate resolves relative paths (bundled policies, namespaces file) from it. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A DNS name in the development certificate (`<svc>.<ns>.svc`, the name the apiserver verifies). */
export const GATE_SERVERNAME = 'tracegate.tracegate.svc';

/** Namespaces of the test cluster: tenants come from the `tracegate.io/tenant` label; `sandbox` has none. */
export const TEST_NAMESPACES_YAML = `apiVersion: v1
kind: List
items:
  - { apiVersion: v1, kind: Namespace, metadata: { name: team-a, labels: { tracegate.io/tenant: team-a } } }
  - { apiVersion: v1, kind: Namespace, metadata: { name: team-b, labels: { tracegate.io/tenant: team-b } } }
  - { apiVersion: v1, kind: Namespace, metadata: { name: shop, labels: { tracegate.io/tenant: shop } } }
  - { apiVersion: v1, kind: Namespace, metadata: { name: sandbox } }
`;

/** Status, headers and body of one HTTP exchange; `json` is the parsed body, or undefined when not JSON. */
export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** `any` on purpose: tests walk nested review fields and assert on each. */
  json: any;
}

/** Every line the gate logged, raw and parsed. */
export interface LogCapture {
  lines: string[];
  records(): Record<string, unknown>[];
  text(): string;
}

/** Options of one raw request. `agent: false` forces a fresh connection; `ca` replaces the trusted CA. */
export interface RawRequest {
  method?: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string | number>;
  agent?: Agent | false;
  ca?: string | Buffer;
}

/** A running gate and a client for it; `close()` when the test file is done. */
export interface GateHarness {
  gate: RunningGate;
  config: Readonly<GateConfig>;
  port: number;
  /** The CA bundle file (in the temp cert dir) and its PEM: the only trust anchor of the client. */
  caFile: string;
  caPem: string;
  certDir: string;
  logs: LogCapture;
  /** Keep-alive agent shared by `request`, `review` and `get`. */
  agent: Agent;
  request(opts: RawRequest): Promise<HttpResult>;
  /** POSTs an AdmissionReview (objects are JSON-encoded, strings and Buffers sent as they are). */
  review(path: string, body: unknown, opts?: { query?: string; headers?: Record<string, string | number> }): Promise<HttpResult>;
  get(path: string): Promise<HttpResult>;
  /** Options for `tls.connect` to the gate, trusting only its CA. */
  tlsOptions(): { host: string; port: number; ca: string; servername: string };
  /** Shuts the gate down (if not already), drops connections and deletes the temp dir. */
  close(): Promise<void>;
}

/** Starts a gate. `config` overrides the test defaults; `namespacesYaml` replaces {@link TEST_NAMESPACES_YAML}. */
export async function startGateHarness(opts: { config?: Partial<Record<keyof GateConfig, unknown>>; namespacesYaml?: string } = {}): Promise<GateHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'tracegate-gate-'));
  const certDir = join(dir, 'certs');
  const namespacesFile = join(dir, 'namespaces.yaml');
  await writeFile(namespacesFile, opts.namespacesYaml ?? TEST_NAMESPACES_YAML);
  const config = buildConfig({}, {
    port: 0,
    host: '127.0.0.1',
    devCertDir: certDir,
    shutdownDelayMs: 0,
    tenancy: 'file',
    namespacesFile,
    ...opts.config,
  });
  const lines: string[] = [];
  const { log, decisions } = createLoggers({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
  const gate = await startGate({ config, log, decisionLog: decisions, env: {}, cwd: REPO_ROOT, metrics: createMetrics({ defaults: false }) });
  if (!gate.caFile) throw new Error('the gate issued no development CA; the harness needs one');
  const caFile = gate.caFile;
  const caPem = await readFile(caFile, 'utf8');
  const agent = new Agent({ keepAlive: true });

  const request = (r: RawRequest): Promise<HttpResult> =>
    new Promise((ok, fail) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: gate.port,
          method: r.method ?? 'GET',
          path: r.path,
          ca: r.ca ?? caPem,
          servername: GATE_SERVERNAME,
          agent: r.agent ?? agent,
          headers: r.headers ?? {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', fail);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            ok({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        },
      );
      req.on('error', fail);
      req.end(r.body);
    });

  let closed = false;
  return {
    gate,
    config,
    port: gate.port,
    caFile,
    caPem,
    certDir,
    logs: {
      lines,
      records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
      text: () => lines.join(''),
    },
    agent,
    request,
    review(path, body, o = {}) {
      const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      return request({
        method: 'POST',
        path: o.query ? `${path}?${o.query}` : path,
        body: payload,
        headers: { 'content-type': 'application/json', accept: 'application/json, */*', ...o.headers },
      });
    },
    get: (path) => request({ path }),
    tlsOptions: () => ({ host: '127.0.0.1', port: gate.port, ca: caPem, servername: GATE_SERVERNAME }),
    async close() {
      if (closed) return;
      closed = true;
      agent.destroy();
      await gate.shutdown('test finished', { delayMs: 0 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An AdmissionReview envelope around a request, as the apiserver sends it. */
export function envelope(request: unknown): { apiVersion: 'admission.k8s.io/v1'; kind: 'AdmissionReview'; request: any } {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

/** Options of {@link reviewFor}. */
export interface ReviewOptions {
  operation?: 'CREATE' | 'UPDATE' | 'DELETE';
  oldObject?: KubeObject | null;
  username?: string;
  groups?: string[];
  fieldManager?: string;
  dryRun?: boolean;
  uid?: string;
  namespace?: string;
  /** `validating`: send the object's metadata as given (the registry has set uid, creationTimestamp, …). */
  stage?: 'mutating' | 'validating';
}

const SYSTEM_FIELDS = ['uid', 'creationTimestamp', 'resourceVersion', 'generation'] as const;

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** The object as the apiserver stores it after a CREATE: uid, creationTimestamp, resourceVersion, generation set. */
export function storedObject(obj: KubeObject, opts: { resourceVersion?: string; generation?: number } = {}): KubeObject {
  const out = clone(obj);
  out.metadata = {
    ...out.metadata,
    uid: out.metadata?.uid ?? randomUUID(),
    creationTimestamp: out.metadata?.creationTimestamp ?? '2026-03-02T09:14:07Z',
    resourceVersion: opts.resourceVersion ?? '1000',
    generation: opts.generation ?? out.metadata?.generation ?? 1,
  };
  return out;
}

/**
 * A v1 review of `object` in the shape a mutating webhook sees (reference/admission-protocol.md §3):
 * on CREATE no uid/creationTimestamp/resourceVersion/generation; on UPDATE those of the old object
 * (unless `stage: 'validating'`, which sends the object as given).
 * `group/version/kind` come from the object, the resource is the lower-case plural of the kind.
 */
export function reviewFor(object: KubeObject | null, opts: ReviewOptions = {}): ReturnType<typeof envelope> {
  const oldObject = opts.oldObject ?? null;
  const operation = opts.operation ?? (oldObject ? 'UPDATE' : 'CREATE');
  const source = object ?? oldObject;
  const [group, version] = (source?.apiVersion ?? 'v1').includes('/') ? (source!.apiVersion!.split('/') as [string, string]) : ['', source?.apiVersion ?? 'v1'];
  const kind = source?.kind ?? 'Deployment';
  let obj: KubeObject | null = object ? clone(object) : null;
  if (obj && opts.stage !== 'validating') {
    const meta: Record<string, unknown> = { ...obj.metadata };
    for (const f of SYSTEM_FIELDS) {
      const fromOld = oldObject?.metadata?.[f];
      if (fromOld !== undefined) meta[f] = fromOld;
      else delete meta[f];
    }
    obj = { ...obj, metadata: meta };
  }
  const optionsKind = operation === 'CREATE' ? 'CreateOptions' : operation === 'UPDATE' ? 'UpdateOptions' : 'DeleteOptions';
  const gvr = { group, version, resource: `${kind.toLowerCase()}s` };
  return envelope({
    uid: opts.uid ?? randomUUID(),
    kind: { group, version, kind },
    resource: gvr,
    requestKind: { group, version, kind },
    requestResource: gvr,
    name: source?.metadata?.name,
    namespace: opts.namespace ?? source?.metadata?.namespace,
    operation,
    userInfo: { username: opts.username ?? 'alice@example.com', groups: [...(opts.groups ?? ['developers']), 'system:authenticated'] },
    object: obj,
    oldObject: oldObject ? clone(oldObject) : null,
    dryRun: opts.dryRun ?? false,
    options: {
      kind: optionsKind,
      apiVersion: 'meta.k8s.io/v1',
      ...(opts.dryRun ? { dryRun: ['All'] } : {}),
      ...(opts.fieldManager !== undefined ? { fieldManager: opts.fieldManager } : {}),
    },
  });
}

const FIXTURE_ROOT = fileURLToPath(new URL('../fixtures/admission/', import.meta.url));

/** One shared fixture as a postable review (request-only captures are wrapped in an envelope). */
export interface AdmissionFixture {
  name: string;
  review: ReturnType<typeof envelope>;
}

/** Every request fixture in captured/ and constructed/ (response examples are left out). */
export function admissionFixtures(): AdmissionFixture[] {
  const out: AdmissionFixture[] = [];
  for (const sub of ['captured', 'constructed']) {
    for (const file of readdirSync(join(FIXTURE_ROOT, sub)).sort()) {
      if (!file.endsWith('.json')) continue;
      const parsed = JSON.parse(readFileSync(join(FIXTURE_ROOT, sub, file), 'utf8')) as Record<string, unknown>;
      if ('response' in parsed) continue;
      out.push({ name: `${sub}/${file}`, review: 'request' in parsed ? (parsed as ReturnType<typeof envelope>) : envelope(parsed) });
    }
  }
  return out;
}

/** One fixture by its `captured/…` or `constructed/…` name. */
export function admissionFixture(name: string): ReturnType<typeof envelope> {
  const found = admissionFixtures().find((f) => f.name === name);
  if (!found) throw new Error(`no admission fixture ${name}`);
  return clone(found.review);
}

/** One HTTP/1.1 response read off a raw connection. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  /** The body parsed as JSON, or undefined. */
  json: any;
}

/** `POST <path>` as raw HTTP/1.1 bytes with a Content-Length, for pipelining on one connection. */
export function rawPost(path: string, body: string | Buffer, headers: Record<string, string | number> = {}): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const all: Record<string, string | number> = { host: 'tracegate', 'content-type': 'application/json', 'content-length': payload.length, ...headers };
  const head = `POST ${path} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head), payload]);
}

/** Splits complete Content-Length-framed responses off the front of `buf`; returns the rest. */
function takeResponses(buf: Buffer, out: RawResponse[]): Buffer {
  for (;;) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return buf;
    const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (buf.length < end + 4 + length) return buf;
    const body = buf.subarray(end + 4, end + 4 + length).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body, json });
    buf = buf.subarray(end + 4 + length);
  }
}

/** A raw TLS connection to a gate that collects the responses it reads. */
export interface RawConnection {
  socket: TLSSocket;
  responses: RawResponse[];
  /** Resolves once `n` responses arrived or the server closed the connection, whichever is first. */
  responsesOrClose(n: number): Promise<{ responses: RawResponse[]; closed: boolean }>;
  /** Resolves when the connection is closed (by either side). */
  closed: Promise<void>;
}

/** Opens a TLS connection with `tlsOptions` (see GateHarness.tlsOptions) and waits for the handshake. */
export function openRaw(tlsOptions: ConnectionOptions): Promise<RawConnection> {
  return new Promise((ok, fail) => {
    const socket = tlsConnect(tlsOptions, () => {
      socket.off('error', fail);
      ok(conn);
    });
    socket.once('error', fail);
    const responses: RawResponse[] = [];
    let pending: Buffer = Buffer.alloc(0);
    let isClosed = false;
    const waiters: Array<() => void> = [];
    const wake = () => {
      for (const w of waiters.splice(0)) w();
    };
    socket.on('data', (d: Buffer) => {
      pending = takeResponses(Buffer.concat([pending, d]), responses);
      wake();
    });
    // A reset after the answers is the server closing; the answers read before it count.
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => ((isClosed = true), wake(), r())));
    const conn: RawConnection = {
      socket,
      responses,
      closed,
      responsesOrClose(n) {
        return new Promise((r) => {
          const check = () => {
            if (responses.length >= n || isClosed) r({ responses: [...responses], closed: isClosed });
            else waiters.push(check);
          };
          check();
        });
      },
    };
  });
}

/** A gate running as its own process (`node --import tsx src/main.ts serve …`), as `npm start` runs it. */
export interface GateProcess {
  child: ChildProcess;
  /** The gate's own pid (with `npm start`, npm's child, not npm). */
  pid: number;
  port: number;
  caPem: string;
  tlsOptions(): ConnectionOptions;
  /** Every log line so far (stdout; JSON). */
  logText(): string;
  /** Resolves with the exit code (or signal) of `child`. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once `child`'s stdout and stderr are closed: every log line has been read. */
  outputClosed: Promise<void>;
  /** SIGKILLs whatever still runs and removes the temp dir. */
  cleanup(): Promise<void>;
}

/**
 * Starts the gate as a separate process with development certificates in a temp dir, on 127.0.0.1 and
 * a free port, tenancy from the test namespaces. `via: 'npm'` runs `npm start -- <args>` instead, so the
 * package's start script is what is tested. Resolves once the gate logs that it listens.
 */
export async function startGateProcess(opts: { args?: string[]; env?: Record<string, string>; via?: 'node' | 'npm' } = {}): Promise<GateProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'tracegate-proc-'));
  const namespacesFile = join(dir, 'namespaces.yaml');
  await writeFile(namespacesFile, TEST_NAMESPACES_YAML);
  const gateArgs = ['--port', '0', '--host', '127.0.0.1', '--cert-dir', join(dir, 'certs'), '--namespaces-file', namespacesFile, ...(opts.args ?? [])];
  const env = { ...process.env, npm_config_update_notifier: 'false', ...opts.env };
  const child =
    opts.via === 'npm'
      ? spawn('npm', ['start', '--silent', '--', ...gateArgs], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve', ...gateArgs], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const outputClosed = new Promise<void>((r) => child.once('close', () => r()));
  const listening = await new Promise<{ port: number; pid: number }>((ok, fail) => {
    const look = () => {
      for (const line of out.split('\n')) {
        if (!line.includes('tracegate gate listening')) continue;
        const rec = JSON.parse(line) as { port: number; pid: number };
        child.stdout!.off('data', look);
        ok({ port: rec.port, pid: rec.pid });
        return;
      }
    };
    child.stdout!.on('data', look);
    void exited.then(({ code, signal }) => fail(new Error(`the gate exited (${code ?? signal}) before listening:\n${err}\n${out}`)));
  });
  const caPem = await readFile(join(dir, 'certs', 'ca.crt'), 'utf8');
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    child,
    pid: listening.pid,
    port: listening.port,
    caPem,
    tlsOptions: () => ({ host: '127.0.0.1', port: listening.port, ca: caPem, servername: GATE_SERVERNAME }),
    logText: () => out,
    exited,
    outputClosed,
    async cleanup() {
      for (const pid of [listening.pid, child.pid]) if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
