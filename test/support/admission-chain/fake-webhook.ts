/**
 * A small HTTPS webhook server for the chain's misbehaving cases: its own CA and a serving certificate
 * for a Service DNS name, and a handler the test swaps per case that answers each AdmissionReview
 * with any status, headers and body — or never answers at all.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import forge from 'node-forge';
import { caBundleBase64, issueCa, issueServingCert } from '../../../src/certs/index.js';

/** What the fake answers: a JSON body (or raw text), status (200) and headers — or `'hang'`. */
export type FakeAnswer = { status?: number; headers?: Record<string, string>; body?: unknown; raw?: string } | 'hang';

/** Decides the answer to one request; `review` is the parsed body (undefined when not JSON), `path` has no query. */
export type FakeHandler = (review: any, path: string) => FakeAnswer;

/** One request the fake received. */
export interface FakeRequest {
  method: string;
  /** Path with query (`/mutate?timeout=3s`). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The TLS server name the client asked for. */
  servername: string | undefined;
  alpn: string | false;
  review: any;
}

/** A running fake webhook. */
export interface FakeWebhook {
  port: number;
  /** base64 of its CA certificate, for `clientConfig.caBundle`. */
  caBundle: string;
  requests: FakeRequest[];
  setHandler(handler: FakeHandler): void;
  close(): Promise<void>;
}

/** Echoes the uid and allows: a well-behaved webhook. */
export const allowAll: FakeHandler = (review) => ({ body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review?.request?.uid, allowed: true } } });

/** RSA keys from node:crypto: forge's pure-JavaScript generator takes seconds per key. */
function fastKeyPair(): forge.pki.rsa.KeyPair {
  // 2048 bits: what the apiserver's Go TLS stack accepts without complaint.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { privateKey: forge.pki.privateKeyFromPem(privateKey), publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey };
}

/** A CA of its own (PEM and base64 bundle), e.g. for a caBundle that signed nothing the gate serves. */
export function strangerCa(): { certPem: string; caBundle: string } {
  const ca = issueCa({ generateKeyPair: fastKeyPair, commonName: 'stranger-ca' });
  return { certPem: ca.certPem, caBundle: caBundleBase64(ca.certPem) };
}

/** Starts a fake on 127.0.0.1 serving `dnsName` (e.g. `fake.webhooks.svc`). */
export async function startFakeWebhook(dnsName: string, handler: FakeHandler = allowAll): Promise<FakeWebhook> {
  const ca = issueCa({ generateKeyPair: fastKeyPair, commonName: 'fake-webhook-ca' });
  const serving = issueServingCert({ ca, dnsNames: [dnsName], generateKeyPair: fastKeyPair });
  let current = handler;
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ cert: serving.certPem, key: serving.keyPem, ALPNProtocols: ['h2', 'http/1.1'] }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let review: any;
      try {
        review = JSON.parse(text);
      } catch {
        review = undefined;
      }
      const tls = req.socket as import('node:tls').TLSSocket;
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, servername: (tls as { servername?: string }).servername, alpn: tls.alpnProtocol ?? false, review });
      const answer = current(review, (req.url ?? '').split('?')[0] ?? '');
      if (answer === 'hang') return;
      res.writeHead(answer.status ?? 200, { 'Content-Type': 'application/json', ...answer.headers });
      res.end(answer.raw ?? JSON.stringify(answer.body ?? {}));
    });
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as AddressInfo).port,
    caBundle: caBundleBase64(ca.certPem),
    requests,
    setHandler(h) {
      current = h;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
