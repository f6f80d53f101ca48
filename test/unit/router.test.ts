/**
 * The router reads a request target as the WHATWG URL parser does: the apiserver's plain
 * `/validate?timeout=10s` without building a URL, and every odd target (absolute-form, `//host/…`, dot
 * segments, percent-encoding, fragments, controls) exactly as the parser reads it, so no spelling reaches
 * another route than it did, and `?timeout=` has the same values.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { AdmissionRequest } from '../../src/admission/types.js';
import { baseDecision, type Handled } from '../../src/admission/validate.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { createRequestListener, parseTarget } from '../../src/server/app.js';
import { createBodyBudget } from '../../src/server/body-budget.js';

/** What the router used to do with every target: the URL parser's path and all `timeout` values. */
function viaUrl(target: string): { path: string; timeout: string[] } | undefined {
  let url: URL;
  try {
    url = new URL(target, 'http://gate.invalid');
  } catch {
    return undefined;
  }
  return { path: url.pathname, timeout: url.searchParams.getAll('timeout') };
}

function viaParseTarget(target: string): { path: string; timeout: string[] } | undefined {
  const t = parseTarget(target);
  return t && { path: t.path, timeout: t.params?.getAll('timeout') ?? [] };
}

const ODD_TARGETS = [
  '/validate',
  '/validate/',
  '/validate?timeout=10s',
  '/mutate?timeout=10s&timeout=5s',
  '/validate?timeout=1%200s&x=%zz&timeout=a+b',
  '/validate?',
  '/validate?timeout',
  '/validate?=x&timeout=',
  '/validate?timeout=10s#fragment',
  '/validate#fragment?timeout=3s',
  '/validate?timeout=10s\u0001',
  '/validate?timeout=1\t0s',
  '/validate?timeout=10s ',
  '/validate?tim%65out=2s',
  '/validate?timeout=%C3%A4&timeout=\u00e4',
  '/validate?timeout="<>\'`',
  'http://gate.example/validate?timeout=5s',
  'https://gate.example:8443/mutate/?timeout=1s',
  'HTTP://GATE/validate',
  '//gate.example/validate?timeout=4s',
  '//validate',
  '///validate',
  '/validate//',
  '/%76alidate',
  '/%2e/validate',
  '/./validate',
  '/x/../validate',
  '/validate/.',
  '/validate/..',
  '/validate\\',
  '\\validate',
  '/VALIDATE',
  '/val idate',
  '/v\u00e4lidate',
  '/healthz?verbose',
  '*',
  '',
  '?timeout=1s',
  'validate',
  'http://[::1',
  'http://exa mple/validate',
  '/a_b-c/d1?timeout=x',
];

/** A small deterministic generator (the fuzz cases are the same on every run). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const PIECES = ['/', '//', 'validate', 'mutate', 'healthz', '?', '&', '=', 'timeout', '10s', '#', '%', '%2e', '%2F', '%76', '.', '..', '\\', ' ', '\t', '\n', '\u0000', '\u0001', '\u007f', '\u00e4', '+', ':', '@', 'http:', ';', '%20', '%zz', '-', '_', 'A'];

describe('parseTarget', () => {
  it('reads every odd target as the URL parser does', () => {
    for (const target of ODD_TARGETS) assert.deepEqual(viaParseTarget(target), viaUrl(target), JSON.stringify(target));
  });

  it('reads 20,000 generated targets as the URL parser does', () => {
    const random = lcg(12);
    for (let n = 0; n < 20_000; n++) {
      const parts = n % 2 === 0 ? ['/'] : [];
      const count = 1 + Math.floor(random() * 8);
      for (let i = 0; i < count; i++) parts.push(PIECES[Math.floor(random() * PIECES.length)]!);
      const target = parts.join('');
      assert.deepEqual(viaParseTarget(target), viaUrl(target), JSON.stringify(target));
    }
  });

  it('takes the apiserver\'s plain targets without a query as having none', () => {
    assert.deepEqual(parseTarget('/validate'), { path: '/validate', params: undefined });
    assert.deepEqual(parseTarget('/mutate?timeout=10s')?.params?.getAll('timeout'), ['10s']);
  });
});

/** A review the webhook handler decodes (the stub handlers do not read it). */
const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'r-1',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    operation: 'DELETE',
    userInfo: { username: 'alice' },
    object: null,
    oldObject: null,
  },
});

describe('the router on the wire', () => {
  const calls: string[] = [];
  let server: Server;
  let port = 0;

  const stub =
    (webhook: 'validate' | 'mutate') =>
    (request: AdmissionRequest): Handled => {
      calls.push(webhook);
      return { response: { uid: request.uid, allowed: true }, decision: baseDecision(webhook, request) };
    };

  before(async () => {
    const listener = createRequestListener({
      validate: stub('validate'),
      mutate: stub('mutate'),
      metrics: createMetrics({ defaults: false }),
      log: createLogger({ level: 'silent' }),
      notReady: () => [],
      policiesView: () => ({}),
      bodyBudget: createBodyBudget(1 << 20),
      bodyLimitBytes: 1 << 20,
      minBodyBytesPerSecond: 0,
      bodyRateGraceMs: 0,
      maxRequestTimeoutMs: 30_000,
    });
    server = createServer(listener);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(() => server.close());

  /** Sends one raw request line (the target exactly as given) and returns the status and the handler it reached. */
  async function send(method: string, target: string): Promise<{ status: number; handler: string | undefined }> {
    const before = calls.length;
    const socket = connect(port, '127.0.0.1');
    const body = method === 'POST' ? REVIEW : '';
    socket.end(`${method} ${target} HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await once(socket, 'close');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? 0);
    return { status, handler: calls.length > before ? calls.at(-1) : undefined };
  }

  it('routes odd spellings of the webhook paths where the URL parser puts them', async () => {
    const cases: [string, number, string | undefined][] = [
      ['/validate?timeout=10s', 200, 'validate'],
      ['/mutate/?timeout=10s', 200, 'mutate'],
      ['http://gate.example/validate?timeout=5s', 200, 'validate'],
      ['//gate.example/mutate', 200, 'mutate'],
      ['/./validate', 200, 'validate'],
      ['/x/../mutate', 200, 'mutate'],
      ['/%2e/validate', 200, 'validate'],
      ['/validate\\', 200, 'validate'],
      ['/validate?timeout=10s#fragment', 200, 'validate'],
      ['/%76alidate', 404, undefined],
      ['/validate//', 404, undefined],
      ['/VALIDATE', 404, undefined],
      ['//validate', 404, undefined],
      ['*', 404, undefined],
    ];
    for (const [target, status, handler] of cases) assert.deepEqual(await send('POST', target), { status, handler }, target);
  });

  it('answers the read routes and refuses other methods as before', async () => {
    assert.deepEqual(await send('GET', '/healthz?verbose'), { status: 200, handler: undefined });
    assert.deepEqual(await send('GET', 'http://gate.example/readyz'), { status: 200, handler: undefined });
    assert.deepEqual(await send('GET', '/validate?timeout=1s'), { status: 405, handler: undefined });
    assert.deepEqual(await send('POST', '/healthz'), { status: 405, handler: undefined });
    assert.deepEqual(await send('GET', '/nope?x'), { status: 404, handler: undefined });
  });
});
